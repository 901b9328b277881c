"""omnicore.campaigns against rule-engine (a general-purpose Python rule engine), side by side.

Measures, on seeded synthetic events:

1. predicates only (event type, category, price threshold: what rule-engine can express):
   rule-engine evaluating every rule on every event, omnicore's compiled batch evaluation, and the
   decisions of both compared row for row (they must be identical);
2. omnicore batch with windows, absence timers, first-time rules and every policy (consent,
   sensitive-data consent, caps, exclusion, re-eligibility, holdout, quiet hours), 100 and 1,000 rules;
   the events are built once from numpy arrays (text as fixed-width '<U' arrays, coded on construction:
   the build time and what the coding adds to it are printed), and with the first rule count also from
   StringDType text, which Events keeps no codes for (as for events read back from a store), so that
   evaluation codes the text itself ("text uncoded"; its decisions must be identical);
3. omnicore streaming with state in SQLite (micro-batches committed atomically, and single events).

omnicore's compiled kernels (numba) are warmed up on a small batch before anything is timed (the first
call compiles them or loads them from the on-disk cache). Each omnicore measurement is repeated
(``--repeat``) and reported as best and median; the machine's load average is printed with the
results, since timings on a shared machine are noisy. Targets (issue #7): batch with 100 rules,
windows and policies >= 5M events/s; streaming with state in SQLite >= 50k events/s.

Run: ``PYTHONPATH=src python benchmarks/campaigns_vs_rule_engine.py [--events 1000000] [--rules 100 1000]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
import uuid as _uuid
from pathlib import Path
from typing import Any

import numpy as np

from omnicore.campaigns import (
    ExclusionGroup,
    FrequencyCap,
    Policies,
    Profiles,
    QuietHours,
    RuleSet,
    community_invite,
    compile_rules,
    count_within,
    coupon,
    evaluate,
    field,
    message,
    not_followed_by,
    on,
    rule,
)
from omnicore.data import STRING_DTYPE, Events, _text_codes
from omnicore.storage import ConsentRecords

TYPES = np.array(["browse", "add_to_cart", "purchase", "chat_message", "search"])
TYPE_P = np.array([0.55, 0.15, 0.08, 0.12, 0.10])
CATEGORIES = np.array([f"cat{i:02d}" for i in range(20)])
TEXTS = np.array(["", "有防晒霜吗", "奶粉多少钱", "any sunscreen?", "hello", "物流到哪了", "coupon please"])
T0 = np.datetime64("2024-06-01T00:00:00", "us")


def event_columns(n: int, n_customers: int, seed: int) -> dict[str, Any]:
    """The events as plain numpy arrays (text as fixed-width '<U' arrays)."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 30 * 86400, n))
    kinds = rng.choice(TYPES.size, n, p=TYPE_P)
    return {
        "customer_id": rng.integers(0, n_customers, n),
        "event_type": TYPES[kinds],
        "timestamp": T0 + seconds.astype("timedelta64[s]"),
        "properties": {
            "category": CATEGORIES[rng.integers(0, CATEGORIES.size, n)],
            "price": np.round(rng.gamma(2.0, 60.0, n), 2),
            "text": np.where(kinds == 3, TEXTS[rng.integers(0, TEXTS.size, n)], ""),
        },
    }


def make_events(n: int, n_customers: int, seed: int) -> Events:
    return Events(**event_columns(n, n_customers, seed))


def as_uncoded(columns: dict[str, Any]) -> dict[str, Any]:
    """The same columns with text already in StringDType: Events then keeps no dictionary codes (as for
    events read back from a store), and evaluation codes the text itself."""

    def text(a: Any) -> Any:
        return a.astype(STRING_DTYPE) if a.dtype.kind == "U" else a

    return {
        **{k: text(v) for k, v in columns.items() if k != "properties"},
        "properties": {k: text(v) for k, v in columns["properties"].items()},
    }


def simple_rules(n_rules: int, seed: int) -> list[tuple[str, str, float]]:
    """(event type, category, price threshold) per rule."""
    rng = np.random.default_rng(seed)
    types = rng.choice(["browse", "add_to_cart", "purchase", "search"], n_rules)
    cats = rng.choice(CATEGORIES, n_rules)
    prices = np.round(rng.uniform(20, 400, n_rules), 0)
    return [(str(t), str(c), float(p)) for t, c, p in zip(types, cats, prices, strict=True)]


def predicate_ruleset(specs: list[tuple[str, str, float]]) -> RuleSet:
    return RuleSet(
        rules=[
            rule(f"r{i}")
            .when(on(t, where=(field("category") == c) & (field("price") > p)))
            .then(message("wecom", consent_purpose=""))
            for i, (t, c, p) in enumerate(specs)
        ]
    )


