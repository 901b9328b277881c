"""Policies as array functions: consent look-up, holdout hashing, quiet hours and cap arbitration."""

from __future__ import annotations

import datetime as _dt
import hashlib
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.campaigns._compile import factorize_text
from omnicore.campaigns._kernels import (
    group_rows,
    hour_span_by_code,
    match_sorted,
    quiet_send_at,
)
from omnicore.campaigns._windows import codes_for, latest_at_or_before
from omnicore.storage import ConsentRecords

__all__ = [
    "consent_by_code",
    "consent_granted",
    "holdout_draw",
    "holdout_draw_seeded",
    "holdout_seed",
    "quiet_hours_send_at",
    "send_after_quiet_hours",
]

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 24 * _US_PER_HOUR


def consent_granted(ledger: ConsentRecords, purpose: str, customer_id: npt.NDArray[Any], at: I64) -> Mask:
    """Whether each customer's latest ledger record for ``purpose`` at or before ``at`` is a grant.

    No record means no consent; a withdrawal takes effect from its own timestamp on.

    Parameters
    ----------
    ledger
        Grants and withdrawals (in the order they were recorded; among records with equal
        timestamps the later one wins).
    purpose
        The consent purpose.
    customer_id
        Customer of each query.
    at
        Query time, microseconds since the epoch (int64).

    Examples
    --------
    >>> ledger = ConsentRecords(subject_id=[1, 1], purpose=["sms", "sms"], granted=[True, False],
    ...                         recorded_at=["2024-01-01", "2024-02-01"], source=["pos", "link"])
    >>> t = np.array(["2024-01-15", "2024-03-01"], dtype="datetime64[us]").view(np.int64)
    >>> consent_granted(ledger, "sms", np.array([1, 1]), t).tolist()
    [True, False]
    """
    rows = np.flatnonzero(ledger.purpose == purpose)
    if rows.size == 0 or customer_id.size == 0:
        return np.zeros(customer_id.size, dtype=bool)
    ref_codes, q_codes = codes_for(ledger.subject_id[rows], customer_id)
    ref_time = ledger.recorded_at[rows].view(np.int64)
    hit = latest_at_or_before(ref_codes, ref_time, q_codes, at)
    granted = np.zeros(customer_id.size, dtype=bool)
    found = hit >= 0
    granted[found] = ledger.granted[rows][hit[found]]
    return granted


@attrs.frozen(kw_only=True)
class _LedgerIndex:
    """A ledger's records of some purposes sorted by (subject, time, ledger order)."""

    subject: npt.NDArray[Any]
    time: I64
    purpose: I64
    granted: Mask


_LEDGER_INDEX: list[tuple[ConsentRecords, tuple[str, ...], _LedgerIndex]] = []


def _ledger_index(ledger: ConsentRecords, purposes: tuple[str, ...]) -> _LedgerIndex:
    """:class:`_LedgerIndex` of a ledger; cached for the last few ledgers (a ledger is immutable)."""
    for table, names, cached in _LEDGER_INDEX:
        if table is ledger and names == purposes:
            return cached
    purpose = np.full(len(ledger), -1, dtype=np.int64)
    for q, name in enumerate(purposes):
        purpose[ledger.purpose == name] = q
    rows = np.flatnonzero(purpose >= 0)
    times = ledger.recorded_at.view(np.int64)[rows]
    if times.size > 1 and not bool(np.all(times[1:] >= times[:-1])):
        rows = rows[np.argsort(times, kind="stable")]
    subjects = ledger.subject_id[rows]
    if subjects.size > 1:
        rows = rows[np.argsort(subjects, kind="stable")]
    index = _LedgerIndex(
        subject=ledger.subject_id[rows],
        time=ledger.recorded_at.view(np.int64)[rows],
        purpose=purpose[rows],
        granted=ledger.granted[rows],
    )
    _LEDGER_INDEX.insert(0, (ledger, purposes, index))
    del _LEDGER_INDEX[4:]
    return index


