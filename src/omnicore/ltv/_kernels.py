"""Compiled one-pass loops of the LTV models: validation fused with the arithmetic it guards.

Each kernel makes a single pass over the customers and reports the first invalid row by returning
``False`` (or a status) instead of raising: the caller then runs the numpy validation of
:mod:`omnicore.ltv._inputs`, which raises the :class:`~omnicore.ValidationError` naming the field,
row and value. Results do not depend on ``NUMBA_DISABLE_JIT``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit

__all__ = [
    "bg_scores",
    "check_rfm",
    "dense_groups",
    "gg_expected_spend",
    "gg_prepare",
    "gg_sums",
    "pareto_log_integral",
]

FloatArray = npt.NDArray[np.float64]


@jit
def gg_expected_spend(x: FloatArray, m: FloatArray, p: float, q: float, v: float) -> tuple[bool, FloatArray]:
    """Gamma-Gamma ``E[M | x, m] = p (v + x m) / (p x + q - 1)`` per row (``m`` ignored where ``x = 0``).

    Returns ``(ok, values)``; ``ok`` is ``False`` when a row is not finite or ``x`` is not a whole
    number >= 0 (the values are then incomplete).
    """
    n = x.size
    out = np.empty(n, dtype=np.float64)
    qm1 = q - 1.0
    for i in range(n):
        xi = x[i]
        mi = m[i]
        if not (math.isfinite(xi) and math.isfinite(mi)) or xi < 0.0 or xi != math.floor(xi):
            return False, out
        spend = xi * mi if xi > 0.0 else 0.0
        out[i] = p * (v + spend) / (p * xi + qm1)
    return True, out


@jit
def gg_prepare(
    x: FloatArray, m: FloatArray, w: FloatArray, weighted: bool, max_count: int
) -> tuple[int, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, float]:
    """Gamma-Gamma fit data in one pass: the repeat buyers' rows and per-count sufficient statistics.

    Only the scale ``v`` enters the likelihood through each customer's total spend ``s = x m``
    (``log(v + s)``); ``p`` and ``q`` enter through the count ``x``, for which the weight and the
    weighted ``sum log m`` of each distinct count suffice. ``w`` is read only when ``weighted``
    (otherwise every row has weight 1).

    Returns ``(status, s, w, w x, weight by count, weighted sum of log m by count, sum of w m)`` over
    the rows with ``x > 0`` and positive weight. ``status`` is 0 when the data are valid, 1 when a
    row is invalid (non-finite, ``x`` not a whole number >= 0, a negative weight, or ``m <= 0`` where
    ``x > 0``) and 2 when a count exceeds ``max_count`` (the caller then groups another way).
    """
    n = x.size
    rows = 0
    top = 0.0
    for i in range(n):
        xi = x[i]
        mi = m[i]
        wi = w[i] if weighted else 1.0
        if not (math.isfinite(xi) and math.isfinite(mi) and math.isfinite(wi)):
            return 1, x[:0], x[:0], x[:0], x[:0], x[:0], 0.0
        if xi < 0.0 or xi != math.floor(xi) or wi < 0.0 or (xi > 0.0 and mi <= 0.0):
            return 1, x[:0], x[:0], x[:0], x[:0], x[:0], 0.0
        if xi > 0.0 and wi > 0.0:
            rows += 1
            top = max(top, xi)
    if top > max_count:
        return 2, x[:0], x[:0], x[:0], x[:0], x[:0], 0.0
    size = int(top) + 1
    s = np.empty(rows, dtype=np.float64)
    ws = np.empty(rows, dtype=np.float64)
    wxs = np.empty(rows, dtype=np.float64)
    by_count = np.zeros(size, dtype=np.float64)
    log_m_by_count = np.zeros(size, dtype=np.float64)
    j = 0
    spend = 0.0
    for i in range(n):
        xi = x[i]
        wi = w[i] if weighted else 1.0
        if xi > 0.0 and wi > 0.0:
            mi = m[i]
            s[j] = xi * mi
            ws[j] = wi
            wxs[j] = wi * xi
            k = int(xi)
            by_count[k] += wi
            log_m_by_count[k] += wi * math.log(mi)
            spend += wi * mi
            j += 1
    return 0, s, ws, wxs, by_count, log_m_by_count, spend


@jit
def gg_sums(s: FloatArray, w: FloatArray, wx: FloatArray, v: float) -> FloatArray:
    """The six sums of the Gamma-Gamma likelihood that depend on each customer, at scale ``v``.

    With ``u = v + s``: ``[sum w log u, sum w x log u, sum w / u, sum w x / u, sum w / u^2,
    sum w x / u^2]``, i.e. ``A0, A1`` and their first and (negated) second derivatives in ``v``.
    """
    a0 = 0.0
    a1 = 0.0
    d0 = 0.0
    d1 = 0.0
    e0 = 0.0
    e1 = 0.0
    for i in range(s.size):
        u = v + s[i]
        inv = 1.0 / u
        lg = math.log(u)
        a = w[i]
        b = wx[i]
        a0 += a * lg
        a1 += b * lg
        d0 += a * inv
        d1 += b * inv
        inv2 = inv * inv
        e0 += a * inv2
        e1 += b * inv2
    out = np.empty(6, dtype=np.float64)
    out[0] = a0
    out[1] = a1
    out[2] = d0
    out[3] = d1
    out[4] = e0
    out[5] = e1
    return out


@jit
def check_rfm(x: FloatArray, t_x: FloatArray, T: FloatArray, integer_T: bool) -> int:
    """One pass over (frequency, recency, T): 0 valid, 1 valid with a recency to clip to T, 2 invalid.

    Valid means what :func:`omnicore.ltv._inputs.rfm_arrays` checks: finite; ``x`` whole and >= 0;
    ``0 <= t_x <= T (1 + 1e-12)``; ``T >= 0`` (whole when ``integer_T``); no repeat purchase at
    ``T = 0``; ``t_x = 0`` where ``x = 0``.
    """
    good = True
    clip = False
    for i in range(x.size):  # no branches, so the loop vectorises
        xi = x[i]
        ti = t_x[i]
        big = T[i]
        # NaN fails every comparison; an infinity fails `v - v == 0` (inf - inf is NaN)
        good &= (xi - math.floor(xi) == 0.0) & (xi >= 0.0) & (ti - ti == 0.0) & (ti >= 0.0)
        good &= (big - big == 0.0) & (big >= 0.0) & (ti <= big * (1.0 + 1e-12))
        good &= ((big != 0.0) | (xi <= 0.0)) & ((xi != 0.0) | (ti == 0.0))
        good &= (big - math.floor(big) == 0.0) | (not integer_T)
        clip |= ti > big
    if not good:
        return 2
    return 1 if clip else 0


@jit
def bg_scores(
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    r: float,
    alpha: float,
    a: float,
    b: float,
    k: int,
    head: FloatArray,
    inverse: npt.NDArray[np.intp],
) -> FloatArray:
    """BG/NBD (``k = 0``) or MBG/NBD (``k = 1``) ``P(alive)`` per row, times ``head[inverse]`` if given.

    ``P(alive) = 1 / (1 + a / (b + x + k - 1) ((alpha + T) / (alpha + t_x))^(r + x))`` (1 when
    ``x + k = 0``). With ``head`` the values per distinct row of the rest of the conditional
    expectation, gathered with ``inverse``, the result is the expected purchases instead.
    """
    n = x.size
    out = np.empty(n, dtype=np.float64)
    scaled = head.size > 0
    for i in range(n):
        xi = x[i]
        if xi + k > 0.0:
            growth = math.log((alpha + T[i]) / (alpha + t_x[i]))
            log_odds = math.log(a / (b + xi + k - 1.0)) + (r + xi) * growth
            if log_odds <= 30.0:
                alive = 1.0 / (1.0 + math.exp(log_odds))
            else:  # the same value, without overflowing exp
                tiny = math.exp(-log_odds)
                alive = tiny / (1.0 + tiny)
        else:
            alive = 1.0
        out[i] = alive * head[inverse[i]] if scaled else alive
    return out


@jit
def dense_groups(
    first: FloatArray, second: FloatArray, third: FloatArray, limit: int
) -> tuple[bool, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Group identical rows of two or three whole-number columns (``third`` empty for two).

    When every value is a whole number >= 0 and the product of the column ranges is at most
    ``limit``, each row's values index a dense table directly. Returns ``(ok, first row of each
    group, group of each row)`` with the groups in lexicographic order of the rows; ``ok`` is
    ``False`` (and the arrays empty) when the columns do not qualify.
    """
    n = first.size
    none = np.zeros(0, dtype=np.intp)
    three = third.size == n and n > 0
    top1 = 0.0
    top2 = 0.0
    top3 = 0.0
    for i in range(n):
        a = first[i]
        b = second[i]
        c = third[i] if three else 0.0
        if not (a >= 0.0 and b >= 0.0 and c >= 0.0):  # also refuses NaN
            return False, none, none
        if a != math.floor(a) or b != math.floor(b) or c != math.floor(c):
            return False, none, none
        top1 = max(top1, a)
        top2 = max(top2, b)
        top3 = max(top3, c)
    span2 = top2 + 1.0
    span3 = top3 + 1.0
    if (top1 + 1.0) * span2 * span3 > limit:
        return False, none, none
    s2 = int(span2)
    s3 = int(span3)
    size = (int(top1) + 1) * s2 * s3
    rank = np.full(size, -1, dtype=np.intp)
    for i in range(n):
        c = int(third[i]) if three else 0
        rank[(int(first[i]) * s2 + int(second[i])) * s3 + c] = 0
    groups = 0
    for key in range(size):
        if rank[key] == 0:
            rank[key] = groups
            groups += 1
        else:
            rank[key] = -1
    inverse = np.empty(n, dtype=np.intp)
    firsts = np.full(groups, -1, dtype=np.intp)
    for i in range(n):
        c = int(third[i]) if three else 0
        g = rank[(int(first[i]) * s2 + int(second[i])) * s3 + c]
        inverse[i] = g
        if firsts[g] < 0:
            firsts[g] = i
    return True, firsts, inverse


