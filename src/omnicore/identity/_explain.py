"""Explanations: the chain of links and records that joins two identifiers, or why they are apart."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import networkx as nx
import numpy as np

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE
from omnicore.identity._normalize import Normalizer, normalize_values, pseudonymize
from omnicore.identity._resolve import Resolution, _keys
from omnicore.identity._rules import DEFAULT_RULES, Identifier, MergeRules
from omnicore.storage import IdentityLinks, Store

__all__ = ["Explanation", "LinkEvidence", "explain", "explain_stored", "links_to_networkx"]


@attrs.frozen(kw_only=True)
class LinkEvidence:
    """One link with its evidence.

    Attributes
    ----------
    left, right
        The two identifiers (normalised values).
    kind
        ``"deterministic"``, ``"probabilistic"`` or ``"manual"``.
    record_id
        The record that made the link ('' where none).
    probability
        Match probability (1 for deterministic links).
    accepted
        False when a guardrail refused it.
    reason
        Why it was made or refused.
    """

    left: Identifier
    right: Identifier
    kind: str
    record_id: str
    probability: float
    accepted: bool
    reason: str


@attrs.frozen(kw_only=True)
class Explanation:
    """Why two identifiers are (not) one customer.

    Attributes
    ----------
    a, b
        The two identifiers, normalised.
    customer_a, customer_b
        Their customers (-1 for blocked, shared or unknown values).
    connected
        Whether they are one customer.
    path
        The accepted links joining them, in order from ``a`` to ``b`` (empty when not connected).
    refused
        Refused links touching either customer (or either identifier): what kept them apart.
    """

    a: Identifier
    b: Identifier
    customer_a: int
    customer_b: int
    connected: bool
    path: tuple[LinkEvidence, ...]
    refused: tuple[LinkEvidence, ...]

    def records(self) -> tuple[str, ...]:
        """The records along the path, in order (without repeats)."""
        seen: dict[str, None] = {}
        for step in self.path:
            if step.record_id:
                seen.setdefault(step.record_id, None)
        return tuple(seen)

    def summary(self) -> str:
        """The explanation in words."""
        if self.connected:
            hops = " -> ".join(
                [f"{self.path[0].left.id_type}:{self.path[0].left.value}" if self.path else ""]
                + [
                    f"{s.right.id_type}:{s.right.value} ({s.kind}, record {s.record_id or '-'})"
                    for s in self.path
                ]
            )
            return f"one customer ({self.customer_a}): {hops}"
        reasons = sorted({r.reason for r in self.refused})
        return (
            f"not connected: customers {self.customer_a} and {self.customer_b}; "
            f"refused links: {', '.join(reasons) if reasons else 'none'}"
        )


def links_to_networkx(links: IdentityLinks, *, accepted_only: bool = False) -> nx.MultiGraph:
    """The identity graph as a networkx multigraph for notebooks and drawing.

    Parameters
    ----------
    links
        Links with evidence (e.g. ``resolution.links`` or ``store.identity.links()``).
    accepted_only
        Drop refused links.

    Returns
    -------
    networkx.MultiGraph
        Nodes are ``(id_type, value)`` tuples; each edge carries ``kind``, ``record_id``,
        ``probability``, ``accepted`` and ``reason``.

    Examples
    --------
    >>> from omnicore.data import IdentifierRecords
    >>> from omnicore.identity import resolve
    >>> res = resolve(IdentifierRecords(record_id=["r1", "r1"], source=["pos", "pos"],
    ...     id_type=["member_card", "phone"], value=["MC1", "13912345678"], observed_at=["2024-01-01"] * 2))
    >>> g = links_to_networkx(res.links)
    >>> sorted(g.nodes)
    [('member_card', 'MC1'), ('phone', '+8613912345678')]
    """
    graph = nx.MultiGraph()
    rows = links.to_records()
    for row in rows:
        if accepted_only and not row["accepted"]:
            continue
        graph.add_edge(
            (row["left_type"], row["left_value"]),
            (row["right_type"], row["right_value"]),
            kind=row["kind"],
            record_id=row["record_id"],
            probability=row["probability"],
            accepted=row["accepted"],
            reason=row["reason"],
        )
    return graph


def _evidence(row: Mapping[str, Any], flip: bool = False) -> LinkEvidence:
    left = Identifier(row["left_type"], row["left_value"])
    right = Identifier(row["right_type"], row["right_value"])
    if flip:
        left, right = right, left
    return LinkEvidence(
        left=left,
        right=right,
        kind=row["kind"],
        record_id=str(row["record_id"]),
        probability=float(row["probability"]),
        accepted=bool(row["accepted"]),
        reason=row["reason"],
    )


def _explain(links: IdentityLinks, a: Identifier, b: Identifier, ca: int, cb: int) -> Explanation:
    graph = links_to_networkx(links, accepted_only=True)
    na, nb = (a.id_type, a.value), (b.id_type, b.value)
    path: list[LinkEvidence] = []
    connected = ca >= 0 and ca == cb
    if connected and na in graph and nb in graph and nx.has_path(graph, na, nb):
        nodes = nx.shortest_path(graph, na, nb)
        for u, v in itertools.pairwise(nodes):
            data = min(graph.get_edge_data(u, v).values(), key=lambda d: (-d["probability"], d["record_id"]))
            row = {"left_type": u[0], "left_value": u[1], "right_type": v[0], "right_value": v[1], **data}
            path.append(_evidence(row))
    refused = tuple(_evidence(r) for r in links.to_records() if not r["accepted"])
    return Explanation(
        a=a, b=b, customer_a=ca, customer_b=cb, connected=connected, path=tuple(path), refused=refused
    )


def _normalise(
    identifier: Identifier,
    rules: MergeRules,
    normalizers: Mapping[str, Normalizer] | None,
    key: bytes | None,
    normalized: bool,
) -> Identifier:
    if normalized:
        return identifier
    t = np.array([identifier.id_type], dtype=STRING_DTYPE)
    v = normalize_values(
        t, np.array([identifier.value], dtype=STRING_DTYPE), {**rules.normalizers(), **(normalizers or {})}
    )
    if not v[0]:
        raise ValidationError("not a valid identifier of its type", field="value", value=identifier.value)
    if key is not None:
        v = pseudonymize(t, v, key)
    return Identifier(identifier.id_type, str(v[0]))


def explain(
    resolution: Resolution,
    a: Identifier,
    b: Identifier,
    *,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    normalized: bool = False,
) -> Explanation:
    """Explain how two identifiers are connected in a resolution, or why they are not.

    Parameters
    ----------
    resolution
        The result of :func:`resolve`.
    a, b
        Two identifiers, raw (normalised with ``rules``) unless ``normalized=True``.
    rules, normalizers, key
        As given to :func:`resolve`.
    normalized
        True when ``a`` and ``b`` already hold stored values.

    Returns
    -------
    Explanation
        The path of accepted links (with their records) or the refused links in the way.

    Raises
    ------
    ValidationError
        If an identifier is not valid for its type.

    Examples
    --------
    >>> from omnicore.data import IdentifierRecords
    >>> from omnicore.identity import resolve
    >>> res = resolve(IdentifierRecords(
    ...     record_id=["r1", "r1", "r2", "r2"], source=["pos"] * 4,
    ...     id_type=["member_card", "phone", "phone", "email"],
    ...     value=["MC1", "13912345678", "13912345678", "li@x.com"], observed_at=["2024-01-01"] * 4))
    >>> e = explain(res, Identifier("member_card", "mc1"), Identifier("email", "li@x.com"))
    >>> e.connected, e.records()
    (True, ('r1', 'r2'))
    """
    a = _normalise(a, rules, normalizers, key, normalized)
    b = _normalise(b, rules, normalizers, key, normalized)
    ca, cb = (int(c) for c in resolution.lookup([a.id_type, b.id_type], [a.value, b.value]))
    links = resolution.links
    customers = [c for c in (ca, cb) if c >= 0]
    members = resolution.assignment.take(np.isin(resolution.assignment.customer_id, customers))
    wanted = np.concatenate(
        [_keys(members.id_type, members.value), _keys([a.id_type, b.id_type], [a.value, b.value])]
    )
    touch = np.isin(_keys(links.left_type, links.left_value), wanted) | np.isin(
        _keys(links.right_type, links.right_value), wanted
    )
    return _explain(links.take(touch), a, b, ca, cb)


def explain_stored(
    store: Store,
    a: Identifier,
    b: Identifier,
    *,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    normalized: bool = False,
) -> Explanation:
    """Explain two identifiers from what a store holds (see :func:`explain`).

    Examples
    --------
    >>> a, b = Identifier("phone", "13912345678"), Identifier("email", "li@x.com")
    >>> explain_stored(store, a, b).summary()  # doctest: +SKIP
    """
    a = _normalise(a, rules, normalizers, key, normalized)
    b = _normalise(b, rules, normalizers, key, normalized)
    ident = store.identity
    ca, cb = (int(c) for c in ident.lookup(np.array([a.id_type, b.id_type]), np.array([a.value, b.value])))
    customers = [c for c in (ca, cb) if c >= 0]
    types: list[Any] = [a.id_type, b.id_type]
    values: list[Any] = [a.value, b.value]
    if customers:
        m_type, m_value, _ = ident.members(np.array(customers, dtype=np.int64))
        types += list(np.asarray(m_type).tolist())
        values += list(np.asarray(m_value).tolist())
    links = ident.links(
        id_type=np.array(types, dtype=STRING_DTYPE), value=np.array(values, dtype=STRING_DTYPE)
    )
    return _explain(links, a, b, ca, cb)
