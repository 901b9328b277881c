"""The true parameters of the synthetic retailer: purchase process, spend and identifier noise."""

from __future__ import annotations

import attrs

from omnicore._errors import ValidationError

__all__ = ["IdentifierNoise", "TrueParameters"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or value != value or value == float("inf"):
        raise ValidationError("must be a finite positive number", field=attribute.name, value=value)


def _share(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError("must be a share in [0, 1]", field=attribute.name, value=value)


def _mix(instance: object, attribute: attrs.Attribute[tuple[float, ...]], value: tuple[float, ...]) -> None:
    if len(value) != 3 or any(not v >= 0 for v in value) or not sum(value) > 0:
        raise ValidationError(
            "expected three non-negative weights (online, store, community) with a positive sum",
            field=attribute.name,
            value=value,
        )


def _float_tuple(value: object) -> tuple[float, ...]:
    if not isinstance(value, tuple | list):
        raise ValidationError("expected a sequence of numbers", field="channel_mix", value=value)
    return tuple(float(v) for v in value)


@attrs.frozen(kw_only=True)
class TrueParameters:
    """The parameters the synthetic purchases are drawn from (time unit: days, money: CNY).

    Purchases follow the BG/NBD process of Fader, Hardie and Lee (2005) [1]_: per person a purchase rate
    ``lambda ~ Gamma(r, rate=alpha)`` and a dropout probability ``p ~ Beta(a, b)``; repeat purchases
    arrive as a Poisson process with rate ``lambda`` and, after each repeat purchase, the person drops
    out with probability ``p``. Spend per purchase follows the Gamma-Gamma model of Fader, Hardie and
    Lee (2005b) [2]_ after Colombo and Jiang (1999) [3]_: ``z ~ Gamma(p, rate=nu)`` with
    ``nu ~ Gamma(q, rate=gamma)``, so the mean spend per purchase is ``p * gamma / (q - 1)``.

    Parameters
    ----------
    r, alpha
        Shape and rate (per day) of the Gamma heterogeneity of purchase rates (BG/NBD).
    a, b
        Beta heterogeneity of the dropout probability (BG/NBD).
    p, q, gamma
        Gamma-Gamma spend: shape of spend per purchase, shape and rate of its per-person rate ``nu``.
        ``q`` must exceed 1 for the mean spend to be finite.
    return_rate
        Share of purchase lines returned later (a negative-amount row in the transactions).
    channel_mix
        Population weights of the ``("online", "store", "community")`` channels; each person's own mix
        is drawn around it.

    Examples
    --------
    >>> params = TrueParameters()
    >>> round(params.mean_spend, 6)
    300.0
    >>> TrueParameters(r=-1.0)
    Traceback (most recent call last):
    ...
    omnicore._errors.ValidationError: field 'r': must be a finite positive number (got -1.0)

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy way:
       an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
       https://doi.org/10.1287/mksc.1040.0098
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value curves for
       customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
       https://doi.org/10.1509/jmkr.2005.42.4.415
    .. [3] Colombo, R. and Jiang, W. (1999). A stochastic RFM model. *Journal of Interactive Marketing*
       13(3), 2-12.
    """

    r: float = attrs.field(default=0.25, converter=float, validator=_positive)
    alpha: float = attrs.field(default=40.0, converter=float, validator=_positive)
    a: float = attrs.field(default=0.8, converter=float, validator=_positive)
    b: float = attrs.field(default=2.5, converter=float, validator=_positive)
    p: float = attrs.field(default=6.0, converter=float, validator=_positive)
    q: float = attrs.field(default=4.0, converter=float, validator=_positive)
    gamma: float = attrs.field(default=150.0, converter=float, validator=_positive)
    return_rate: float = attrs.field(default=0.02, converter=float, validator=_share)
    channel_mix: tuple[float, ...] = attrs.field(
        default=(0.55, 0.33, 0.12), converter=_float_tuple, validator=_mix
    )

    @property
    def mean_spend(self) -> float:
        """Mean spend per purchase, ``p * gamma / (q - 1)`` (infinite when ``q <= 1``)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")

    @property
    def mean_purchase_rate_per_day(self) -> float:
        """Population mean of ``lambda``, ``r / alpha`` purchases per day while alive."""
        return self.r / self.alpha


@attrs.frozen(kw_only=True)
class IdentifierNoise:
    """How noisy the identifier records are (every rate is a share in [0, 1]).

    Parameters
    ----------
    format_variant_rate
        Share of phone and email values written in a non-canonical form (spaces, ``+86`` prefix,
        dashes; upper case or surrounding whitespace in emails).
    typo_rate
        Share of typed phone and email values with a typo (one digit changed, a mistyped domain).
    family_share
        Share of persons who live with another person and use that person's phone as their own.
    placeholder_rate
        Share of POS member sign-ups where the cashier typed the store's default phone.
    second_card_rate
        Share of POS members who signed up twice and hold two member cards.
    guest_rate
        Share of persons with guest orders (a phone or an email only).
    test_record_rate
        Test and placeholder records that belong to nobody, per person.
    online_rate, pos_rate, mini_program_rate, community_rate
        Base shares of persons with an online account, a POS membership, a mini-program login and a
        WeCom community contact (each raised for persons who favour the matching channel).

    Examples
    --------
    >>> IdentifierNoise(typo_rate=0.0).typo_rate
    0.0
    """

    format_variant_rate: float = attrs.field(default=0.3, converter=float, validator=_share)
    typo_rate: float = attrs.field(default=0.02, converter=float, validator=_share)
    family_share: float = attrs.field(default=0.06, converter=float, validator=_share)
    placeholder_rate: float = attrs.field(default=0.05, converter=float, validator=_share)
    second_card_rate: float = attrs.field(default=0.03, converter=float, validator=_share)
    guest_rate: float = attrs.field(default=0.15, converter=float, validator=_share)
    test_record_rate: float = attrs.field(default=0.002, converter=float, validator=_share)
    online_rate: float = attrs.field(default=0.5, converter=float, validator=_share)
    pos_rate: float = attrs.field(default=0.25, converter=float, validator=_share)
    mini_program_rate: float = attrs.field(default=0.45, converter=float, validator=_share)
    community_rate: float = attrs.field(default=0.15, converter=float, validator=_share)
