"""A minimal in-memory Store (campaign concern only) with transactional rollback and fault injection.

Used until the foundation's memory/SQLite adapters are on main; the engine tests run against it and,
when they are importable, against ``open_store("memory://")`` and SQLite too.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.storage import ConsentRecords, DecisionRecords


class CrashError(RuntimeError):
    """Injected failure."""


class FakeCampaigns:
    def __init__(self) -> None:
        self.decision_rows: list[DecisionRecords] = []
        self.keys: set[str] = set()
        self.ledger: list[ConsentRecords] = []
        self.kv: dict[str, dict[str, bytes]] = {}
        self.fail_on_put = False

    def record_decisions(self, decisions: DecisionRecords) -> npt.NDArray[np.bool_]:
        new = np.zeros(len(decisions), dtype=bool)
        for i, key in enumerate(decisions.decision_key.tolist()):
            if key not in self.keys:
                self.keys.add(key)
                new[i] = True
        if new.any():
            self.decision_rows.append(decisions.take(np.flatnonzero(new)))
        return new

    def decisions(self, **_: Any) -> DecisionRecords:
        return DecisionRecords.concat(self.decision_rows)

    def record_consent(self, records: ConsentRecords) -> int:
        self.ledger.append(records)
        return len(records)

    def consent_ledger(self, *, subject_ids: npt.ArrayLike | None = None) -> ConsentRecords:
        if not self.ledger:
            return ConsentRecords(
                subject_id=np.empty(0, np.int64),
                purpose=np.empty(0, str),
                granted=np.empty(0, bool),
                recorded_at=np.empty(0, "datetime64[us]"),
                source=np.empty(0, str),
            )
        all_rows = ConsentRecords.concat(self.ledger)
        if subject_ids is None:
            return all_rows
        keep = np.isin(all_rows.subject_id, np.asarray(subject_ids))
        return all_rows.take(np.flatnonzero(keep))

    def get_state(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        ns = self.kv.get(namespace, {})
        return {k: ns[k] for k in keys if k in ns}

    def put_state(self, namespace: str, items: Mapping[str, bytes]) -> None:
        if self.fail_on_put:
            raise CrashError("injected crash in put_state")
        self.kv.setdefault(namespace, {}).update(items)

    def delete_state(self, namespace: str, keys: Sequence[str]) -> int:
        ns = self.kv.get(namespace, {})
        return sum(ns.pop(k, None) is not None for k in keys)

    def scan_state(self, namespace: str, *, prefix: str = "") -> dict[str, bytes]:
        return {k: v for k, v in self.kv.get(namespace, {}).items() if k.startswith(prefix)}


class FakeStore:
    def __init__(self) -> None:
        self.campaigns = FakeCampaigns()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        snapshot = copy.deepcopy(self.campaigns.__dict__)
        try:
            yield
        except BaseException:
            self.campaigns.__dict__.update(snapshot)
            raise
