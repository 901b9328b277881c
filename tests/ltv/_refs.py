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


def bg_loglik(r: float, alpha: float, a: float, b: float, x: float, t_x: float, T: float, k: int = 0) -> mp.mpf:
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
    """Pareto/NBD log-likelihood by the Gaussian hypergeometric closed form (Fader & Hardie 2005 note)."""
    with mp.workdps(60):
        r, alpha, s, beta, x, t_x, T = map(mp.mpf, (r, alpha, s, beta, x, t_x, T))
        head = mp.loggamma(r + x) + r * mp.log(alpha) + s * mp.log(beta) - mp.loggamma(r)
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

        a0 = part(t_x) - part(T)
        return head + mp.log((alpha + T) ** (-(r + x)) * (beta + T) ** (-s) + s / (r + s + x) * a0)


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
