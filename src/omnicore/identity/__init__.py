"""Identity resolution: one customer across every channel.

Deterministic merging of identifier records with guardrails (per-type limits, blocked and shared
values, must-not-link pairs), stable customer ids with a merge history, survivorship, explanations,
erasure, and a Fellegi-Sunter matcher for records without a shared strong identifier.
"""

from omnicore.identity._compare import BlockingRule, Comparison, block, compare
from omnicore.identity._evaluate import ClusterMetrics, evaluate_clusters
from omnicore.identity._explain import Explanation, LinkEvidence, explain, explain_stored, links_to_networkx
from omnicore.identity._fellegi_sunter import (
    FellegiSunterModel,
    Matcher,
    Matches,
    fit_matcher,
    match_records,
    predict_matches,
    train_from_labels,
)
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
from omnicore.identity._survivorship import GoldenRecords, SurvivorshipRule, golden_records

__all__ = [
    "DEFAULT_RULES",
    "BlockingRule",
    "ClusterMetrics",
    "Comparison",
    "ComponentResult",
    "CustomerAssignment",
    "EmailNormalizer",
    "ErasureReport",
    "Explanation",
    "FellegiSunterModel",
    "GoldenRecords",
    "Identifier",
    "IdentifierRule",
    "LinkEvidence",
    "Matcher",
    "Matches",
    "MergeRules",
    "Normalizer",
    "PhoneNormalizer",
    "Resolution",
    "ResolutionStats",
    "SurvivorshipRule",
    "TextNormalizer",
    "add_records",
    "block",
    "compare",
    "constrained_components",
    "counter_allocator",
    "erase_person",
    "evaluate_clusters",
    "explain",
    "explain_stored",
    "fit_matcher",
    "golden_records",
    "link_identifiers",
    "links_to_networkx",
    "match_records",
    "normalize_records",
    "normalize_values",
    "predict_matches",
    "pseudonymize",
    "rebuild",
    "resolve",
    "stable_customer_ids",
    "train_from_labels",
]
