"""Policies as array functions: consent look-up, holdout hashing, quiet hours and cap arbitration."""

from __future__ import annotations

import datetime as _dt
import hashlib
from bisect import bisect_right
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from omnicore.campaigns._compile import factorize_text
from omnicore.campaigns._windows import codes_for, latest_at_or_before, pack
from omnicore.storage import ConsentRecords

__all__ = ["arbitrate", "consent_granted", "holdout_draw", "quiet_hours_send_at"]

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


@lru_cache(maxsize=4096)
def _offset_us(tz: str, hour_utc: int) -> int:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    moment = _dt.datetime.fromtimestamp(hour_utc * 3600, tz=_dt.UTC)
    offset = zone.utcoffset(moment)
    return int(offset.total_seconds() * 1_000_000) if offset is not None else 0


def utc_offsets(timezones: npt.NDArray[Any], at: I64) -> I64:
    """UTC offset in microseconds of each (IANA time zone, instant); DST-aware to the hour.

    A zone whose offset is the same on every day spanned (Asia/Shanghai, UTC, ...) is looked up once.
    """
    if at.size == 0:
        return np.zeros(0, np.int64)
    tz_uniques, tz_codes = factorize_text(timezones.astype(np.dtypes.StringDType()))
    out = np.empty(at.size, dtype=np.int64)
    hours_all = at // _US_PER_HOUR
    for k, name in enumerate(tz_uniques.tolist()):
        rows = np.flatnonzero(tz_codes == k) if tz_uniques.size > 1 else np.arange(at.size)
        hours = hours_all[rows]
        days = np.unique(hours // 24)
        day_offsets = {_offset_us(str(name), int(d) * 24 + 12) for d in days.tolist()}
        if len(day_offsets) == 1:
            out[rows] = day_offsets.pop()
            continue
        uniq, inverse = np.unique(hours, return_inverse=True)
        offsets = np.fromiter(
            (_offset_us(str(name), int(h)) for h in uniq.tolist()), dtype=np.int64, count=uniq.size
        )
        out[rows] = offsets[inverse.reshape(-1)]
    return out


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
    local = decided_at + utc_offsets(timezones, decided_at)
    tod = np.mod(local, _US_PER_DAY)
    start = round(start_hour * _US_PER_HOUR)
    end = round(end_hour * _US_PER_HOUR)
    quiet = (tod >= start) & (tod < end) if start <= end else (tod >= start) | (tod < end)
    wait = np.mod(end - tod, _US_PER_DAY)
    return np.where(quiet, decided_at + wait, decided_at)


def arbitrate(
    order_time: I64,
    eligible: Mask,
    member_cand: I64,
    member_key: I64,
    member_customer: I64,
    member_period: I64,
    member_limit: I64,
    history_key: I64,
    history_customer: I64,
    history_time: I64,
) -> tuple[Mask, I64]:
    """Greedy cap arbitration in processing order, vectorised except where caps actually bind.

    Candidates are in processing order (``order_time`` non-decreasing). A candidate is accepted when
    it is eligible and, for every cap it is a member of, fewer than ``limit`` accepted candidates (or
    history rows) of the same (cap key, customer) fall in ``(t - period, t]`` before it. A candidate is
    *surely* accepted when even counting every eligible earlier candidate it stays under every limit;
    only the others are decided one by one, in order.

    Returns
    -------
    accepted, blocking
        Per candidate: accepted, and the first membership (index into the member arrays) that blocked
        it (-1 when accepted or not eligible).

    Examples
    --------
    One cap of 1 per 10 time units on three candidates of one customer at t = 0, 5, 12:

    >>> z = np.zeros(3, np.int64); e = np.zeros(0, np.int64)
    >>> acc, _ = arbitrate(np.array([0, 5, 12]), np.ones(3, bool), np.arange(3), z, z,
    ...                    np.full(3, 10), np.ones(3, np.int64), e, e, e)
    >>> acc.tolist()
    [True, False, True]
    """
    n = order_time.size
    accepted = eligible.copy()
    blocking = np.full(n, -1, dtype=np.int64)
    keep = eligible[member_cand]
    m_idx = np.flatnonzero(keep)
    if m_idx.size == 0:
        return accepted, blocking
    m_cand = member_cand[m_idx]
    m_key, m_cust = member_key[m_idx], member_customer[m_idx]
    # group = (cap key, customer); rows = history rows then member rows, ordered by position
    all_key = np.concatenate([history_key, m_key])
    all_cust = np.concatenate([history_customer, m_cust])
    kc, cc = codes_for(all_key)[0], codes_for(all_cust)[0]
    group = kc * (int(cc.max()) + 1 if cc.size else 1) + cc
    g_codes = codes_for(group)[0]
    n_hist = history_key.size
    pos = np.concatenate([np.arange(-n_hist, 0, dtype=np.int64), m_cand.astype(np.int64)])
    time = np.concatenate([history_time, order_time[m_cand]])
    sort = np.lexsort((pos, g_codes))
    s_group, s_time = g_codes[sort], time[sort]
    m_period = member_period[m_idx]
    m_limit = member_limit[m_idx]
    m_group = g_codes[n_hist:]
    lo_time = order_time[m_cand] - m_period
    n_groups = int(s_group.max()) + 1
    tmin = min(int(s_time.min()), int(lo_time.min()))
    span = max(int(s_time.max()), int(lo_time.max())) - tmin + 2
    if n_groups * span >= 2**62:  # long histories: rank-transform the times (order is all that matters)
        times = np.unique(np.concatenate([s_time, lo_time]))
        s_time = np.searchsorted(times, s_time).astype(np.int64)
        lo_time = np.searchsorted(times, lo_time).astype(np.int64)
        tmin, span = 0, times.size + 1
    keys = pack(s_group, s_time, value_min=tmin, value_span=span)
    # inverse permutation: where each member row sits in the sorted arrays
    where = np.empty(sort.size, dtype=np.int64)
    where[sort] = np.arange(sort.size)
    m_where = where[n_hist:]
    lo = np.searchsorted(keys, pack(m_group, lo_time, value_min=tmin, value_span=span), side="right")
    # Bound the number of accepted rows before each member in its window from below (decided
    # accepted rows only) and above (decided accepted and undecided rows), decide every candidate the
    # bounds settle, and repeat; only what stays undecided is resolved one by one below.
    n_m = m_cand.size
    member_pos = np.arange(n_m, dtype=np.int64)
    decided = np.zeros(n, dtype=np.int8)  # 1 accepted, -1 rejected, 0 undecided (eligible only)
    has_members = np.zeros(n, dtype=bool)
    has_members[m_cand] = True
    decided[eligible & ~has_members] = 1
    hist_rows = np.concatenate([np.ones(n_hist, bool), np.zeros(n_m, bool)])[sort]
    sorted_cand = np.concatenate([np.full(n_hist, -1, np.int64), m_cand.astype(np.int64)])[sort]
    in_members = sorted_cand >= 0
    for _ in range(16):
        state_rows = np.zeros(sorted_cand.size, dtype=np.int8)
        state_rows[in_members] = decided[sorted_cand[in_members]]
        acc_rows = hist_rows | (state_rows == 1)
        up_rows = hist_rows | (state_rows >= 0)
        prefix_acc = np.concatenate([[0], np.cumsum(acc_rows)])
        prefix_up = np.concatenate([[0], np.cumsum(up_rows)])
        lower = prefix_acc[m_where] - prefix_acc[lo]
        upper = prefix_up[m_where] - prefix_up[lo]
        not_ok = upper >= m_limit
        first = np.full(n, n_m, dtype=np.int64)
        np.minimum.at(first, m_cand[not_ok], member_pos[not_ok])
        open_ = decided == 0
        accept = open_ & has_members & (first == n_m)
        hit = open_ & has_members & (first < n_m)
        hit_rows = np.flatnonzero(hit)
        reject_rows = hit_rows[lower[first[hit_rows]] >= m_limit[first[hit_rows]]]
        if not accept.any() and reject_rows.size == 0:
            break
        decided[accept] = 1
        decided[reject_rows] = -1
        accepted[reject_rows] = False
        blocking[reject_rows] = m_idx[first[reject_rows]]
    unsure_members = decided[m_cand] == 0
    if not unsure_members.any():
        return accepted, blocking
    state_rows = np.zeros(sorted_cand.size, dtype=np.int8)
    state_rows[in_members] = decided[sorted_cand[in_members]]
    prefix_acc = np.concatenate([[0], np.cumsum(hist_rows | (state_rows == 1))])
    fixed_prior = prefix_acc[m_where] - prefix_acc[lo]  # decided-accepted rows before each member
    # Decide the unsure candidates one by one, in processing order.
    u_rows = np.flatnonzero(unsure_members)
    u_rows = u_rows[np.lexsort((u_rows, m_cand[u_rows]))]
    dyn: dict[int, list[int]] = {}
    cand_list = m_cand[u_rows].tolist()
    group_list = m_group[u_rows].tolist()
    time_list = order_time[m_cand[u_rows]].tolist()
    period_list = m_period[u_rows].tolist()
    limit_list = m_limit[u_rows].tolist()
    fixed_list = fixed_prior[u_rows].tolist()
    member_list = m_idx[u_rows].tolist()
    i, total = 0, len(u_rows)
    while i < total:
        cand = cand_list[i]
        j = i
        while j < total and cand_list[j] == cand:
            j += 1
        block = -1
        for k in range(i, j):
            seen = dyn.get(group_list[k])
            recent = 0
            if seen:
                recent = len(seen) - bisect_right(seen, time_list[k] - period_list[k])
            if fixed_list[k] + recent >= limit_list[k]:
                block = member_list[k]
                break
        if block < 0:
            for k in range(i, j):
                dyn.setdefault(group_list[k], []).append(time_list[k])
        else:
            accepted[cand] = False
            blocking[cand] = block
        i = j
    return accepted, blocking
