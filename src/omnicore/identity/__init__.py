"""Identity resolution: one customer across every channel.

Deterministic merging of identifier records with guardrails (per-type limits, blocked and shared
values, must-not-link pairs), stable customer ids with a merge history, survivorship, explanations,
erasure, and a Fellegi-Sunter matcher for records without a shared strong identifier.
"""

from omnicore.identity._evaluate import ClusterMetrics, evaluate_clusters
from omnicore.identity._graph import ComponentResult, constrained_components
from omnicore.identity._ids import counter_allocator, stable_customer_ids
from omnicore.identity._normalize import (
    EmailNormalizer,
    Normalizer,
    PhoneNormalizer,
    TextNormalizer,
    normalize_values,
    pseudonymize,
)
from omnicore.identity._resolve import (
    CustomerAssignment,
    Resolution,
    ResolutionStats,
    normalize_records,
    resolve,
)
from omnicore.identity._rules import DEFAULT_RULES, Identifier, IdentifierRule, MergeRules
from omnicore.identity._store import ErasureReport, add_records, erase_person, link_identifiers, rebuild

__all__ = [
    "DEFAULT_RULES",
    "ClusterMetrics",
    "ComponentResult",
    "CustomerAssignment",
    "EmailNormalizer",
    "ErasureReport",
    "Identifier",
    "IdentifierRule",
    "MergeRules",
    "Normalizer",
    "PhoneNormalizer",
    "Resolution",
    "ResolutionStats",
    "TextNormalizer",
    "add_records",
    "constrained_components",
    "counter_allocator",
    "erase_person",
    "evaluate_clusters",
    "link_identifiers",
    "normalize_records",
    "normalize_values",
    "pseudonymize",
    "rebuild",
    "resolve",
    "stable_customer_ids",
]
