"""Small generated identity data with ground truth, for tests (the synthetic retailer is larger)."""

from __future__ import annotations

import numpy as np

from omnicore.data import IdentifierRecords

SOURCES = ("online", "pos", "mini_program", "community")


def people_records(
    n_people: int, *, seed: int, family_share: float = 0.1, placeholder_rate: float = 0.03
) -> tuple[IdentifierRecords, dict[str, int]]:
    """Records of ``n_people`` people across channels; returns the records and record -> person."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str, str, str]] = []
    truth: dict[str, int] = {}
    phones = [[f"13{rng.integers(100_000_000, 999_999_999)}"] for _ in range(n_people)]
    for p in range(n_people):
        if rng.random() < 0.3:
            phones[p].append(f"15{rng.integers(100_000_000, 999_999_999)}")
    # families: consecutive people share a home phone, each keeps an own card
    family_phone = {}
    for p in range(0, n_people - 1, 2):
        if rng.random() < family_share:
            home = f"0755{rng.integers(10_000_000, 99_999_999)}"
            family_phone[p] = family_phone[p + 1] = home
    n_rec = 0
    for p in range(n_people):
        card = f"mc{p:06d}"
        email = f"user{p}@example.com"
        openid = f"oid{p:07d}"
        for _ in range(int(rng.integers(1, 4))):
            rid = f"r{n_rec:07d}"
            n_rec += 1
            source = SOURCES[int(rng.integers(0, len(SOURCES)))]
            when = f"2024-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 28)):02d}"
            ids: list[tuple[str, str]] = []
            if source == "pos":
                ids.append(("member_card", card))
            if source in ("online", "pos") or rng.random() < 0.5:
                ids.append(("phone", phones[p][int(rng.integers(0, len(phones[p])))]))
            if source == "online":
                ids.append(("email", email.upper() if rng.random() < 0.3 else email))
            if source in ("mini_program", "community"):
                ids.append(("wechat_openid", openid))
                if rng.random() < 0.5:
                    ids.append(("phone", phones[p][0]))
            if p in family_phone and source == "pos":
                ids.append(("phone", family_phone[p]))
            if rng.random() < placeholder_rate:
                ids.append(("phone", "13800000000"))
            if rng.random() < placeholder_rate:
                ids.append(("email", "test@test.com"))
            truth[rid] = p
            for t, v in ids:
                rows.append((rid, source, t, v, when))
    order = rng.permutation(len(rows))
    cols = list(zip(*[rows[i] for i in order], strict=True))
    records = IdentifierRecords(
        record_id=np.array(cols[0]),
        source=np.array(cols[1]),
        id_type=np.array(cols[2]),
        value=np.array(cols[3]),
        observed_at=np.array(cols[4], dtype="datetime64[us]"),
    )
    return records, truth
