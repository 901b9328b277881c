"""Identifier records per person from every source, with real-world noise and the truth behind it."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data import STRING_DTYPE, IdentifierRecords, factorize
from omnicore.datasets._params import IdentifierNoise
from omnicore.datasets._purchases import People, to_timestamps
from omnicore.datasets._text import numbered, pick, random_tokens, strings, to_text, uuids

__all__ = ["ID_TYPES", "PLACEHOLDER_PHONES", "SOURCES", "IdentityData", "make_identifiers"]

SOURCES = ("online", "pos", "mini_program", "community", "guest")
_ONLINE, _POS, _MINI, _COMMUNITY, _GUEST = range(5)
_PREFIXES = ("ONL-", "POS-", "MP-", "WC-", "GST-")
ID_TYPES = (
    "account_id",
    "phone",
    "email",
    "device_id",
    "member_card",
    "wechat_openid",
    "wechat_unionid",
    "wecom_external_userid",
)
_ACCOUNT, _PHONE, _EMAIL, _DEVICE, _CARD, _OPENID, _UNIONID, _EXTERNAL = range(8)

#: Default phones cashiers type when a customer won't give theirs.
PLACEHOLDER_PHONES = (13800000000, 13800138000, 13888888888, 18888888888, 13900000000)
TEST_EMAIL = "test@test.com"
_MOBILE_PREFIXES = np.array([*range(130, 140), *range(150, 160), 166, 177, *range(180, 190), 198])
# fmt: off
_SURNAMES = strings(["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou",
                     "xu", "sun", "ma", "zhu", "hu", "guo", "he", "lin", "luo", "gao"])
_GIVEN = strings(["wei", "fang", "na", "min", "jing", "li", "qiang", "lei", "jun", "yang",
                  "yong", "yan", "jie", "tao", "ming", "chao", "xiu", "hui", "xia", "ping"])
# fmt: on
_DOMAINS = strings(["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com"])
_DOMAIN_SHARE = np.array([0.45, 0.2, 0.1, 0.08, 0.07, 0.05, 0.05])
_DOMAIN_TYPOS = strings(["qq.con", "163.cm", "126.con", "gmial.com", "outlok.com", "sian.com", "foxmial.com"])


def _unique_numbers(rng: np.random.Generator, n: int, digits: int) -> npt.NDArray[np.int64]:
    """``n`` distinct numbers below ``10**digits`` in random order (an affine bijection of a permutation)."""
    modulus = 10**digits
    multiplier = 7_919_113 % modulus or 7
    offset = int(rng.integers(0, modulus))
    index = rng.permutation(n).astype(np.int64)
    numbers: npt.NDArray[np.int64] = (index * multiplier + offset) % modulus
    return numbers


def _typo_digit(rng: np.random.Generator, phone: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Change one of the last eight digits of each phone to another digit."""
    power = np.power(10, rng.integers(0, 8, size=len(phone)), dtype=np.int64)
    digit = (phone // power) % 10
    new = (digit + rng.integers(1, 10, size=len(phone))) % 10
    changed: npt.NDArray[np.int64] = phone + (new - digit) * power
    return changed


def _phone_variants(rng: np.random.Generator, phone: npt.NDArray[np.int64], rate: float) -> npt.NDArray[Any]:
    """Phones as typed: mostly 11 digits, some with spaces, dashes or a country code."""
    head = to_text(phone // 100_000_000)
    mid = np.strings.zfill(to_text((phone // 10_000) % 10_000), 4)
    tail = np.strings.zfill(to_text(phone % 10_000), 4)
    plain = to_text(phone)
    spaced = np.strings.add(np.strings.add(np.strings.add(np.strings.add(head, " "), mid), " "), tail)
    dashed = np.strings.add(np.strings.add(np.strings.add(np.strings.add(head, "-"), mid), "-"), tail)
    variants = np.stack(
        [
            plain,
            spaced,
            np.strings.add("+86 ", plain),
            np.strings.add("+86-", dashed),
            np.strings.add("86", plain),
            dashed,
            np.strings.add("(+86)", plain),
        ]
    )
    code = np.where(rng.random(len(phone)) < rate, rng.integers(1, len(variants), size=len(phone)), 0)
    result: npt.NDArray[Any] = variants[code, np.arange(len(phone))]
    return result


def _email_variants(rng: np.random.Generator, email: npt.NDArray[Any], rate: float) -> npt.NDArray[Any]:
    """Emails as typed: mostly lower case, some upper case, capitalised or with stray whitespace."""
    variants = np.stack(
        [
            email,
            np.strings.upper(email),
            np.strings.capitalize(email),
            np.strings.add(email, " "),
            np.strings.add(" ", email),
        ]
    )
    code = np.where(rng.random(len(email)) < rate, rng.integers(1, len(variants), size=len(email)), 0)
    result: npt.NDArray[Any] = variants[code, np.arange(len(email))]
    return result


@attrs.frozen(kw_only=True)
class IdentityData:
    """Identifier rows, records and the truth about them (internal)."""

    records: IdentifierRecords
    record_id: npt.NDArray[Any]
    record_person: npt.NDArray[np.int64]
    row_person: npt.NDArray[np.int64]
    canonical_value: npt.NDArray[Any]
    is_placeholder: npt.NDArray[np.bool_]
    is_shared: npt.NDArray[np.bool_]
    has_typo: npt.NDArray[np.bool_]
    household_id: npt.NDArray[np.int64]


class _Builder:
    """Accumulates records and their identifier rows, then renders them in one pass."""

    def __init__(self) -> None:
        self.rec_person: list[npt.NDArray[np.int64]] = []
        self.rec_source: list[npt.NDArray[np.int64]] = []
        self.n_records = 0
        self.row_record: list[npt.NDArray[np.int64]] = []
        self.row_type: list[npt.NDArray[np.int64]] = []
        self.row_phone: list[npt.NDArray[np.int64]] = []  # phone rows: the number (-1 elsewhere)
        self.row_email: list[npt.NDArray[Any]] = []  # email rows: local part ('' elsewhere)
        self.row_domain: list[npt.NDArray[np.int64]] = []
        self.row_text: list[npt.NDArray[Any]] = []  # other rows: the value as issued
        self.row_placeholder: list[npt.NDArray[np.bool_]] = []
        self.row_typed: list[npt.NDArray[np.bool_]] = []  # typed by a person, so typos can happen

    def records(self, person: npt.NDArray[np.int64], source: int) -> npt.NDArray[np.int64]:
        index = self.n_records + np.arange(len(person), dtype=np.int64)
        self.n_records += len(person)
        self.rec_person.append(person.astype(np.int64))
        self.rec_source.append(np.full(len(person), source, dtype=np.int64))
        return index

    def _rows(self, record: npt.NDArray[np.int64], id_type: int, placeholder: Any, typed: bool) -> int:
        m = len(record)
        self.row_record.append(record)
        self.row_type.append(np.full(m, id_type, dtype=np.int64))
        self.row_placeholder.append(np.broadcast_to(np.asarray(placeholder, dtype=bool), (m,)).copy())
        self.row_typed.append(np.full(m, typed))
        return m

    def phones(
        self,
        record: npt.NDArray[np.int64],
        phone: npt.NDArray[np.int64],
        *,
        typed: bool,
        placeholder: Any = False,
    ) -> None:
        m = self._rows(record, _PHONE, placeholder, typed)
        self.row_phone.append(phone)
        self.row_email.append(np.full(m, "", dtype=STRING_DTYPE))
        self.row_domain.append(np.full(m, -1, dtype=np.int64))
        self.row_text.append(np.full(m, "", dtype=STRING_DTYPE))

    def emails(
        self,
        record: npt.NDArray[np.int64],
        local: npt.NDArray[Any],
        domain: npt.NDArray[np.int64],
        *,
        typed: bool,
    ) -> None:
        m = self._rows(record, _EMAIL, False, typed)
        self.row_phone.append(np.full(m, -1, dtype=np.int64))
        self.row_email.append(local)
        self.row_domain.append(domain)
        self.row_text.append(np.full(m, "", dtype=STRING_DTYPE))

    def values(
        self, record: npt.NDArray[np.int64], id_type: int, value: npt.NDArray[Any], placeholder: Any = False
    ) -> None:
        m = self._rows(record, id_type, placeholder, False)
        self.row_phone.append(np.full(m, -1, dtype=np.int64))
        self.row_email.append(np.full(m, "", dtype=STRING_DTYPE))
        self.row_domain.append(np.full(m, -1, dtype=np.int64))
        self.row_text.append(value.astype(STRING_DTYPE))


def _source_share(base: float, pref: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A source's share for each person: ``base`` moved towards how much they favour its channel."""
    share: npt.NDArray[np.float64] = np.clip(base + 0.6 * (pref - pref.mean()), 0.0, 1.0)
    return share


def make_identifiers(
    rng: np.random.Generator,
    *,
    people: People,
    active_end_day: npt.NDArray[np.float64],
    noise: IdentifierNoise,
    window_days: float,
    start: np.datetime64,
    end: np.datetime64,
) -> IdentityData:
    """Identifier records from five sources, with formatting variants, typos, family phones, placeholders.

    See :func:`omnicore.datasets.synthetic_retailer` for what each source carries.
    """
    n = len(people)
    persons = np.arange(n, dtype=np.int64)
    pref = people.channel_pref

    # -- what each person really has ------------------------------------------------------------
    prefix = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), size=n)]
    phone = prefix * 100_000_000 + _unique_numbers(rng, n, 8)
    phone = np.where(np.isin(phone, PLACEHOLDER_PHONES), 19_900_000_000 + phone % 100_000_000, phone)
    n_pairs = round(n * noise.family_share / 2.0)
    household = persons.copy()
    paired = rng.permutation(n)[: 2 * n_pairs]
    heads, members = paired[:n_pairs], paired[n_pairs:]
    household[members] = heads
    phone_used = phone.copy()
    phone_used[members] = phone[heads]
    has_email = rng.random(n) < 0.65
    suffix_digits = max(6, len(str(n)))  # distinct suffixes, so no two persons share an email
    local = np.strings.add(
        np.strings.add(
            _SURNAMES[rng.integers(0, len(_SURNAMES), n)], _GIVEN[rng.integers(0, len(_GIVEN), n)]
        ),
        np.strings.zfill(to_text(_unique_numbers(rng, n, suffix_digits)), suffix_digits),
    )
    domain = rng.choice(len(_DOMAINS), size=n, p=_DOMAIN_SHARE).astype(np.int64)
    unionid = random_tokens(rng, n, 27, "o")

    b = _Builder()

    # -- online accounts: account id, phone, email, one or two devices -------------------------------
    online = persons[rng.random(n) < _source_share(noise.online_rate, pref[:, 0])]
    rec = b.records(online, _ONLINE)
    b.values(rec, _ACCOUNT, numbered("U", 100_000_000 + _unique_numbers(rng, len(rec), 8), 9))
    with_phone = rng.random(len(rec)) < 0.9
    b.phones(rec[with_phone], phone_used[online[with_phone]], typed=True)
    with_email = has_email[online] & (rng.random(len(rec)) < 0.8)
    b.emails(rec[with_email], local[online[with_email]], domain[online[with_email]], typed=True)
    b.values(rec, _DEVICE, uuids(rng, len(rec)))
    second_device = rng.random(len(rec)) < 0.3
    b.values(rec[second_device], _DEVICE, uuids(rng, int(second_device.sum())))

    # -- POS member sign-ups: a card and a phone (sometimes the store's default phone) ----------------
    pos = persons[rng.random(n) < _source_share(noise.pos_rate, pref[:, 1])]
    twice = pos[rng.random(len(pos)) < noise.second_card_rate]
    pos = np.concatenate([pos, twice])
    rec = b.records(pos, _POS)
    b.values(rec, _CARD, numbered("MC", _unique_numbers(rng, len(rec), 10), 10))
    placeholder = rng.random(len(rec)) < noise.placeholder_rate
    default_phone = np.asarray(PLACEHOLDER_PHONES, dtype=np.int64)[
        rng.integers(0, len(PLACEHOLDER_PHONES), len(rec))
    ]
    b.phones(rec, np.where(placeholder, default_phone, phone_used[pos]), typed=True, placeholder=placeholder)

    # -- mini-program logins: openid, often the unionid, the WeChat-verified phone sometimes ---------
    mini = persons[rng.random(n) < noise.mini_program_rate]
    rec = b.records(mini, _MINI)
    b.values(rec, _OPENID, random_tokens(rng, len(rec), 27, "o"))
    with_union = rng.random(len(rec)) < 0.7
    b.values(rec[with_union], _UNIONID, unionid[mini[with_union]])
    with_phone = rng.random(len(rec)) < 0.4
    b.phones(rec[with_phone], phone_used[mini[with_phone]], typed=False)

    # -- WeCom community contacts: external user id, unionid often, phone typed by staff sometimes ---
    community = persons[rng.random(n) < _source_share(noise.community_rate, pref[:, 2])]
    rec = b.records(community, _COMMUNITY)
    b.values(rec, _EXTERNAL, random_tokens(rng, len(rec), 30, "wm"))
    with_union = rng.random(len(rec)) < 0.6
    b.values(rec[with_union], _UNIONID, unionid[community[with_union]])
    with_phone = rng.random(len(rec)) < 0.3
    b.phones(rec[with_phone], phone_used[community[with_phone]], typed=True)

    # -- guest orders: a phone or an email only; everyone seen nowhere else checks out as a guest ------
    seen = np.zeros(n, dtype=bool)
    seen[np.concatenate(b.rec_person)] = True
    guest_count = (rng.random(n) < noise.guest_rate) * (1 + (rng.random(n) < 0.3)) + ~seen
    guests = np.repeat(persons, guest_count)
    rec = b.records(guests, _GUEST)
    by_email = has_email[guests] & (rng.random(len(rec)) < 0.4)
    b.phones(rec[~by_email], phone_used[guests[~by_email]], typed=True)
    b.emails(rec[by_email], local[guests[by_email]], domain[guests[by_email]], typed=True)

    # -- test and placeholder records that belong to nobody -----------------------------------------
    n_test = round(n * noise.test_record_rate)
    if n_test:
        test_guest = b.records(np.full(n_test - n_test // 2, -1, dtype=np.int64), _GUEST)
        b.values(
            test_guest, _EMAIL, np.full(len(test_guest), TEST_EMAIL, dtype=STRING_DTYPE), placeholder=True
        )
        test_pos = b.records(np.full(n_test // 2, -1, dtype=np.int64), _POS)
        b.values(test_pos, _CARD, numbered("TEST", np.arange(1, len(test_pos) + 1), 4), placeholder=True)
        b.phones(
            test_pos,
            np.full(len(test_pos), PLACEHOLDER_PHONES[0], dtype=np.int64),
            typed=False,
            placeholder=True,
        )

    return _render(
        rng,
        b,
        household=household,
        active_end_day=active_end_day,
        people=people,
        noise=noise,
        window_days=window_days,
        start=start,
        end=end,
    )


def _render(
    rng: np.random.Generator,
    b: _Builder,
    *,
    household: npt.NDArray[np.int64],
    active_end_day: npt.NDArray[np.float64],
    people: People,
    noise: IdentifierNoise,
    window_days: float,
    start: np.datetime64,
    end: np.datetime64,
) -> IdentityData:
    rec_person = np.concatenate(b.rec_person)
    rec_source = np.concatenate(b.rec_source)
    n_records = len(rec_person)
    row_record = np.concatenate(b.row_record)
    row_type = np.concatenate(b.row_type)
    row_phone = np.concatenate(b.row_phone)
    row_local = np.concatenate(b.row_email)
    row_domain = np.concatenate(b.row_domain)
    row_text = np.concatenate(b.row_text)
    placeholder = np.concatenate(b.row_placeholder)
    typed = np.concatenate(b.row_typed)
    n_rows = len(row_record)

    # when each record was seen: around the person's active time, anywhere for test records
    owned = rec_person >= 0
    owner = np.maximum(rec_person, 0)
    lo = np.where(owned, np.maximum(people.birth_day[owner] - 30.0, 0.0), 0.0)
    hi = np.where(owned, np.minimum(active_end_day[owner], window_days), window_days)
    rec_day = lo + rng.random(n_records) * np.maximum(hi - lo, 0.0)
    rec_day = np.minimum(rec_day, np.nextafter(window_days, 0.0))

    # record ids numbered per source in the order they were seen
    rec_number = np.empty(n_records, dtype=np.int64)
    by_time = np.lexsort((rec_day, rec_source))
    source_sorted = rec_source[by_time]
    first_of_source = np.searchsorted(source_sorted, source_sorted, side="left")
    rec_number[by_time] = np.arange(n_records) - first_of_source + 1
    prefix = pick(_PREFIXES, rec_source)
    record_id = np.strings.add(prefix, np.strings.zfill(to_text(rec_number), 7))

    # values: canonical, then typos and formatting for what people type
    is_phone = row_type == _PHONE
    is_email = (row_type == _EMAIL) & (row_domain >= 0)
    typo = typed & ~placeholder & (is_phone | is_email) & (rng.random(n_rows) < noise.typo_rate)
    canonical = row_text.copy()
    raw = row_text.copy()

    phone_rows = np.flatnonzero(is_phone)
    true_phone = row_phone[phone_rows]
    typed_phone = np.where(typo[phone_rows], _typo_digit(rng, true_phone), true_phone)
    canonical[phone_rows] = to_text(true_phone)
    raw[phone_rows] = _phone_variants(rng, typed_phone, noise.format_variant_rate)

    email_rows = np.flatnonzero(is_email)
    at_local = np.strings.add(row_local[email_rows], "@")
    canonical[email_rows] = np.strings.add(at_local, _DOMAINS[row_domain[email_rows]])
    typed_domain = np.where(
        typo[email_rows], _DOMAIN_TYPOS[row_domain[email_rows]], _DOMAINS[row_domain[email_rows]]
    )
    raw[email_rows] = _email_variants(rng, np.strings.add(at_local, typed_domain), noise.format_variant_rate)

    # who really shares a value: two or more persons behind one phone or email (every other identifier
    # is issued uniquely per person: random tokens and bijective numbering)
    row_person = rec_person[row_record]
    value_key = np.full(n_rows, -1, dtype=np.int64)
    value_key[phone_rows] = true_phone
    if len(email_rows):
        _, email_code = factorize(canonical[email_rows])
        value_key[email_rows] = 10**12 + email_code.reshape(-1)
    shared = np.zeros(n_rows, dtype=bool)
    candidate = np.flatnonzero((row_person >= 0) & ~placeholder & (value_key >= 0))
    if len(candidate):
        keys, value_code = np.unique(value_key[candidate], return_inverse=True)
        value_code = value_code.reshape(-1)
        stride = len(people) + 1
        pair = np.unique(value_code * stride + row_person[candidate])
        persons_per_value = np.bincount(pair // stride, minlength=len(keys))
        shared[candidate] = persons_per_value[value_code] >= 2

    # rows grouped by record, records in the order they were seen
    record_rank = np.empty(n_records, dtype=np.int64)
    record_order = np.argsort(rec_day, kind="stable")
    record_rank[record_order] = np.arange(n_records)
    order = np.argsort(record_rank[row_record] * n_rows + np.arange(n_rows), kind="stable")
    records = IdentifierRecords(
        record_id=record_id[row_record[order]],
        source=pick(SOURCES, rec_source[row_record[order]]),
        id_type=pick(ID_TYPES, row_type[order]),
        value=raw[order],
        observed_at=to_timestamps(start, rec_day[row_record[order]], end),
    )
    return IdentityData(
        records=records,
        record_id=record_id[record_order],
        record_person=rec_person[record_order],
        row_person=row_person[order],
        canonical_value=canonical[order],
        is_placeholder=placeholder[order],
        is_shared=shared[order],
        has_typo=typo[order],
        household_id=household,
    )
