"""The Fellegi-Sunter model: m/u probabilities per comparison level, EM without labels, match weights."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ConvergenceError, ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.data._columns import freeze
from omnicore.identity._compare import (
    BlockingRule,
    Comparison,
    _block_keys,
    block,
    compare,
    encode,
    text_columns,
)
from omnicore.identity._text import unique_text_full
from omnicore.storage import IdentityLinks

__all__ = [
    "FellegiSunterModel",
    "Matcher",
    "Matches",
    "fit_matcher",
    "match_records",
    "predict_matches",
    "train_from_labels",
]

logger = logging.getLogger(__name__)

_EPS = 1e-9


def _tuple_of_arrays(value: Any) -> tuple[npt.NDArray[np.float64], ...]:
    out = []
    for v in value:
        a = np.asarray(v, dtype=np.float64).copy()
        a.flags.writeable = False
        out.append(a)
    return tuple(out)


def _arrays_equal(a: tuple[npt.NDArray[Any], ...], b: tuple[npt.NDArray[Any], ...]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _array_field() -> Any:
    """A read-only numpy column compared by value."""
    return attrs.field(converter=freeze, eq=attrs.cmp_using(eq=np.array_equal))


@attrs.frozen(kw_only=True)
class Matcher:
    """What to compare and how to find candidate pairs.

    Parameters
    ----------
    blocking
        Blocking rules; candidate pairs are the union of their pairs.
    comparisons
        One :class:`Comparison` per field.

    Examples
    --------
    >>> m = Matcher(blocking=[BlockingRule("surname")],
    ...             comparisons=[Comparison(field="given_name", kind="jaro_winkler", thresholds=(0.9,))])
    >>> len(m.comparisons)
    1
    """

    blocking: tuple[BlockingRule, ...] = attrs.field(converter=tuple, validator=attrs.validators.min_len(1))
    comparisons: tuple[Comparison, ...] = attrs.field(converter=tuple, validator=attrs.validators.min_len(1))


@attrs.frozen(kw_only=True)
class FellegiSunterModel:
    """A fitted Fellegi-Sunter model.

    Attributes
    ----------
    matcher
        The blocking rules and comparisons it was fitted with.
    lambda_
        Prior probability that a candidate pair is a match.
    candidate_rate
        Share of random (almost all non-matching) pairs that the blocking rules keep. Among candidate
        pairs the non-match distribution is ``u / candidate_rate``, so ``log2(candidate_rate)`` is
        part of the prior weight (1 when trained from labelled candidate pairs).
    m, u
        Per comparison, the probability of each level (index 0, "null", unused) among matches and
        among non-matches.
    term_frequencies
        Per comparison with ``term_frequency=True``: (values, relative frequency) of the training
        data, used to adjust the exact level.
    converged
        Whether EM met its tolerance (True when trained from labels).
    iterations
        EM iterations run.
    log_likelihood
        Final log-likelihood of the comparison vectors (NaN when trained from labels).

    References
    ----------
    .. [1] Fellegi and Sunter, "A Theory for Record Linkage", JASA 64(328), 1969.
       https://doi.org/10.1080/01621459.1969.10501049
    .. [2] Winkler, "Using the EM Algorithm for Weight Computation in the Fellegi-Sunter Model of
       Record Linkage", Proc. Survey Research Methods, ASA, 1988.
    """

    matcher: Matcher
    lambda_: float
    candidate_rate: float = 1.0
    m: tuple[npt.NDArray[np.float64], ...] = attrs.field(
        converter=_tuple_of_arrays, eq=attrs.cmp_using(eq=_arrays_equal)
    )
    u: tuple[npt.NDArray[np.float64], ...] = attrs.field(
        converter=_tuple_of_arrays, eq=attrs.cmp_using(eq=_arrays_equal)
    )
    term_frequencies: tuple[tuple[npt.NDArray[Any], npt.NDArray[np.float64]] | None, ...] = attrs.field(
        default=(), eq=False
    )
    converged: bool = True
    iterations: int = 0
    log_likelihood: float = float("nan")

    def level_weights(self) -> tuple[npt.NDArray[np.float64], ...]:
        """Per comparison, ``log2(m / u)`` of each level (0 for the null level)."""
        out = []
        for m, u in zip(self.m, self.u, strict=True):
            w = np.log2(np.maximum(m, _EPS) / np.maximum(u, _EPS))
            w[0] = 0.0
            out.append(w)
        return tuple(out)

    @property
    def prior_weight(self) -> float:
        """``log2(lambda / (1 - lambda)) + log2(candidate_rate)``: the log2 prior odds of a candidate pair
        before its comparison vector, with the non-match class renormalised to the candidates."""
        lam = min(max(self.lambda_, _EPS), 1 - _EPS)
        return math.log2(lam / (1 - lam)) + math.log2(max(self.candidate_rate, _EPS))

    def summary(self) -> list[dict[str, Any]]:
        """One row per comparison level: m, u and the match weight."""
        rows = []
        weights = self.level_weights()
        for comp, m, u, w in zip(self.matcher.comparisons, self.m, self.u, weights, strict=True):
            for level, name in enumerate(comp.level_names()):
                if level == 0:
                    continue
                rows.append(
                    {
                        "field": comp.field,
                        "level": name,
                        "m": float(m[level]),
                        "u": float(u[level]),
                        "weight": float(w[level]),
                    }
                )
        return rows


def _pattern_table(
    gamma: npt.NDArray[np.int8],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct comparison vectors, the pattern of each pair and pattern counts.

    Each vector is packed into one integer (mixed radix over the levels), so this is one integer sort
    instead of a row-wise sort of the matrix.
    """
    n_levels = gamma.max(axis=0).astype(np.int64) + 1 if gamma.size else np.ones(gamma.shape[1], np.int64)
    if float(np.prod(n_levels.astype(np.float64))) >= 2.0**62:
        patterns, inverse, counts = np.unique(gamma, axis=0, return_inverse=True, return_counts=True)
        return patterns, inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)
    code = np.zeros(gamma.shape[0], dtype=np.int64)
    for k in range(gamma.shape[1]):
        code = code * n_levels[k] + gamma[:, k]
    uniq, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
    patterns = np.empty((uniq.size, gamma.shape[1]), dtype=np.int8)
    rest = uniq.copy()
    for k in range(gamma.shape[1] - 1, -1, -1):
        patterns[:, k] = rest % n_levels[k]
        rest //= n_levels[k]
    return patterns, inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)