@jit
def _log0(value: float) -> float:
    """``log(value)``, ``-inf`` for ``value <= 0`` (numpy's result, without Python's exception)."""
    return math.log(value) if value > 0.0 else -math.inf


@jit
def _curve(y: float, c: float, d: float, a: float) -> tuple[float, float, float, float]:
    """``log_f(y) = c y - d log(e^a + e^y)``, its slope, ``log(e^a + e^y)`` and ``exp(-|y - a|)``.

    ``a = -inf`` (``alpha == beta``) makes ``log_f`` a straight line.
    """
    if not math.isfinite(a):
        return (c - d) * y, c - d, y, 0.0
    e = math.exp(-abs(y - a))
    soft = max(y, a) + math.log1p(e)
    sig = (1.0 if y > a else e) / (1.0 + e)
    return c * y - d * soft, c - d * sig, soft, e


@jit
def pareto_log_integral(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    nodes_a: FloatArray,
    weights_a: FloatArray,
    nodes_b: FloatArray,
    weights_b: FloatArray,
    kappa: float,
    w_max: float,
    newton_steps: int,
    want_grad: bool,
) -> tuple[FloatArray, FloatArray]:
    """Per row ``log I`` of the Pareto/NBD likelihood and (if asked) ``d log I / d(r, alpha, s, beta)``.

    The quadrature of :func:`omnicore.ltv._pareto_nbd._log_integral` (which documents it), one row
    at a time: each panel-B node runs its own Newton iterations until its step is below 1e-13.
    """
    n = x.size
    na = nodes_a.size
    nb = nodes_b.size
    log_i = np.empty(n, dtype=np.float64)
    grad = np.zeros((4, n if want_grad else 0), dtype=np.float64)
    terms = np.empty(na + nb, dtype=np.float64)
    ys = np.empty(na + nb, dtype=np.float64)  # node positions y = log(min(alpha, beta) + tau)
    softs = np.empty(na + nb, dtype=np.float64)  # log(e^a + e^y) at the nodes
    es = np.empty(na + nb, dtype=np.float64)  # exp(-|y - a|) at the nodes
    sigma = s + 1.0
    m = min(alpha, beta)
    log_ca = math.log(alpha - m) if alpha > m else -math.inf
    log_cb = math.log(beta - m) if beta > m else -math.inf
    for i in range(n):
        rho = r + x[i]
        if t_x[i] >= T[i]:  # no interval to integrate over
            log_i[i] = -math.inf
            continue  # the gradient stays 0
        y1 = math.log(m + t_x[i])
        y2 = math.log(m + T[i])
        if alpha <= beta:
            c = 1.0 - rho
            d = sigma
            a = log_cb
        else:
            c = 1.0 - sigma
            d = rho
            a = log_ca
        # y_k: where the slope of log_f is -kappa
        if not math.isfinite(a):
            y_k = -math.inf if c - d <= -kappa else math.inf
        else:
            target = (c + kappa) / d
            if target <= 0.0:
                y_k = -math.inf
            elif target >= 1.0:
                y_k = math.inf
            else:
                y_k = a + math.log(target / (1.0 - target))
        split = min(max(y_k, y1), y2)
        # panel A: Gauss-Legendre in y on [y1, split]
        half = (split - y1) / 2.0
        log_half = _log0(half)
        for j in range(na):
            y = y1 + half * (nodes_a[j] + 1.0)
            value, _, soft, e = _curve(y, c, d, a)
            ys[j] = y
            softs[j] = soft
            es[j] = e
            terms[j] = _log0(weights_a[j]) + log_half + value
        # panel B: w = log_f(split) - log_f(y) = omega^2 on [0, min(W, w_max)]
        l0, slope_split, _, _ = _curve(split, c, d, a)
        big_w = min(l0 - _curve(y2, c, d, a)[0], w_max)
        omega_max = math.sqrt(max(big_w, 0.0))
        slope0 = -slope_split
        # the nodes' roots increase with w: each Newton solve starts on the tangent at the previous
        # root, which (g convex) lies right of the new root, so Newton decreases monotonically to it
        w_prev = 0.0
        y_prev = split
        s_prev = slope0
        for j in range(nb):
            omega = omega_max * (nodes_b[j] + 1.0) / 2.0
            w = omega * omega
            yb = y_prev + (w - w_prev) / max(s_prev, kappa)
            slope = -slope0
            y_eval = yb
            soft = yb
            e = 0.0
            for _ in range(newton_steps):
                y_eval = yb
                value, slope, soft, e = _curve(yb, c, d, a)
                step = (l0 - value - w) / max(-slope, kappa)
                yb -= step
                # converged, or (a step that is not a decrease) at the rounding noise of log_f
                if not abs(step) > 1e-13 * (1.0 + abs(yb)) or step <= 0.0:
                    break
            w_prev = w
            y_prev = yb
            s_prev = -slope
            # the last step was below the tolerance: the node is at the last evaluated point
            ys[na + j] = min(y_eval, y2)
            softs[na + j] = soft
            es[na + j] = e
            terms[na + j] = (
                _log0(weights_b[j] / 2.0 * omega_max * 2.0 * omega) - w + l0 - math.log(max(-slope, kappa))
            )
        top = -math.inf
        for j in range(na + nb):
            if terms[j] != terms[j]:
                terms[j] = -math.inf
            top = max(top, terms[j])
        if top == -math.inf:
            log_i[i] = -math.inf
            continue
        total = 0.0
        for j in range(na + nb):
            scaled = math.exp(terms[j] - top)
            terms[j] = scaled  # reused as the node's share of the integral below
            total += scaled
        log_i[i] = top + math.log(total)
        if want_grad:
            g0 = 0.0
            g1 = 0.0
            g2 = 0.0
            g3 = 0.0
            exp_neg_a = math.exp(-a) if math.isfinite(a) else 0.0
            for j in range(na + nb):
                pi = terms[j] / total
                y = ys[j]
                inv_y = math.exp(-y)  # 1 / (m + tau)
                if math.isfinite(a):
                    e = es[j]
                    inv_soft = (inv_y if y > a else exp_neg_a) / (1.0 + e)
                else:
                    inv_soft = inv_y
                if alpha <= beta:
                    la, inv_a, lb, inv_b = y, inv_y, softs[j], inv_soft
                else:
                    la, inv_a, lb, inv_b = softs[j], inv_soft, y, inv_y
                g0 -= pi * la
                g1 -= pi * rho * inv_a
                g2 -= pi * lb
                g3 -= pi * sigma * inv_b
            grad[0, i] = g0
            grad[1, i] = g1
            grad[2, i] = g2
            grad[3, i] = g3
    return log_i, grad