def consent_by_code(
    ledger: ConsentRecords | None, purposes: tuple[str, ...], id_of_code: npt.NDArray[Any]
) -> tuple[I64, I64, I64, I64, Mask]:
    """The ledger's records of ``purposes`` by customer code, for a pass per customer.

    Customer ``u`` (id ``id_of_code[u]``; ids compared as in :func:`consent_granted`) owns records
    ``start[u] : end[u]``, in time order with ties in ledger order; returns ``start``, ``end`` and per
    record its time (microseconds), purpose position and ``granted``. None (no ledger) has no records.
    """
    n_codes = int(id_of_code.size)
    if ledger is None or len(ledger) == 0 or not purposes or n_codes == 0:
        none = np.zeros(n_codes, dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)
        return none, none, empty, empty, np.zeros(0, dtype=bool)
    index = _ledger_index(ledger, purposes)
    subjects, ids = index.subject, id_of_code
    if (
        ids.dtype.kind == "i"
        and subjects.dtype.kind == "i"
        and (ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])))
    ):
        # distinct sorted integer ids against sorted subjects: one merge
        start, end = match_sorted(ids.astype(np.int64, copy=False), subjects.astype(np.int64, copy=False))
        return start, end, index.time, index.purpose, index.granted
    # general ids: a joint coding of subjects and customers (equal values, equal codes), and every
    # customer holding the subject's value gets the record
    s_joint, c_joint = codes_for(subjects, ids)
    n_joint = max(int(s_joint.max(initial=-1)), int(c_joint.max(initial=-1))) + 1
    by_joint, joint_bounds = group_rows(c_joint, n_joint)
    per_record = joint_bounds[s_joint + 1] - joint_bounds[s_joint]
    take = np.repeat(np.arange(s_joint.size), per_record)
    offset = np.arange(take.size) - np.repeat(np.cumsum(per_record) - per_record, per_record)
    code = by_joint[joint_bounds[s_joint[take]] + offset].astype(np.int64)
    order, bounds = group_rows(code, n_codes)  # stable: time (then ledger) order within a customer
    take = take[order]
    return bounds[:-1], bounds[1:], index.time[take], index.purpose[take], index.granted[take]


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _salt64(salt: str, campaign_id: str) -> int:
    digest = hashlib.blake2b(f"{salt}|{campaign_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def holdout_draw(customer_id: npt.NDArray[Any], *, salt: str, campaign_id: str) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per customer, fixed by (salt, campaign, customer id).

    Integer ids are mixed with SplitMix64 (Steele, Lea & Flood 2014) seeded by a BLAKE2b hash of
    ``salt|campaign_id``; text ids are hashed with BLAKE2b (``salt|campaign_id|id``). A customer is
    held out of a campaign when the draw is below the campaign's holdout fraction, so the control group
    is stable across runs, machines and replays, and independent between campaigns.

    Examples
    --------
    >>> u = holdout_draw(np.arange(100_000), salt="s", campaign_id="c")
    >>> bool(abs((u < 0.1).mean() - 0.1) < 0.005)
    True
    >>> bool((holdout_draw(np.arange(5), salt="s", campaign_id="c") == u[:5]).all())
    True

    References
    ----------
    G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014,
    doi:10.1145/2660193.2660195.
    """
    if customer_id.dtype.kind in "iu":
        seed = np.uint64(_salt64(salt, campaign_id))
        mixed = _splitmix64(customer_id.astype(np.int64).view(np.uint64) ^ seed)
        return (mixed >> np.uint64(11)).astype(np.float64) / float(2**53)
    uniques, codes = np.unique(customer_id, return_inverse=True)
    draws = np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(f"{salt}|{campaign_id}|{v}".encode(), digest_size=8).digest(), "little"
            )
            >> 11
            for v in uniques.tolist()
        ),
        dtype=np.float64,
        count=uniques.size,
    )
    return draws[codes.reshape(-1)] / float(2**53)


def holdout_seed(salt: str, campaign_id: str) -> int:
    """The SplitMix64 seed of :func:`holdout_draw` for integer ids (a BLAKE2b hash of
    ``salt|campaign_id``)."""
    return _salt64(salt, campaign_id)


def holdout_draw_seeded(customer_id: I64, seed: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """:func:`holdout_draw` of integer ids, each with its own seed (:func:`holdout_seed` of its
    campaign), so that candidates of many campaigns are drawn at once."""
    mixed = _splitmix64(customer_id.astype(np.int64).view(np.uint64) ^ seed)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(2**53)


@lru_cache(maxsize=4096)
def _offset_us(tz: str, hour_utc: int) -> int:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    moment = _dt.datetime.fromtimestamp(hour_utc * 3600, tz=_dt.UTC)
    offset = zone.utcoffset(moment)
    return int(offset.total_seconds() * 1_000_000) if offset is not None else 0


def _zone_offsets(tz_uniques: npt.NDArray[Any], codes: I64, at: I64) -> tuple[I64, I64 | None]:
    """Per zone code, its UTC offset when that is the same on every day its rows span; and when some
    zone's offset changes (DST) within its span, the offset of every row (else None).

    A zone's rows are summarised by one compiled pass (count, first and last hour), so a zone with
    a fixed offset costs no per-row work beyond it.
    """
    count, first_hour, last_hour = hour_span_by_code(at, codes, int(tz_uniques.size))
    fixed = np.zeros(tz_uniques.size, dtype=np.int64)
    names = tz_uniques.tolist()
    varying = []
    for k in np.flatnonzero(count).tolist():
        # every day of the span (a superset of the days present: no sort needed), unless it is long
        first_day, last_day = int(first_hour[k]) // 24, int(last_hour[k]) // 24
        if last_day - first_day < max(int(count[k]), 366):
            day_offsets = {_offset_us(str(names[k]), d * 24 + 12) for d in range(first_day, last_day + 1)}
            if len(day_offsets) == 1:
                fixed[k] = day_offsets.pop()
                continue
        varying.append(k)
    if not varying:
        return fixed, None
    per_row = fixed[np.maximum(codes, 0)]
    for k in varying:
        rows = np.flatnonzero(codes == k)
        per_row[rows] = _hour_offsets(str(names[k]), at[rows] // _US_PER_HOUR)
    return fixed, per_row


def _hour_offsets(name: str, hours: I64) -> I64:
    """UTC offset of one zone at each hour (since the epoch): one value when the noon offsets of the
    days present agree, else looked up per distinct hour."""
    first_day, last_day = int(hours.min()) // 24, int(hours.max()) // 24
    if last_day - first_day < max(hours.size, 366):
        days: list[int] = list(range(first_day, last_day + 1))
    else:
        days = np.unique(hours // 24).tolist()
    day_offsets = {_offset_us(name, d * 24 + 12) for d in days}
    if len(day_offsets) == 1:
        return np.full(hours.size, day_offsets.pop(), dtype=np.int64)
    uniq, inverse = np.unique(hours, return_inverse=True)
    offsets = np.fromiter((_offset_us(name, int(h)) for h in uniq.tolist()), dtype=np.int64, count=uniq.size)
    result: I64 = offsets[inverse.reshape(-1)]
    return result


def quiet_hours_send_at(
    decided_at: I64, timezones: npt.NDArray[Any], *, start_hour: float, end_hour: float
) -> I64:
    """Send time after quiet hours: unchanged outside them, else the end of the quiet period.

    Quiet hours are local to each customer's time zone and may wrap midnight (22 -> 8).

    Examples
    --------
    >>> t = np.array(["2024-06-01T15:30", "2024-06-01T03:00"], dtype="datetime64[us]")
    >>> out = quiet_hours_send_at(t.view(np.int64), np.array(["Asia/Shanghai"] * 2),
    ...                           start_hour=22, end_hour=8)
    >>> out.view("datetime64[us]").astype("datetime64[m]").tolist()
    [datetime.datetime(2024, 6, 2, 0, 0), datetime.datetime(2024, 6, 1, 3, 0)]
    """
    if decided_at.size == 0:
        return decided_at.copy()
    tz_uniques, tz_codes = factorize_text(timezones.astype(np.dtypes.StringDType()))
    return send_after_quiet_hours(decided_at, tz_uniques, tz_codes, start_hour=start_hour, end_hour=end_hour)


def send_after_quiet_hours(
    decided_at: I64,
    tz_uniques: npt.NDArray[Any],
    tz_codes: npt.NDArray[np.integer[Any]],
    *,
    start_hour: float,
    end_hour: float,
) -> I64:
    """:func:`quiet_hours_send_at` with time zones given as codes into distinct zone names (a negative
    code: no quiet hours apply, the send time is the decision time).

    The local time of day is ``(t + offset) mod 24 h``; inside ``[start, end)`` (wrapping midnight
    when ``start > end``) the send waits ``(end - time of day) mod 24 h``. One compiled pass.
    """
    codes = tz_codes.astype(np.int64, copy=False)
    fixed, per_row = _zone_offsets(tz_uniques, codes, decided_at)
    return quiet_send_at(
        decided_at,
        codes,
        fixed,
        np.zeros(0, dtype=np.int64) if per_row is None else per_row,
        round(start_hour * _US_PER_HOUR),
        round(end_hour * _US_PER_HOUR),
    )