def _log_probs(
    patterns: npt.NDArray[np.int8], probs: Sequence[npt.NDArray[np.float64]]
) -> npt.NDArray[np.float64]:
    out = np.zeros(patterns.shape[0])
    for k, p in enumerate(probs):
        lp = np.log(np.maximum(p, _EPS))
        lp = lp.copy()
        lp[0] = 0.0
        out += lp[patterns[:, k]]
    return out


def _level_frequencies(
    gamma: npt.NDArray[np.int8],
    comparisons: Sequence[Comparison],
    weights: npt.NDArray[np.float64],
    pseudo: float,
) -> list[npt.NDArray[np.float64]]:
    out = []
    for k, comp in enumerate(comparisons):
        counts = np.bincount(gamma[:, k], weights=weights, minlength=comp.n_levels)[: comp.n_levels].astype(
            np.float64
        )
        counts[0] = 0.0
        counts[1:] += pseudo
        total = counts[1:].sum()
        out.append(
            counts / total if total > 0 else np.r_[0.0, np.full(comp.n_levels - 1, 1 / (comp.n_levels - 1))]
        )
    return out


def _exact_u(
    u: npt.NDArray[np.float64], left: npt.NDArray[np.int64], right: npt.NDArray[np.int64], dedupe: bool
) -> npt.NDArray[np.float64]:
    """Replace the sampled u of the exact level by its closed form, sum over values of p_left * p_right.

    Two random non-missing values agree exactly with probability ``sum_v p_l(v) p_r(v)`` (for
    deduplication, without a record paired with itself); the other levels keep their sampled shares of
    the rest. Exact agreement on rare values is where sampling is noisiest.
    """
    lv, rv = left[left >= 0], right[right >= 0]
    if lv.size == 0 or rv.size == 0:
        return u
    size = int(max(lv.max(), rv.max())) + 1
    cl = np.bincount(lv, minlength=size).astype(np.float64)
    cr = np.bincount(rv, minlength=size).astype(np.float64)
    if dedupe:
        if lv.size < 2:
            return u
        exact = float((cl * (cl - 1)).sum() / (lv.size * (lv.size - 1)))
    else:
        exact = float((cl * cr).sum() / (lv.size * rv.size))
    exact = min(max(exact, 1e-12), 1 - 1e-9)
    out = u.copy()
    rest = out[2:].sum()
    out[1] = exact
    if rest > 0:
        out[2:] *= (1 - exact) / rest
    return out