def full_ruleset(specs: list[tuple[str, str, float]]) -> RuleSet:
    """The same triggers, with windows, absence, first-time, keywords and every policy."""
    rules = []
    for i, (t, c, p) in enumerate(specs):
        b = rule(f"r{i}").when(on(t, where=(field("category") == c) & (field("price") > p)))
        kind = i % 10
        if kind == 0:
            b = b.within(count_within(t, at_least=2, days=3, where=field("category") == c))
        elif kind == 1 and t == "add_to_cart":
            b = b.unless(not_followed_by("purchase", hours=24))
        elif kind == 2:
            b = b.first_time()
        elif kind == 3:
            b = b.where(field("segment") != "Hibernating")
        elif kind == 4:
            b = b.exclusive("community").priority(i % 7)
        elif kind == 5:
            b = b.reeligible_after(days=7).holdout(0.1)
        action = (
            community_invite("wecom", community=c)
            if kind == 4
            else coupon("sms", template=f"C{i}")
            if kind in (1, 5)
            else message("push" if kind == 6 else "wecom", template=f"T{i}")
        )
        rules.append(b.then(action))
    rules.append(
        rule("sunscreen")
        .when(on("chat_message", where=field("text").mentions("防晒", "sunscreen")))
        .then(message("wecom", template="live"))
    )
    policies = Policies(
        caps=[
            FrequencyCap(scope="channel", limit=3, period_seconds=86400),
            FrequencyCap(scope="global", limit=5, period_seconds=7 * 86400),
        ],
        exclusion_groups=[ExclusionGroup("community", window_seconds=7 * 86400)],
        quiet_hours=QuietHours(start_hour=22, end_hour=8),
        sensitive_fields={"distance_km": "precise_location"},
    )
    return RuleSet(rules=rules, policies=policies)


def profiles_for(n_customers: int, seed: int) -> Profiles:
    rng = np.random.default_rng(seed)
    return Profiles(
        customer_id=np.arange(n_customers),
        attributes={
            "segment": np.array(["Champions", "Loyal", "At Risk", "Hibernating"])[
                rng.integers(0, 4, n_customers)
            ],
            "timezone": np.where(rng.random(n_customers) < 0.9, "Asia/Shanghai", "Europe/London"),
        },
    )


def ledger_for(n_customers: int, seed: int) -> ConsentRecords:
    rng = np.random.default_rng(seed)
    granted = rng.random(n_customers) < 0.85
    return ConsentRecords(
        subject_id=np.arange(n_customers),
        purpose=np.full(n_customers, "marketing", dtype=STRING_DTYPE),
        granted=granted,
        recorded_at=np.full(n_customers, np.datetime64("2024-01-01", "us")),
        source=np.full(n_customers, "mini_program", dtype=STRING_DTYPE),
    )


def same_decisions(a: Any, b: Any) -> bool:
    columns = ("rule_id", "customer_id", "event_key", "status", "decided_at", "send_at", "reason")
    return len(a) == len(b) and all(np.array_equal(getattr(a, c), getattr(b, c)) for c in columns)


def run_rule_engine(
    events: Events, specs: list[tuple[str, str, float]]
) -> tuple[float, set[tuple[int, int]]]:
    import rule_engine

    rules = [
        rule_engine.Rule(f"event_type == '{t}' and category == '{c}' and price > {p}") for t, c, p in specs
    ]
    records = [
        {"event_type": str(e), "category": str(c), "price": float(p)}
        for e, c, p in zip(
            events.event_type.tolist(),
            events.properties["category"].tolist(),
            events.properties["price"].tolist(),
            strict=True,
        )
    ]
    start = time.perf_counter()
    matches = {(r, i) for i, rec in enumerate(records) for r, ru in enumerate(rules) if ru.matches(rec)}
    return time.perf_counter() - start, matches


CPU: dict[str, float] = {}  # label|rules -> best process CPU seconds (the run's cost without waiting)


