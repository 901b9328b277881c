"""A deliberately naive, row-by-row reference of the campaign semantics, for comparison in tests.

It shares no code with the engine: predicates, windows, consent, caps, holdout hashing and quiet hours
are re-implemented here with plain Python loops over dicts, straight from the documented semantics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from omnicore.campaigns import (
    AllOf,
    AnyOf,
    Compare,
    CountWithin,
    Exists,
    FirstTime,
    HasTag,
    IsIn,
    Keywords,
    Not,
    NotFollowedBy,
    Profiles,
    RuleSet,
    predicate_fields,
)
from omnicore.data import Events
from omnicore.storage import ConsentRecords

US = 1_000_000
CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def _missing(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and v != v)


def holds(p: Any, row: dict[str, Any]) -> bool:
    if p is None:
        return True
    if isinstance(p, AllOf):
        return all(holds(a, row) for a in p.args)
    if isinstance(p, AnyOf):
        return any(holds(a, row) for a in p.args)
    if isinstance(p, Not):
        return not holds(p.arg, row)
    v = row.get(p.field)
    if isinstance(p, Exists):
        return not _missing(v)
    if isinstance(p, Compare):
        if _missing(v) or type(v) is not type(p.value):
            return p.op == "ne"
        return {
            "eq": v == p.value,
            "ne": v != p.value,
            "gt": v > p.value,
            "ge": v >= p.value,
            "lt": v < p.value,
            "le": v <= p.value,
        }[p.op]
    if isinstance(p, IsIn):
        return not _missing(v) and v in p.values
    if isinstance(p, HasTag):
        return isinstance(v, str) and p.tag.casefold() in {t.strip().casefold() for t in re.split("[,|;]", v)}
    if isinstance(p, Keywords):
        if not isinstance(v, str) or not v:
            return False
        text = unicodedata.normalize("NFKC", v).casefold()
        for word in p.keywords:
            w = unicodedata.normalize("NFKC", word).casefold()
            if CJK.search(w):
                if w in text:
                    return True
                continue
            for m in re.finditer(re.escape(w), text):
                before = text[m.start() - 1] if m.start() else " "
                after = text[m.end()] if m.end() < len(text) else " "
                latin = lambda c: (c.isascii() and c.isalnum()) or "\u00c0" <= c <= "\u024f"  # noqa: E731
                if not latin(before) and not latin(after):
                    return True
        return False
    raise TypeError(p)


def _hold_draw(salt: str, campaign: str, customer: Any) -> float:
    if isinstance(customer, int):
        seed = int.from_bytes(
            hashlib.blake2b(f"{salt}|{campaign}".encode(), digest_size=8).digest(), "little"
        )
        mask = (1 << 64) - 1
        z = ((customer & mask) ^ seed) + 0x9E3779B97F4A7C15 & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z = z ^ (z >> 31)
        return (z >> 11) / 2**53
    h = hashlib.blake2b(f"{salt}|{campaign}|{customer}".encode(), digest_size=8).digest()
    return (int.from_bytes(h, "little") >> 11) / 2**53


def _send_at(t_us: int, tz: str, start: float, end: float) -> int:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=t_us)
    hour_moment = moment.replace(minute=0, second=0, microsecond=0)
    off = ZoneInfo(tz).utcoffset(hour_moment)
    local = t_us + int(off.total_seconds() * US)
    day = 24 * 3600 * US
    tod = local % day
    s, e = round(start * 3600 * US), round(end * 3600 * US)
    quiet = s <= tod < e if s <= e else (tod >= s or tod < e)
    return t_us + (e - tod) % day if quiet else t_us


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python value (text ids come out of a StringDType column as str already)."""
    return value.item() if hasattr(value, "item") else value