def _candidate_rate(
    left: Any,
    right: Any | None,
    rules: Sequence[BlockingRule],
    ri: npt.NDArray[np.int64],
    rj: npt.NDArray[np.int64],
) -> float:
    """Share of the random pairs that some blocking rule keeps (add-one smoothed)."""
    fields = sorted({f for rule in rules for f in rule.fields})
    lcols = text_columns(left, fields)
    rcols = text_columns(right, fields) if right is not None else lcols
    kept = np.zeros(ri.size, dtype=bool)
    for rule in rules:
        lk, rk = _block_keys(lcols, rule)[ri], _block_keys(rcols, rule)[rj]
        kept |= (lk == rk) & (np.strings.str_len(lk) > 0)
    return float((kept.sum() + 1) / (ri.size + 2))


def _random_pairs(
    n_left: int, n_right: int | None, n_pairs: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    if n_right is None:
        i = rng.integers(0, n_left, n_pairs)
        j = rng.integers(0, n_left - 1, n_pairs)
        j = np.where(j >= i, j + 1, j)  # never a record with itself
        return i.astype(np.int64), j.astype(np.int64)
    return rng.integers(0, n_left, n_pairs).astype(np.int64), rng.integers(0, n_right, n_pairs).astype(
        np.int64
    )


def _term_frequencies(
    left: Any, right: Any | None, comparisons: Sequence[Comparison]
) -> tuple[tuple[npt.NDArray[Any], npt.NDArray[np.float64]] | None, ...]:
    out: list[tuple[npt.NDArray[Any], npt.NDArray[np.float64]] | None] = []
    for comp in comparisons:
        if not comp.term_frequency:
            out.append(None)
            continue
        col = text_columns(left, [comp.field])[comp.field]
        if right is not None:
            col = np.concatenate([col, text_columns(right, [comp.field])[comp.field]])
        col = col[np.strings.str_len(col) > 0]
        values, _, _, counts = unique_text_full(col)
        out.append((values, counts / max(col.size, 1)))
    return tuple(out)


def fit_matcher(
    left: Any,
    right: Any | None = None,
    *,
    matcher: Matcher,
    n_random_pairs: int = 300_000,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    lambda_init: float = 0.1,
    seed: int = 0,
    workers: int = -1,
    progress: Progress = null_progress,
) -> FellegiSunterModel:
    """Fit a Fellegi-Sunter model without labels.

    ``u`` is estimated from random pairs (almost all non-matches), then ``lambda`` and ``m`` by
    expectation-maximisation over the blocked candidate pairs with ``u`` held fixed.

    Parameters
    ----------
    left, right
        Tables (``right=None`` deduplicates ``left``).
    matcher
        Blocking rules and comparisons.
    n_random_pairs
        Random pairs for estimating ``u``.
    max_iterations, tolerance
        EM stops when no parameter moves more than ``tolerance``, or after ``max_iterations``.
    lambda_init
        Starting match prior among candidate pairs.
    seed
        Seed of the random pairs.
    workers
        rapidfuzz threads.
    progress
        Progress callback (one step per EM iteration).

    Returns
    -------
    FellegiSunterModel
        Fitted parameters with ``converged`` and ``iterations``.

    Raises
    ------
    ConvergenceError
        If EM produces non-finite values (e.g. no candidate pairs); the message says what to try.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> dob = [f"19{y}0{m}1{d}" for y, m, d in zip(rng.integers(50, 99, 200), rng.integers(1, 9, 200),
    ...                                             rng.integers(0, 9, 200))]
    >>> left = {"name": [f"name{i:03d}" for i in range(200)], "dob": dob,
    ...         "zip": [str(i % 10) for i in range(200)]}
    >>> right = {**left, "name": [f"nmae{i:03d}" if i % 4 == 0 else f"name{i:03d}" for i in range(200)]}
    >>> m = Matcher(blocking=[BlockingRule("zip")],
    ...             comparisons=[Comparison(field="name", kind="jaro_winkler", thresholds=(0.9,)),
    ...                          Comparison(field="dob", kind="exact")])
    >>> model = fit_matcher(left, right, matcher=m, n_random_pairs=5_000)
    >>> model.converged, bool(model.level_weights()[0][1] > 0)  # an exact name is evidence for a match
    (True, True)

    References
    ----------
    .. [1] Fellegi and Sunter, "A Theory for Record Linkage", JASA 64(328), 1969.
       https://doi.org/10.1080/01621459.1969.10501049
    .. [2] Winkler, "Using the EM Algorithm for Weight Computation in the Fellegi-Sunter Model of
       Record Linkage", 1988.
    """
    model, _, _, _ = _fit(
        left,
        right,
        matcher=matcher,
        n_random_pairs=n_random_pairs,
        max_iterations=max_iterations,
        tolerance=tolerance,
        lambda_init=lambda_init,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    return model


def _fit(
    left: Any,
    right: Any | None,
    *,
    matcher: Matcher,
    n_random_pairs: int,
    max_iterations: int,
    tolerance: float,
    lambda_init: float,
    seed: int,
    workers: int,
    progress: Progress,
) -> tuple[FellegiSunterModel, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    comps = matcher.comparisons
    enc = encode(left, right, sorted({c.field for c in comps}))
    n_left = enc.left[comps[0].field].size
    n_right = None if right is None else enc.right[comps[0].field].size
    if n_left < 2 and n_right is None:
        raise ConvergenceError("need at least two records to deduplicate")
    ri, rj = _random_pairs(n_left, n_right, n_random_pairs, seed)
    u = _level_frequencies(
        compare(left, right, ri, rj, comps, workers=workers, encoded=enc), comps, np.ones(ri.size), 1.0
    )
    u = [
        _exact_u(level_u, enc.left[c.field], enc.right[c.field], right is None)
        for level_u, c in zip(u, comps, strict=True)
    ]
    i, j = block(left, right, rules=matcher.blocking)
    if i.size == 0:
        raise ConvergenceError("no candidate pairs: loosen the blocking rules")
    gamma = compare(left, right, i, j, comps, workers=workers, encoded=enc)
    patterns, _, counts = _pattern_table(gamma)
    m = []
    for comp in comps:
        # start: similarity levels likelier among matches, decreasing geometrically
        start = np.r_[0.0, 0.5 ** np.arange(1, comp.n_levels)]
        start[-1] = 0.05
        m.append(start / start[1:].sum())
    rate = _candidate_rate(left, right, matcher.blocking, ri, rj)
    lam = lambda_init
    # among candidate pairs, non-matches follow u restricted to what blocking keeps: u / rate
    log_u = _log_probs(patterns, u) - math.log(rate)
    converged = False
    ll = float("nan")
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        log_m = _log_probs(patterns, m)
        a = math.log(lam) + log_m
        b = math.log(1 - lam) + log_u
        top = np.maximum(a, b)
        denom = top + np.log(np.exp(a - top) + np.exp(b - top))
        post = np.exp(a - denom)
        ll = float((counts * denom).sum())
        weight = counts * post
        new_lam = float(weight.sum() / counts.sum())
        new_m = _level_frequencies(patterns, comps, weight, 1e-6)
        if not np.isfinite(new_lam) or not all(np.isfinite(x).all() for x in new_m):
            raise ConvergenceError("EM produced non-finite parameters: check the comparisons and blocking")
        delta = max(abs(new_lam - lam), *(float(np.abs(x - y).max()) for x, y in zip(new_m, m, strict=True)))
        lam, m = min(max(new_lam, 1e-9), 1 - 1e-9), new_m
        progress(iteration, max_iterations, f"EM delta {delta:.2e}")
        if delta < tolerance:
            converged = True
            break
    if not converged:
        logger.warning("EM did not converge in %d iterations", max_iterations)
    model = FellegiSunterModel(
        matcher=matcher,
        lambda_=lam,
        candidate_rate=rate,
        m=m,
        u=u,
        term_frequencies=_term_frequencies(left, right, comps),
        converged=converged,
        iterations=iteration,
        log_likelihood=ll,
    )
    return model, i, j, gamma


def train_from_labels(
    left: Any,
    right: Any | None,
    i: npt.ArrayLike,
    j: npt.ArrayLike,
    is_match: npt.ArrayLike,
    *,
    matcher: Matcher,
    workers: int = -1,
) -> FellegiSunterModel:
    """Estimate m, u and lambda from labelled pairs (clerical review, known links).

    Parameters
    ----------
    left, right
        Tables.
    i, j
        Row positions of the labelled pairs.
    is_match
        True for matches.
    matcher
        Blocking rules and comparisons.
    workers
        rapidfuzz threads.

    Returns
    -------
    FellegiSunterModel
        With ``m`` from the matches, ``u`` from the non-matches (add-one smoothing) and
        ``lambda`` their share.

    Raises
    ------
    ValidationError
        Without both matches and non-matches.

    Examples
    --------
    >>> t = {"name": ["ann", "ann", "bob", "bib"]}
    >>> m = Matcher(blocking=[BlockingRule("name")], comparisons=[Comparison(field="name", kind="exact")])
    >>> model = train_from_labels(t, None, [0, 0, 2], [1, 2, 3], [True, False, True], matcher=m)
    >>> round(model.lambda_, 3)
    0.667
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    y = np.asarray(is_match, dtype=bool)
    if y.all() or not y.any():
        raise ValidationError("labels need both matches and non-matches", field="is_match")
    gamma = compare(left, right, i, j, matcher.comparisons, workers=workers)
    m = _level_frequencies(gamma[y], matcher.comparisons, np.ones(int(y.sum())), 1.0)
    u = _level_frequencies(gamma[~y], matcher.comparisons, np.ones(int((~y).sum())), 1.0)
    return FellegiSunterModel(
        matcher=matcher,
        lambda_=float(y.mean()),
        m=m,
        u=u,
        term_frequencies=_term_frequencies(left, right, matcher.comparisons),
    )


@attrs.frozen(kw_only=True)
class Matches:
    """Scored candidate pairs.

    Attributes
    ----------
    left_index, right_index
        Row positions of each pair.
    weight
        Match weight, ``log2`` of the posterior odds.
    probability
        Match probability.
    contributions
        ``(n_pairs, n_comparisons)`` weight each field contributed (the explanation).
    gamma
        Comparison levels.
    model
        The model that scored them.
    """

    left_index: npt.NDArray[np.int64] = _array_field()
    right_index: npt.NDArray[np.int64] = _array_field()
    weight: npt.NDArray[np.float64] = _array_field()
    probability: npt.NDArray[np.float64] = attrs.field(
        converter=freeze, eq=attrs.cmp_using(eq=np.array_equal)
    )
    contributions: npt.NDArray[np.float64] = attrs.field(
        converter=freeze, eq=attrs.cmp_using(eq=np.array_equal)
    )
    gamma: npt.NDArray[np.int8] = _array_field()
    model: FellegiSunterModel

    def __len__(self) -> int:
        return int(self.left_index.size)

    def take(self, rows: npt.ArrayLike) -> Matches:
        """A subset of the pairs."""
        r = np.asarray(rows)
        return attrs.evolve(
            self,
            left_index=self.left_index[r],
            right_index=self.right_index[r],
            weight=self.weight[r],
            probability=self.probability[r],
            contributions=self.contributions[r],
            gamma=self.gamma[r],
        )

    def explain(self, k: int) -> list[dict[str, Any]]:
        """Why pair ``k`` scored as it did: prior, then each field's level and weight.

        Parameters
        ----------
        k
            Position of the pair in these matches.

        Returns
        -------
        list of dict
            ``{"field", "level", "weight"}`` rows; the weights add up to ``weight[k]``.

        Examples
        --------
        >>> t = {"name": ["ann lee", "ann lee", "bob ray"]}
        >>> m = Matcher(blocking=[BlockingRule("name")], comparisons=[Comparison(field="name", kind="exact")])
        >>> model = train_from_labels(t, None, [0, 1], [1, 2], [True, False], matcher=m)
        >>> [row["level"] for row in predict_matches(model, t).explain(0)]
        ['', 'exact']
        """
        rows: list[dict[str, Any]] = [{"field": "(prior)", "level": "", "weight": self.model.prior_weight}]
        for c, comp in enumerate(self.model.matcher.comparisons):
            level = int(self.gamma[k, c])
            rows.append(
                {
                    "field": comp.field,
                    "level": comp.level_names()[level],
                    "weight": float(self.contributions[k, c]),
                }
            )
        return rows

    def to_links(
        self,
        left_ids: npt.ArrayLike,
        right_ids: npt.ArrayLike | None = None,
        *,
        id_type: str = "form_record",
        right_id_type: str | None = None,
        threshold: float = 0.5,
        at: Any = None,
    ) -> IdentityLinks:
        """Pairs at or above ``threshold`` as probabilistic identity links (probability kept as evidence).

        Parameters
        ----------
        left_ids, right_ids
            Identifier value of each row (e.g. the record id); ``right_ids`` defaults to ``left_ids``.
        id_type, right_id_type
            Identifier types of the two sides.
        threshold
            Minimum probability.
        at
            Timestamp of the links (default: now).

        Returns
        -------
        IdentityLinks
            ``kind="probabilistic"`` links, accepted (guardrails decide later in :func:`resolve`).
        """
        keep = np.flatnonzero(self.probability >= threshold)
        lids = np.asarray(left_ids).astype(str)
        rids = lids if right_ids is None else np.asarray(right_ids).astype(str)
        when = np.datetime64("now", "us") if at is None else np.datetime64(at, "us")
        return IdentityLinks(
            left_type=np.full(keep.size, id_type, dtype=object),
            left_value=lids[self.left_index[keep]].astype(object),
            right_type=np.full(keep.size, right_id_type or id_type, dtype=object),
            right_value=rids[self.right_index[keep]].astype(object),
            kind=np.full(keep.size, "probabilistic", dtype=object),
            probability=self.probability[keep],
            record_id=np.full(keep.size, "", dtype=object),
            accepted=np.ones(keep.size, dtype=bool),
            reason=np.array([f"match weight {w:.2f}" for w in self.weight[keep].tolist()], dtype=object),
            created_at=np.full(keep.size, when, dtype="datetime64[us]"),
        )


def _tf_adjustment(
    model: FellegiSunterModel,
    left: Any,
    right: Any | None,
    i: npt.NDArray[np.int64],
    gamma: npt.NDArray[np.int8],
) -> npt.NDArray[np.float64]:
    """Per pair and comparison: ``log2(u_exact / tf(value))`` on exact agreements with term frequencies."""
    adj = np.zeros(gamma.shape, dtype=np.float64)
    for c, (comp, tf) in enumerate(zip(model.matcher.comparisons, model.term_frequencies, strict=False)):
        if tf is None:
            continue
        values, freq = tf
        rows = np.flatnonzero(gamma[:, c] == 1)
        if rows.size == 0:
            continue
        col = text_columns(left, [comp.field])[comp.field][i[rows]]
        _, _, inverse, _ = unique_text_full(np.concatenate([values, col]))
        where = np.full(int(inverse.max()) + 1, -1, dtype=np.int64)
        where[inverse[: values.size]] = np.arange(values.size)
        pos = where[inverse[values.size :]]
        f = np.where(pos >= 0, freq[np.maximum(pos, 0)], np.nan)
        u_exact = float(model.u[c][1])
        ok = np.isfinite(f) & (f > 0)
        adj[rows[ok], c] = np.log2(u_exact / f[ok])
    return adj


def predict_matches(
    model: FellegiSunterModel,
    left: Any,
    right: Any | None = None,
    *,
    threshold: float = 0.0,
    one_to_one: bool = False,
    pairs: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    workers: int = -1,
) -> Matches:
    """Score candidate pairs and keep those with probability at or above ``threshold``.

    Parameters
    ----------
    model
        A fitted model.
    left, right
        Tables (``right=None`` deduplicates ``left``).
    threshold
        Minimum match probability to keep.
    one_to_one
        For linkage: each record links at most once; pairs are taken by descending probability,
        ties broken by ``(left, right)`` position, skipping records already linked.
    pairs
        Candidate pairs to score instead of blocking with the model's rules.
    workers
        rapidfuzz threads.

    Returns
    -------
    Matches
        Scored pairs with per-field explanations.

    Examples
    --------
    >>> t = {"name": ["ann lee", "ann lee", "bob ray"], "city": ["x", "x", "x"]}
    >>> m = Matcher(blocking=[BlockingRule("city")], comparisons=[Comparison(field="name", kind="exact")])
    >>> model = train_from_labels(t, None, [0, 0], [1, 2], [True, False], matcher=m)
    >>> hits = predict_matches(model, t, threshold=0.5)
    >>> list(zip(hits.left_index.tolist(), hits.right_index.tolist()))
    [(0, 1)]
    """
    if pairs is None:
        i, j = block(left, right, rules=model.matcher.blocking)
    else:
        i, j = np.asarray(pairs[0], dtype=np.int64), np.asarray(pairs[1], dtype=np.int64)
    gamma = compare(left, right, i, j, model.matcher.comparisons, workers=workers)
    return _score(model, left, right, i, j, gamma, threshold=threshold, one_to_one=one_to_one)


def _score(
    model: FellegiSunterModel,
    left: Any,
    right: Any | None,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    gamma: npt.NDArray[np.int8],
    *,
    threshold: float,
    one_to_one: bool,
) -> Matches:
    contributions = np.zeros(gamma.shape, dtype=np.float64)
    for c, w in enumerate(model.level_weights()):
        contributions[:, c] = w[gamma[:, c]]
    contributions += _tf_adjustment(model, left, right, i, gamma)
    weight = model.prior_weight + contributions.sum(axis=1)
    probability = 1.0 / (1.0 + np.exp2(-weight))
    keep = np.flatnonzero(probability >= threshold)
    if one_to_one and keep.size:
        order = keep[np.lexsort((j[keep], i[keep], -probability[keep]))]
        used_left: set[int] = set()
        used_right: set[int] = set()
        chosen = []
        for k, a, b in zip(order.tolist(), i[order].tolist(), j[order].tolist(), strict=True):
            if a in used_left or b in used_right:
                continue
            used_left.add(a)
            used_right.add(b)
            chosen.append(k)
        keep = np.sort(np.array(chosen, dtype=np.int64))
    return Matches(
        left_index=i[keep],
        right_index=j[keep],
        weight=weight[keep],
        probability=probability[keep],
        contributions=contributions[keep],
        gamma=gamma[keep],
        model=model,
    )


def match_records(
    left: Any,
    right: Any | None = None,
    *,
    matcher: Matcher,
    threshold: float = 0.5,
    one_to_one: bool = False,
    n_random_pairs: int = 300_000,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    seed: int = 0,
    workers: int = -1,
    progress: Progress = null_progress,
) -> Matches:
    """Fit a Fellegi-Sunter model without labels and score its candidate pairs, in one pass.

    The same as :func:`fit_matcher` then :func:`predict_matches`, but blocking and comparing once.

    Parameters
    ----------
    left, right
        Tables (``right=None`` deduplicates ``left``).
    matcher
        Blocking rules and comparisons.
    threshold
        Minimum match probability to keep.
    one_to_one
        Each record links at most once (see :func:`predict_matches`).
    n_random_pairs, max_iterations, tolerance, seed, workers, progress
        See :func:`fit_matcher`.

    Returns
    -------
    Matches
        Scored pairs; ``matches.model`` is the fitted model.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> dob = [f"19{y}0{m}1{d}" for y, m, d in zip(rng.integers(50, 99, 200), rng.integers(1, 9, 200),
    ...                                             rng.integers(0, 9, 200))]
    >>> left = {"name": [f"name{i:03d}" for i in range(200)], "dob": dob,
    ...         "zip": [str(i % 10) for i in range(200)]}
    >>> right = {**left, "name": [f"nmae{i:03d}" if i % 4 == 0 else f"name{i:03d}" for i in range(200)]}
    >>> m = Matcher(blocking=[BlockingRule("zip")],
    ...             comparisons=[Comparison(field="name", kind="jaro_winkler", thresholds=(0.9,)),
    ...                          Comparison(field="dob", kind="exact")])
    >>> hits = match_records(left, right, matcher=m, n_random_pairs=5_000)
    >>> len(hits), bool((hits.left_index == hits.right_index).all())
    (150, True)
    """
    model, i, j, gamma = _fit(
        left,
        right,
        matcher=matcher,
        n_random_pairs=n_random_pairs,
        max_iterations=max_iterations,
        tolerance=tolerance,
        lambda_init=0.1,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    return _score(model, left, right, i, j, gamma, threshold=threshold, one_to_one=one_to_one)
