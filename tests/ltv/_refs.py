"""Independent high-precision references (mpmath) and shared data loaders for the LTV tests."""

from __future__ import annotations

from pathlib import Path

import mpmath as mp
import numpy as np
import numpy.typing as npt

DATA = Path(__file__).parent / "data"


def load_cdnow() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """CDNOW 1/10th sample (weeks): frequency, recency, T."""
    table = np.loadtxt(DATA / "cdnow_customers_summary.csv", delimiter=",", skiprows=1)
    return table[:, 1], table[:, 2], table[:, 3]


def load_cdnow_spend() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """CDNOW sample: frequency x and mean repeat spend zbar."""
    table = np.loadtxt(DATA / "cdnow_customers_summary_with_transactions.csv", delimiter=",", skiprows=1)
    return table[:, 1], table[:, 4]


def load_donations() -> npt.NDArray[np.float64]:
    """Donations data (frequency, recency, periods, weights)."""
    return np.loadtxt(DATA / "donations.csv", delimiter=",", skiprows=1)


def bg_loglik(
    r: float, alpha: float, a: float, b: float, x: float, t_x: float, T: float, k: int = 0
) -> mp.mpf:
    """BG/NBD (k=0) / MBG/NBD (k=1) log-likelihood, straight from the papers' formula, in mpmath."""
    with mp.workdps(50):
        r, alpha, a, b, x, t_x, T = map(mp.mpf, (r, alpha, a, b, x, t_x, T))
        head = mp.gamma(r + x) * alpha**r / mp.gamma(r)
        first = mp.beta(a, b + x + k) / mp.beta(a, b) / (alpha + T) ** (r + x)
        second = 0
        if x + k > 0:
            second = mp.beta(a + 1, b + x + k - 1) / mp.beta(a, b) / (alpha + t_x) ** (r + x)
        return mp.log(head * (first + second))


def pareto_loglik(r: float, alpha: float, s: float, beta: float, x: float, t_x: float, T: float) -> mp.mpf:
    """Pareto/NBD log-likelihood, Fader & Hardie (2005) note eq. 19, by mpmath's 2F1 closed form.

    mpmath's 2F1 loses digits for large parameters (and its adaptive quadrature is no safer there), so
    the closed form is recomputed at rising precision (x4 each step: mpmath can return the same wrong
    value at 60 and 120 digits) until two precisions agree to 20 digits.
    """
    with mp.workdps(40):
        R, A, S, B, X, TX, TT = map(mp.mpf, (r, alpha, s, beta, x, t_x, T))
        head = mp.loggamma(R + X) + R * mp.log(A) + S * mp.log(B) - mp.loggamma(R)
        first = (A + TT) ** (-(R + X)) * (B + TT) ** (-S)
    previous = None
    for dps in (100, 400, 1200):
        value = _closed_form(R, A, S, B, X, TX, TT, dps)
        if previous is not None and abs(value - previous) <= mp.mpf(10) ** -20 * (abs(value) + first):
            with mp.workdps(40):
                return +(head + mp.log(first + S * value))
        previous = value
    raise AssertionError("the 2F1 reference did not stabilise")


def _closed_form(
    r: mp.mpf, alpha: mp.mpf, s: mp.mpf, beta: mp.mpf, x: mp.mpf, t_x: mp.mpf, T: mp.mpf, dps: int
) -> mp.mpf:
    """``A_0 / (r+s+x)`` (= the integral) by 2F1 at ``dps`` digits."""
    with mp.workdps(dps):
        if alpha >= beta:

            def part(t: mp.mpf) -> mp.mpf:
                return mp.hyp2f1(r + s + x, s + 1, r + s + x + 1, (alpha - beta) / (alpha + t)) / (
                    alpha + t
                ) ** (r + s + x)
        else:

            def part(t: mp.mpf) -> mp.mpf:
                return mp.hyp2f1(r + s + x, r + x, r + s + x + 1, (beta - alpha) / (beta + t)) / (
                    beta + t
                ) ** (r + s + x)

        return (part(t_x) - part(T)) / (r + s + x)


def bgbb_loglik(alpha: float, beta: float, gamma: float, delta: float, x: int, t_x: int, n: int) -> mp.mpf:
    """BG/BB log-likelihood (FHS 2010 eq. 5) in mpmath."""
    with mp.workdps(50):
        al, be, ga, de = map(mp.mpf, (alpha, beta, gamma, delta))
        b0 = mp.beta(al, be) * mp.beta(ga, de)
        total = mp.beta(al + x, be + n - x) * mp.beta(ga, de + n)
        for i in range(n - t_x):
            total += mp.beta(al + x, be + t_x - x + i) * mp.beta(ga + 1, de + t_x + i)
        return mp.log(total / b0)


def gg_loglik(p: float, q: float, v: float, x: float, m: float) -> mp.mpf:
    """Gamma-Gamma log density of the mean spend (Fader & Hardie 2013 eq. 3) in mpmath."""
    with mp.workdps(50):
        p, q, v, x, m = map(mp.mpf, (p, q, v, x, m))
        return (
            mp.loggamma(p * x + q)
            - mp.loggamma(p * x)
            - mp.loggamma(q)
            + q * mp.log(v)
            + (p * x - 1) * mp.log(m)
            + p * x * mp.log(x)
            - (p * x + q) * mp.log(v + m * x)
        )


def close(ours: float, ref: mp.mpf, rel: float = 1e-9) -> bool:
    """|ours - ref| <= rel * max(1, |ref|): relative error of the likelihood itself for |log L| <= 1."""
    return bool(abs(mp.mpf(ours) - ref) <= rel * max(1, abs(ref)))


def simulate_transactions(
    n_customers: int,
    *,
    seed: int,
    weeks: float = 78.0,
    params: tuple[float, float, float, float] = (0.5, 6.0, 0.8, 2.5),
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64], npt.NDArray[np.float64], np.datetime64]:
    """A BG/NBD purchase log in days: customers acquired over the first 12 weeks of 2024.

    Returns ``(customer_id, timestamp, amount, observation_end)``.
    """
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    first = rng.uniform(0, 12, n_customers)  # weeks
    lam = rng.gamma(r, 1 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    k = 60
    gaps = rng.exponential(1.0, (n_customers, k)) / np.maximum(lam, 1e-12)[:, None]
    times = first[:, None] + np.cumsum(gaps, axis=1)
    limit = rng.geometric(p)  # repeat purchases before dropping out
    keep = (times < weeks) & (np.arange(1, k + 1)[None, :] <= limit[:, None])
    cust = np.concatenate([np.arange(n_customers), np.nonzero(keep)[0]])
    when = np.concatenate([first, times[keep]])
    micro = (when * 7 * 86_400e6).astype(np.int64)
    timestamp = start + micro.astype("timedelta64[us]")
    amount = rng.gamma(4.0, 10.0, cust.size)
    end = start + np.timedelta64(int(weeks * 7), "D")
    return cust.astype(np.int64), timestamp, amount, end