def reference(
    rules: RuleSet, events: Events, profiles: Profiles, ledger: ConsentRecords, now: Any
) -> list[tuple[str, str, int, int]]:
    """(decision_key, status, decided_at_us, send_at_us) in processing order."""
    order = np.argsort(events.timestamp.view(np.int64), kind="stable")
    rows = []
    seen_events: set[tuple[Any, str, int]] = set()
    for i in order.tolist():
        identity = (
            _plain(events.customer_id[i]),
            str(events.event_type[i]),
            int(events.timestamp[i].view(np.int64)),
        )
        if events.event_id is None:
            if identity in seen_events:  # the same event twice
                continue
            seen_events.add(identity)
        props = {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in events.properties.items()}
        props = {k: (str(v) if isinstance(v, str) else v) for k, v in props.items()}
        rows.append(
            {
                "cust": _plain(events.customer_id[i]),
                "type": str(events.event_type[i]),
                "t": int(events.timestamp[i].view(np.int64)),
                "props": props,
            }
        )
    prof = {}
    for j, c in enumerate(profiles.customer_id.tolist()):
        prof[c] = {
            k: (v[j].item() if hasattr(v[j], "item") else str(v[j])) for k, v in profiles.attributes.items()
        }
    wm = max([r["t"] for r in rows] + [int(np.datetime64(now, "us").view(np.int64))])
    pol = rules.policies
    cands = []
    for ri, rule in enumerate(rules.rules):
        for i, r in enumerate(rows):
            if r["type"] != rule.trigger.event_type or not holds(rule.trigger.where, r["props"]):
                continue
            if any(isinstance(x, FirstTime) for x in rule.temporal) and any(
                q["cust"] == r["cust"] and q["type"] == r["type"] and holds(rule.trigger.where, q["props"])
                for q in rows[:i]
            ):
                continue
            if rule.conditions is not None and not holds(rule.conditions, prof.get(r["cust"], {})):
                continue
            ok = True
            for x in rule.temporal:
                if isinstance(x, CountWithin):
                    n = sum(
                        1
                        for q in rows[: i + 1]
                        if q["cust"] == r["cust"]
                        and q["type"] == x.event_type
                        and holds(x.where, q["props"])
                        and q["t"] >= r["t"] - round(x.window_seconds * US)
                    )
                    ok &= n >= x.at_least
            if not ok:
                continue
            key = f"{r['cust']}|{r['type']}|{r['t']}"
            absence = next((x for x in rule.temporal if isinstance(x, NotFollowedBy)), None)
            if absence is None:
                cands.append(((r["t"], 0, i, 0, -rule.priority, ri), ri, r["cust"], r["t"], key))
            else:
                due = r["t"] + round(absence.delay_seconds * US)
                followed = any(
                    q["cust"] == r["cust"]
                    and q["type"] == absence.event_type
                    and holds(absence.where, q["props"])
                    and r["t"] < q["t"] <= due
                    for q in rows
                )
                if not followed and due < wm:
                    cands.append(
                        ((due, 1, r["t"], r["cust"], -rule.priority, ri, i), ri, r["cust"], due, key)
                    )
    cands.sort(key=lambda c: c[0])
    groups = {g.name: g for g in pol.exclusion_groups}
    accepted: dict[tuple[str, Any], list[int]] = {}
    out = []
    for _, ri, cust, t, key in cands:
        rule = rules.rules[ri]
        purposes = [rule.action.consent_purpose] if rule.action.consent_purpose else []
        fields = predicate_fields(rule.trigger.where) | predicate_fields(rule.conditions)
        for x in rule.temporal:
            if not isinstance(x, FirstTime):
                fields |= predicate_fields(x.where)
        for f in sorted(fields):
            if f in pol.sensitive_fields and pol.sensitive_fields[f] not in purposes:
                purposes.append(pol.sensitive_fields[f])
        status = None
        for purpose in purposes:
            latest = None
            for j in range(len(ledger)):
                if (
                    _plain(ledger.subject_id[j]) == cust
                    and str(ledger.purpose[j]) == purpose
                    and int(ledger.recorded_at[j].view(np.int64)) <= t
                ) and (latest is None or int(ledger.recorded_at[j].view(np.int64)) >= latest[0]):
                    latest = (int(ledger.recorded_at[j].view(np.int64)), bool(ledger.granted[j]))
            if latest is None or not latest[1]:
                status = "suppressed_consent"
                break
        caps = []
        if rule.reeligible_after_seconds is not None:
            caps.append(
                (f"rule:{rule.rule_id}", rule.reeligible_after_seconds, 1, "suppressed_reeligibility")
            )
        if rule.exclusion_group:
            g = groups[rule.exclusion_group]
            caps.append((f"excl:{g.name}", g.window_seconds, 1, "suppressed_exclusion"))
        for ci, cap in enumerate(pol.caps):
            if cap.scope == "channel":
                if cap.channel and cap.channel != rule.action.channel:
                    continue
                attr = rule.action.channel
            elif cap.scope == "campaign":
                attr = rule.campaign_id
            else:
                attr = "*"
            caps.append((f"cap{ci}:{attr}", cap.period_seconds, cap.limit, "suppressed_cap"))
        if status is None:
            for ckey, period, limit, st in caps:
                recent = [s for s in accepted.get((ckey, cust), []) if s > t - round(period * US)]
                if len(recent) >= limit:
                    status = st
                    break
        send = t
        if status is None:
            for ckey, _, _, _ in caps:
                accepted.setdefault((ckey, cust), []).append(t)
            if (
                rule.holdout_fraction > 0
                and _hold_draw(pol.holdout_salt, rule.campaign_id, cust) < rule.holdout_fraction
            ):
                status = "held_out"
            else:
                qh = pol.quiet_hours
                if qh is not None and (not qh.channels or rule.action.channel in qh.channels):
                    tz = prof.get(cust, {}).get(pol.timezone_field) or pol.default_timezone
                    send = _send_at(t, tz, qh.start_hour, qh.end_hour)
                status = "deferred" if send > t else "fired"
        if status == "held_out":
            qh = pol.quiet_hours
            if qh is not None and (not qh.channels or rule.action.channel in qh.channels):
                tz = prof.get(cust, {}).get(pol.timezone_field) or pol.default_timezone
                send = _send_at(t, tz, qh.start_hour, qh.end_hour)
        out.append((f"{rule.rule_id}|{cust}|{key}", status, t, send))
    return out
