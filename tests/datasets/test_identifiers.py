"""Identifier records and the truth about them: owners, placeholders, family phones, typos, formats."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from omnicore import ValidationError
from omnicore.datasets import IdentifierNoise, SyntheticRetailer, synthetic_retailer

PHONE_DIGITS = re.compile(r"\D")


def _normalise(id_type: str, value: str) -> str:
    """An independent normaliser: phones to 11 digits, emails to lower case without whitespace."""
    if id_type == "phone":
        digits = PHONE_DIGITS.sub("", value)
        return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
    if id_type == "email":
        return value.strip().lower()
    return value


def test_every_record_maps_to_a_person_or_nobody(small: SyntheticRetailer) -> None:
    truth, ids = small.truth, small.identifiers
    n = len(truth.person_id)
    assert len(np.unique(truth.record_id)) == len(truth.record_id)
    assert set(ids.record_id.tolist()) == set(truth.record_id.tolist())
    assert ((truth.record_person >= -1) & (truth.record_person < n)).all()
    owner = dict(zip(truth.record_id.tolist(), truth.record_person.tolist(), strict=True))
    assert [owner[r] for r in ids.record_id.tolist()] == truth.row_person.tolist()
    # every person left at least one record; some records belong to nobody
    assert set(truth.record_person.tolist()) >= set(range(n))
    assert (truth.record_person == -1).sum() >= 1
    assert ids.observed_at.min() >= small.observation_start
    assert ids.observed_at.max() < small.observation_end


def test_sources_and_identifier_types(retailer: SyntheticRetailer) -> None:
    ids = retailer.identifiers
    pairs = set(zip(ids.source.tolist(), ids.id_type.tolist(), strict=True))
    assert pairs >= {
        ("online", "account_id"),
        ("online", "phone"),
        ("online", "email"),
        ("online", "device_id"),
        ("pos", "member_card"),
        ("pos", "phone"),
        ("mini_program", "wechat_openid"),
        ("mini_program", "wechat_unionid"),
        ("mini_program", "phone"),
        ("guest", "phone"),
        ("guest", "email"),
        ("community", "wecom_external_userid"),
        ("community", "phone"),
    }
    # guest records carry a phone or an email only
    guest = ids.source == "guest"
    assert set(ids.id_type[guest].tolist()) == {"phone", "email"}
    _, per_record = np.unique(ids.record_id[guest], return_counts=True)
    assert (per_record == 1).all()


def test_raw_values_normalise_to_the_canonical_value_unless_typo(retailer: SyntheticRetailer) -> None:
    ids, truth = retailer.identifiers, retailer.truth
    normalised = [_normalise(t, v) for t, v in zip(ids.id_type.tolist(), ids.value.tolist(), strict=True)]
    matches = np.array(normalised, dtype=object) == truth.canonical_value.astype(object)
    assert matches[~truth.has_typo].all()
    assert not matches[truth.has_typo].any()
    typed = np.isin(ids.id_type, ["phone", "email"]) & ~truth.is_placeholder
    assert 0.005 < truth.has_typo[typed].mean() < 0.05
    # phones are 11 digits once normalised; raw values show several formats
    phones = ids.id_type == "phone"
    assert all(len(v) == 11 and v.isdigit() for v in truth.canonical_value[phones].tolist())
    raw = ids.value[phones].tolist()
    assert any(" " in v for v in raw)
    assert any(v.startswith("+86") for v in raw)
    assert 0.5 < np.mean([v.isdigit() and len(v) == 11 for v in raw]) < 0.9
    emails = ids.value[ids.id_type == "email"].tolist()
    assert any(v != v.strip() for v in emails)
    assert any(v != v.lower() for v in emails)


def test_placeholders_are_flagged(retailer: SyntheticRetailer) -> None:
    ids, truth = retailer.identifiers, retailer.truth
    canonical = truth.canonical_value.astype(object)
    is_test_email = (ids.id_type == "email") & (canonical == "test@test.com")
    default_phone = (ids.id_type == "phone") & (canonical == "13800000000")
    assert is_test_email.any()
    assert default_phone.any()
    assert truth.is_placeholder[is_test_email | default_phone].all()
    # a store's default phone recurs on many POS sign-ups of different persons
    pos_placeholder = truth.is_placeholder & (ids.source == "pos") & (truth.row_person >= 0)
    assert len(set(truth.row_person[pos_placeholder].tolist())) > 20
    assert set(canonical[truth.is_placeholder & (ids.id_type == "phone")].tolist()) <= {
        "13800000000",
        "13800138000",
        "13888888888",
        "18888888888",
        "13900000000",
    }
    assert (truth.row_person[truth.is_placeholder] >= -1).all()


def test_shared_values_are_exactly_those_of_two_or_more_persons(retailer: SyntheticRetailer) -> None:
    ids, truth = retailer.identifiers, retailer.truth
    persons: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    rows = zip(
        ids.id_type.tolist(),
        truth.canonical_value.tolist(),
        truth.row_person.tolist(),
        truth.is_placeholder.tolist(),
        strict=True,
    )
    for id_type, value, person, placeholder in rows:
        if person >= 0 and not placeholder:
            persons[(id_type, value)].add(person)
    expected = [
        person >= 0 and not placeholder and len(persons[(t, v)]) >= 2
        for t, v, person, placeholder in zip(
            ids.id_type.tolist(),
            truth.canonical_value.tolist(),
            truth.row_person.tolist(),
            truth.is_placeholder.tolist(),
            strict=True,
        )
    ]
    assert truth.is_shared.tolist() == expected
    # shared values are family phones: the persons behind one share a household
    shared_phones = {k: v for k, v in persons.items() if k[0] == "phone" and len(v) >= 2}
    assert len(shared_phones) > 50
    for members in shared_phones.values():
        assert len({int(truth.household_id[m]) for m in members}) == 1


def test_some_persons_hold_two_member_cards(retailer: SyntheticRetailer) -> None:
    ids, truth = retailer.identifiers, retailer.truth
    cards = (ids.id_type == "member_card") & (truth.row_person >= 0)
    _, per_person = np.unique(truth.row_person[cards], return_counts=True)
    assert (per_person == 2).any()


def test_unionid_links_mini_program_and_community(retailer: SyntheticRetailer) -> None:
    ids, truth = retailer.identifiers, retailer.truth
    union = ids.id_type == "wechat_unionid"
    by_value: defaultdict[str, set[str]] = defaultdict(set)
    owner: defaultdict[str, set[int]] = defaultdict(set)
    for value, source, person in zip(
        ids.value[union].tolist(), ids.source[union].tolist(), truth.row_person[union].tolist(), strict=True
    ):
        by_value[value].add(source)
        owner[value].add(person)
    assert any(len(sources) == 2 for sources in by_value.values())
    assert all(len(people) == 1 for people in owner.values())


def test_noise_can_be_switched_off() -> None:
    quiet = IdentifierNoise(
        format_variant_rate=0.0,
        typo_rate=0.0,
        family_share=0.0,
        placeholder_rate=0.0,
        test_record_rate=0.0,
    )
    data = synthetic_retailer(2_000, seed=5, noise=quiet, n_open_orders=0)
    truth = data.truth
    assert not truth.has_typo.any()
    assert not truth.is_placeholder.any()
    assert not truth.is_shared.any()
    assert (truth.record_person >= 0).all()
    assert np.array_equal(truth.household_id, truth.person_id)
    assert np.array_equal(data.identifiers.value, truth.canonical_value)


def test_person_of_looks_records_up(small: SyntheticRetailer) -> None:
    truth = small.truth
    shuffled = truth.record_id[::-1]
    assert truth.person_of(shuffled).tolist() == truth.record_person[::-1].tolist()
    assert truth.person_of(["POS-0000001"]).shape == (1,)
    with pytest.raises(ValidationError, match="unknown record id"):
        truth.person_of(["nope"])