@jit
def pareto_panels(
    x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[bool, FloatArray, FloatArray, FloatArray, npt.NDArray[np.intp], npt.NDArray[np.intp], int]:
    """Split the rows' integration intervals ``[t_x, T]`` into panels shared by rows of equal ``x``.

    The Pareto/NBD integrand depends on a row only through ``x``, so the integral over ``[t_x, T]``
    is the sum of the integrals over the panels between consecutive endpoints (``t_x`` or ``T``) of
    the rows with the same ``x``; panels that no row covers are dropped. Customers summarised in
    whole periods share few endpoints, so there are far fewer panels than distinct rows.

    The rows must be sorted by ``(x, t_x, T)`` (as :func:`~omnicore.ltv._inputs.distinct_rows` and
    :func:`~omnicore.ltv._inputs.compress` return them). Returns ``(ok, panel x, panel start, panel
    end, first panel of each row, end panel of each row, work)``: row ``i`` covers panels
    ``first[i] <= k < end[i]``; ``work`` counts the panel terms :func:`pareto_panel_sums` adds (rows
    with the same ``(x, t_x)`` continue the previous row's sum). ``ok`` is ``False`` (and the arrays
    empty) when the rows are not sorted.
    """
    n = x.size
    none_f = np.zeros(0, dtype=np.float64)
    none_i = np.zeros(0, dtype=np.intp)
    for i in range(1, n):
        if x[i] < x[i - 1] or (
            x[i] == x[i - 1] and (t_x[i] < t_x[i - 1] or (t_x[i] == t_x[i - 1] and T[i] < T[i - 1]))
        ):
            return False, none_f, none_f, none_f, none_i, none_i, 0
    first = np.empty(n, dtype=np.intp)
    end = np.empty(n, dtype=np.intp)
    # endpoints of each group of equal x, sorted and unique, one after another in `points`
    points = np.empty(2 * n, dtype=np.float64)
    group_of_point = np.empty(2 * n, dtype=np.intp)
    n_points = 0
    g0 = 0
    while g0 < n:
        g1 = g0
        while g1 < n and x[g1] == x[g0]:
            g1 += 1
        ends = np.empty(2 * (g1 - g0), dtype=np.float64)
        for i in range(g0, g1):
            ends[2 * (i - g0)] = t_x[i]
            ends[2 * (i - g0) + 1] = T[i]
        ends = np.sort(ends)
        base = n_points
        for j in range(ends.size):
            if j == 0 or ends[j] != ends[j - 1]:
                points[n_points] = ends[j]
                group_of_point[n_points] = g0
                n_points += 1
        span = points[base:n_points]
        for i in range(g0, g1):
            first[i] = base + np.searchsorted(span, t_x[i])
            end[i] = base + np.searchsorted(span, T[i])
        g0 = g1
    # panel k lies between points k and k + 1 (of one group); keep the ones some row covers
    cover = np.zeros(n_points + 1, dtype=np.intp)
    for i in range(n):
        cover[first[i]] += 1
        cover[end[i]] -= 1
    index = np.empty(n_points + 1, dtype=np.intp)
    kept = 0
    depth = 0
    for k in range(n_points):
        index[k] = kept
        depth += cover[k]
        if depth > 0:
            kept += 1
    index[n_points] = kept
    panel_x = np.empty(kept, dtype=np.float64)
    panel_lo = np.empty(kept, dtype=np.float64)
    panel_hi = np.empty(kept, dtype=np.float64)
    depth = 0
    for k in range(n_points):
        depth += cover[k]
        if depth > 0:
            j = index[k]
            panel_x[j] = x[group_of_point[k]]
            panel_lo[j] = points[k]
            panel_hi[j] = points[k + 1]
    work = 0
    reach = -1
    for i in range(n):
        first[i] = index[first[i]]
        end[i] = index[end[i]]
        if i > 0 and x[i] == x[i - 1] and t_x[i] == t_x[i - 1]:
            work += end[i] - reach
        else:
            work += end[i] - first[i]
        reach = end[i]
    return True, panel_x, panel_lo, panel_hi, first, end, work


@jit
def pareto_panel_sums(
    log_j: FloatArray,
    grad_j: FloatArray,
    first: npt.NDArray[np.intp],
    end: npt.NDArray[np.intp],
    x: FloatArray,
    t_x: FloatArray,
    want_grad: bool,
) -> tuple[FloatArray, FloatArray]:
    """Per row ``log I = log sum_k J_k`` over its panels ``first <= k < end`` and ``d log I / d theta``.

    ``log_j`` and ``grad_j`` are the panels' log-integrals and their gradients (``(4, panels)``) from
    :func:`pareto_log_integral`; ``d log I = sum_k (J_k / I) d log J_k``. The sum runs in log space
    (rescaled whenever a larger term arrives), left to right from the row's first panel; a row with
    the same ``(x, t_x)`` as the previous one (sorted rows) continues the previous row's sum, which
    gives the same value as starting over. A row without panels (``t_x = T``) gets ``-inf`` and a
    zero gradient, as in :func:`pareto_log_integral`.
    """
    n = first.size
    log_i = np.empty(n, dtype=np.float64)
    grad = np.zeros((4, n if want_grad else 0), dtype=np.float64)
    top = -math.inf
    total = 0.0
    g0 = 0.0
    g1 = 0.0
    g2 = 0.0
    g3 = 0.0
    pos = 0
    for i in range(n):
        same = i > 0 and x[i] == x[i - 1] and t_x[i] == t_x[i - 1] and end[i] >= pos
        if not same:
            top = -math.inf
            total = 0.0
            g0 = 0.0
            g1 = 0.0
            g2 = 0.0
            g3 = 0.0
            pos = first[i]
        while pos < end[i]:
            term = log_j[pos]
            if term > top:  # also skips -inf and NaN terms (empty shares, as in the row kernel)
                scale = math.exp(top - term)
                total = total * scale + 1.0
                if want_grad:
                    g0 = g0 * scale + grad_j[0, pos]
                    g1 = g1 * scale + grad_j[1, pos]
                    g2 = g2 * scale + grad_j[2, pos]
                    g3 = g3 * scale + grad_j[3, pos]
                top = term
            elif term > -math.inf:
                share = math.exp(term - top)
                total += share
                if want_grad:
                    g0 += share * grad_j[0, pos]
                    g1 += share * grad_j[1, pos]
                    g2 += share * grad_j[2, pos]
                    g3 += share * grad_j[3, pos]
            pos += 1
        if total > 0.0:
            log_i[i] = top + math.log(total)
            if want_grad:
                grad[0, i] = g0 / total
                grad[1, i] = g1 / total
                grad[2, i] = g2 / total
                grad[3, i] = g3 / total
        else:
            log_i[i] = -math.inf
    return log_i, grad