def timed(fn: Any, repeat: int, label: str = "") -> tuple[float, float, Any]:
    """Best and median wall time of ``repeat`` calls, and the last result (best CPU time kept in CPU)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if label:
        CPU[label] = min(cpu)
    return min(times), statistics.median(times), out


def uuid() -> str:
    return _uuid.uuid4().hex[:8]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def uptime() -> str:
    """The output of ``uptime`` (the load the timings were taken under)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--rules", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--peer-events", type=int, default=3_000, help="events given to rule-engine (it is slow)"
    )
    parser.add_argument(
        "--stream-events", type=int, default=200_000, help="events for the SQLite streaming run"
    )
    parser.add_argument("--micro-batch", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats of each omnicore run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    columns = event_columns(args.events, args.customers, args.seed)
    uncoded_columns = as_uncoded(columns)  # text already StringDType: Events keeps no codes
    build_s = []
    for _ in range(3):
        start = time.perf_counter()
        events = Events(**columns)
        build_s.append(time.perf_counter() - start)
    profiles = profiles_for(args.customers, args.seed)
    ledger = ledger_for(args.customers, args.seed)
    rows: list[tuple[str, int, int, float, float]] = []
    print(f"{args.events:,} events, {args.customers:,} customers, 30 days, seed {args.seed}")
    print(f"before: {load()}\nuptime: {uptime()}")
    # warm-up: compile (or load from numba's cache) every kernel before timing anything
    warm = events.take(np.arange(min(20_000, len(events))))
    evaluate(
        compile_rules(full_ruleset(simple_rules(10, args.seed))), warm, profiles=profiles, consent=ledger
    )
    print("warmed up (numba kernels compiled or loaded from cache)")
    uncoded = Events(**uncoded_columns)
    original = _text_codes.ENCODE_MIN_ROWS
    _text_codes.ENCODE_MIN_ROWS = args.events + 1  # coding switched off, to measure what it costs
    plain_build_s = []
    for _ in range(3):
        start = time.perf_counter()
        Events(**columns)
        plain_build_s.append(time.perf_counter() - start)
    _text_codes.ENCODE_MIN_ROWS = original
    print(
        f"Events built from the numpy arrays ('<U' text) in {min(build_s) * 1e3:,.0f} ms (best of 3; not "
        f"timed below); coding the text adds {(min(build_s) - min(plain_build_s)) * 1e3:,.0f} ms net "
        f"(with coding off: {min(plain_build_s) * 1e3:,.0f} ms; codes also make the blank-value check "
        f"one per distinct value)\n"
    )

    for n_rules in args.rules:
        specs = simple_rules(n_rules, args.seed)
        # 1. predicates only, against rule-engine on a sample
        sample = events.take(np.arange(min(args.peer_events, len(events))))
        peer_s, peer_matches = run_rule_engine(sample, specs)
        compiled_p = compile_rules(predicate_ruleset(specs))
        ours = evaluate(compiled_p, sample).decisions
        rule_index = {f"r{i}": i for i in range(n_rules)}
        key_rows = {
            f"{c}|{e}|{s}": i
            for i, (c, e, s) in enumerate(
                zip(
                    sample.customer_id.tolist(),
                    sample.event_type.tolist(),
                    sample.timestamp.view(np.int64).tolist(),
                    strict=True,
                )
            )
        }
        our_matches = {
            (rule_index[r], key_rows[k])
            for r, k in zip(ours.rule_id.tolist(), ours.event_key.tolist(), strict=True)
        }
        identical = our_matches == peer_matches
        rows.append(("rule-engine, predicates", n_rules, len(sample), peer_s, peer_s))
        pred_s, pred_med, _ = timed(
            lambda c=compiled_p: evaluate(c, events), args.repeat, f"omnicore batch, predicates|{n_rules}"
        )
        rows.append(("omnicore batch, predicates", n_rules, len(events), pred_s, pred_med))
        print(
            f"[{n_rules} rules] decisions identical to rule-engine on {len(sample):,} events "
            f"({len(peer_matches):,} matches): {identical}"
        )
        if not identical:
            raise SystemExit("decisions differ from rule-engine")
        # 2. batch with windows and policies
        compiled = compile_rules(full_ruleset(specs))
        full_s, full_med, result = timed(
            lambda c=compiled: evaluate(
                c, events, profiles=profiles, consent=ledger, now=T0 + np.timedelta64(31, "D")
            ),
            args.repeat,
            f"omnicore batch, windows+policies|{n_rules}",
        )
        counts: dict[str, int] = {}
        for status in result.decisions.status.tolist():
            counts[status] = counts.get(status, 0) + 1
        summary = dict(sorted(counts.items()))
        print(f"[{n_rules} rules] full batch decisions: {len(result.decisions):,} {summary}")
        rows.append(("omnicore batch, windows+policies", n_rules, len(events), full_s, full_med))
        if n_rules == args.rules[0]:  # the same, on events whose text evaluation has to code itself
            plain_s, plain_med, plain = timed(
                lambda c=compiled: evaluate(
                    c, uncoded, profiles=profiles, consent=ledger, now=T0 + np.timedelta64(31, "D")
                ),
                args.repeat,
                f"omnicore batch, w+p, text uncoded|{n_rules}",
            )
            if not same_decisions(plain.decisions, result.decisions):
                raise SystemExit("decisions differ between coded and uncoded text")
            rows.append(("omnicore batch, w+p, text uncoded", n_rules, len(events), plain_s, plain_med))
        # 3. streaming with state in SQLite
        stream = _stream(
            compiled,
            events.take(np.arange(min(args.stream_events, len(events)))),
            profiles,
            ledger,
            args.micro_batch,
            args.repeat,
            n_rules,
        )
        if stream is not None:
            rows.extend((label, n_rules, n, best, med) for label, n, best, med in stream)

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\nafter: {load()}\nuptime: {uptime()}")
    print(
        f"\n{'what':<40} {'rules':>6} {'events':>10} {'best s':>8} {'median s':>9} "
        f"{'events/s best':>14} {'events/s median':>16} {'CPU s':>7} {'events/CPU s':>13}"
    )
    for label, n_rules, n, best, med in rows:
        cpu = CPU.get(f"{label}|{n_rules}")
        cpu_cols = f" {cpu:>7.3f} {n / cpu:>13,.0f}" if cpu else ""
        print(
            f"{label:<40} {n_rules:>6} {n:>10,} {best:>8.3f} {med:>9.3f} {n / best:>14,.0f} {n / med:>16,.0f}"
            + cpu_cols
        )
    print(
        "(targets are judged on wall time; CPU s is this process's best CPU time, "
        "which a loaded machine inflates less)"
    )
    for n_rules in args.rules:
        peer_row = next(r for r in rows if r[0].startswith("rule-engine") and r[1] == n_rules)
        peer = peer_row[2] / peer_row[3]
        for label, nr, n, best, _ in rows:
            if nr == n_rules and not label.startswith("rule-engine"):
                print(f"ratio {label} / rule-engine ({n_rules} rules): {n / best / peer:,.0f}x (best)")
    for label, n_rules, n, best, med in rows:
        target = 5_000_000 if label == "omnicore batch, windows+policies" else 50_000
        micro = "/commit" in label and not label.endswith(" 1/commit")  # single events: latency only
        if n_rules == 100 and (label.startswith("omnicore batch, windows") or micro):
            verdict = "met" if n / best >= target else "NOT met"
            print(
                f"target {label} >= {target:,} events/s: {verdict} "
                f"(best {n / best:,.0f}, median {n / med:,.0f})"
            )
    print(f"peak memory: {peak_gb:.2f} GB")


def _stream(
    compiled: Any,
    events: Events,
    profiles: Profiles,
    ledger: ConsentRecords,
    micro_batch: list[int],
    repeat: int,
    n_rules: int,
) -> list[tuple[str, int, float, float]] | None:
    """(label, events, best seconds, median seconds) per streaming mode.

    Every timed run streams into a fresh SQLite file holding only the consent ledger (opened and
    filled before the clock starts), so runs do not pay for each other's decisions: inserts slow
    down once the decisions table outgrows SQLite's page cache, whatever the engine does.
    """
    from omnicore import StorageError, open_store
    from omnicore.campaigns import CampaignEngine

    out = []
    with tempfile.TemporaryDirectory() as tmp:

        def fresh_store() -> Any:
            store = open_store(f"sqlite:///{Path(tmp) / f'bench-{uuid()}.db'}", tenant="bench")
            store.campaigns.record_consent(ledger)
            return store

        try:
            fresh_store().close()
        except (ImportError, StorageError) as exc:
            print(f"streaming skipped: SQLite store unavailable ({exc})")
            return None

        def stream(chunks: list[Events], label: str) -> tuple[float, float]:
            stores = [fresh_store() for _ in range(repeat)]
            runs = iter(stores)

            def run() -> None:
                engine = CampaignEngine(next(runs), compiled, profiles=profiles, name="bench")
                for chunk in chunks:
                    engine.process(chunk)

            best, med, _ = timed(run, repeat, f"{label}|{n_rules}")
            for store in stores:
                store.close()
            return best, med

        for size in micro_batch:
            label = f"omnicore stream SQLite, {size}/commit"
            chunks = [
                events.take(np.arange(a, min(a + size, len(events)))) for a in range(0, len(events), size)
            ]
            out.append((label, len(events), *stream(chunks, label)))
        single = events.take(np.arange(min(1_000, len(events))))
        label = "omnicore stream SQLite, 1/commit"
        out.append((label, len(single), *stream([single.take([i]) for i in range(len(single))], label)))
    return out


if __name__ == "__main__":
    main()
