"""Asset checks of every corpus stage, evaluated as the partition is written and reported with
its materialisation (so a failing blocking check stops the downstream stages of the run).

- accounting (blocking): every input document is kept or rejected; for a stage fed document
  for document by its upstream, its input is exactly what the upstream kept.
- schema (blocking): the kept rows carry the columns the next stages read (documents: id, text,
  source, snapshot; WARC records, persona rows and signatures: their own schema).
- drop_rate_vs_previous / duplicate_rate_vs_previous (warning): the share rejected moved by
  at most MAX_RATE_JUMP from the previous partition in partition order. A jump flags a stage
  that broke (an extractor that stops finding text, a language model that stops loading), but
  normal drift jumps too (a re-crawl that overlaps last month more than usual), so by default
  it warns with the figures and the run goes on; `CURATION_BLOCKING_CHECKS` makes it block.
- language_purity (blocking): >= 0.98 of the kept documents have Hangul in at least a tenth of
  their letters (not the language filter's own score; Korean software help pages run down to
  13 % Hangul, Japanese, Chinese and English pages have none).
- persona_marginals (warning): sex, age band and province shares of a persona release against
  the published population (total variation distance within a sample-size-aware tolerance).
- quarantined_files (warning): no input file of the partition was unreadable.

Blocking is per check name (DEFAULT_BLOCKING), overridden by CURATION_BLOCKING_CHECKS, e.g.
`duplicate_rate_vs_previous=on,language_purity=off`. Dagster fixes whether a check blocks when
the definitions load, so the variable is read then (restart the code location to change it).
A failed blocking check has severity ERROR, any other WARN.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
import pyarrow as pa

from curation.documents import missing_columns
from curation.io import Manifest
from curation.spec import StageSpec
from curation.text import hangul_ratio

MAX_RATE_JUMP = 0.35
MIN_DOCUMENTS_FOR_RATE = 20  # below this a rate says little; the check passes with a note
MIN_PURITY = 0.98
MIN_HANGUL_SHARE = 0.1

# Resident registration population by sex, age band (adults: the personas are 19 and over) and
# province, shares rounded to 0.1 percentage point. Source: Ministry of the Interior and Safety,
# "주민등록 인구 및 세대현황", December 2024, via KOSIS table DT_1B040A3 (https://kosis.kr).
# Rounded from the published counts; tolerances below are far wider than the rounding.
POPULATION_SHARES: dict[str, dict[str, float]] = {
    "sex": {"남자": 0.498, "여자": 0.502},
    "age_band": {"19-29": 0.152, "30-39": 0.155, "40-49": 0.178, "50-59": 0.199, "60-69": 0.172, "70+": 0.144},
    "province": {"서울": 0.182, "부산": 0.064, "대구": 0.046, "인천": 0.059, "광주": 0.028, "대전": 0.028,
                 "울산": 0.021, "세종": 0.008, "경기": 0.267, "강원": 0.030, "충청북": 0.031, "충청남": 0.042,
                 "전북": 0.034, "전라남": 0.035, "경상북": 0.050, "경상남": 0.063, "제주": 0.013},
}


def age_band(age: int | None) -> str | None:
    if age is None:
        return None
    for low, name in ((70, "70+"), (60, "60-69"), (50, "50-59"), (40, "40-49"), (30, "30-39")):
        if age >= low:
            return name
    return "19-29"


DEFAULT_BLOCKING = {"accounting": True, "schema": True, "language_purity": True, "drop_rate_vs_previous": False,
                    "duplicate_rate_vs_previous": False, "persona_marginals": False, "quarantined_files": False,
                    "prompt_near_duplicates": False, "topic_coverage": False, "distinct_ngrams": False}
BLOCKING_ENV = "CURATION_BLOCKING_CHECKS"


def blocking_policy(value: str | None = None) -> dict[str, bool]:
    """DEFAULT_BLOCKING with the overrides of `value` (default: $CURATION_BLOCKING_CHECKS),
    a comma list of name=on|off; an unknown name or value is an error naming it."""
    policy = dict(DEFAULT_BLOCKING)
    value = os.environ.get(BLOCKING_ENV, "") if value is None else value
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, switch = item.partition("=")
        if name not in policy or switch not in ("on", "off"):
            raise ValueError(f"{BLOCKING_ENV}: {item!r} is not name=on|off with a check name of "
                             f"{sorted(policy)}")
        policy[name] = switch == "on"
    return policy


BLOCKING = blocking_policy()

MAX_NEAR_DUPLICATE_RATE = 0.2
MIN_TOPIC_COVERAGE = 0.5
MIN_DISTINCT_2 = 0.3
EXTRA_CHECKS = {"language_purity": dict(description=f">= {MIN_PURITY} of kept documents have >= "
                                                    f"{MIN_HANGUL_SHARE} Hangul letters"),
                "persona_marginals": dict(description="sex / age band / province shares vs the resident population"),
                "quarantined_files": dict(description="no input file was quarantined as unreadable (a warning: the "
                                                      "other files were curated)"),
                # collapse guards of generated data (values computed by the asset, in its manifest's extra)
                "prompt_near_duplicates": dict(description=f"at most {MAX_NEAR_DUPLICATE_RATE} of the prompts are "
                                                           "near-duplicates of another (MinHash dedup)"),
                "topic_coverage": dict(description=f"the prompts use at least {MIN_TOPIC_COVERAGE} of the subtopics "
                                                   "they could (fewer prompts than subtopics reach fewer), and every "
                                                   "task type of the mix"),
                "distinct_ngrams": dict(description=f"distinct-2 of the responses' words at least {MIN_DISTINCT_2}")}


def check_specs(key: dg.AssetKey, spec: StageSpec) -> list[dg.AssetCheckSpec]:
    unknown = spec.checks - set(EXTRA_CHECKS)
    if unknown:
        raise ValueError(f"{spec.name}: unknown checks {sorted(unknown)}; known: {sorted(EXTRA_CHECKS)}")
    described = {"accounting": "rows_in == kept + rejected, and == the upstream's kept documents",
                 "schema": f"kept rows carry {', '.join(spec.required_columns)}",
                 f"{spec.rate}_rate_vs_previous": f"rejected share within {MAX_RATE_JUMP} of the previous "
                                                  "partition's",
                 **{name: EXTRA_CHECKS[name]["description"] for name in sorted(spec.checks)}}
    return [dg.AssetCheckSpec(name, asset=key, blocking=BLOCKING[name], description=description)
            for name, description in described.items()]


def skipped_results(key: dg.AssetKey, spec: StageSpec, reason: str) -> list[dg.AssetCheckResult]:
    """The checks of an asset that was skipped (no endpoint): reported as not evaluated, with the
    reason, since Dagster requires a result for every check an asset declares."""
    return [dg.AssetCheckResult(asset_key=key, check_name=check.name, passed=True,
                                metadata={"not_evaluated": f"asset skipped: {reason}"})
            for check in check_specs(key, spec)]


def _result(key: dg.AssetKey, name: str, passed: bool, metadata: dict) -> dg.AssetCheckResult:
    """A failed blocking check is an error, any other failure a warning. The asset key is named,
    since one step may report checks of several assets (a fused chain)."""
    severity = dg.AssetCheckSeverity.ERROR if BLOCKING[name] else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(asset_key=key, check_name=name, passed=passed, metadata=metadata, severity=severity)


def failed_blocking(results: list[dg.AssetCheckResult]) -> list[str]:
    """Names of the blocking checks that failed: what stops the stages downstream."""
    return [result.check_name for result in results if not result.passed and BLOCKING[result.check_name]]


@dataclass
class KeptObserver:
    """Sees every kept batch once, as it is written: what the checks need, nothing more."""

    purity: bool = False
    marginals: bool = False
    documents: int = 0
    with_hangul: int = 0
    schema: pa.Schema | None = None
    counts: dict[str, Counter] = field(default_factory=lambda: {k: Counter() for k in POPULATION_SHARES})

    def __call__(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
        self.documents += table.num_rows
        if self.purity and "text" in table.column_names:
            self.with_hangul += sum(hangul_ratio(t or "") >= MIN_HANGUL_SHARE
                                    for t in table.column("text").to_pylist())
        if self.marginals:
            self.counts["sex"].update(table.column("sex").to_pylist())
            self.counts["age_band"].update(age_band(a) for a in table.column("age").to_pylist())
            self.counts["province"].update(table.column("province").to_pylist())


def observer_for(spec: StageSpec) -> KeptObserver:
    """The observer that collects what the spec's checks need."""
    return KeptObserver(purity="language_purity" in spec.checks, marginals="persona_marginals" in spec.checks)


def _rate(manifest: Manifest) -> float:
    return manifest.rows_rejected / manifest.rows_in if manifest.rows_in else 0.0


def _tvd(counts: Counter, shares: dict[str, float]) -> tuple[float, float]:
    """Total variation distance of observed shares from `shares`, and a tolerance that shrinks
    with the sample: 0.1 plus about twice the distance a sample of that size shows by chance."""
    total = sum(counts.values())
    keys = set(shares) | set(counts)
    distance = 0.5 * sum(abs(counts.get(k, 0) / total - shares.get(k, 0.0)) for k in keys) if total else 1.0
    return distance, 0.1 + 0.8 * (len(shares) / max(total, 1)) ** 0.5


def check_results(key: dg.AssetKey, spec: StageSpec, manifest: Manifest, upstream: Manifest | None,
                  previous: Manifest | None, observer: KeptObserver) -> list[dg.AssetCheckResult]:
    results = []
    expected_in = upstream.rows_kept if upstream is not None else manifest.rows_in
    balanced = manifest.rows_in == manifest.rows_kept + manifest.rows_rejected == expected_in
    results.append(_result(key, "accounting", balanced, {
        "rows_in": manifest.rows_in, "kept": manifest.rows_kept, "rejected": manifest.rows_rejected,
        "upstream_kept": upstream.rows_kept if upstream is not None else -1}))
    missing = missing_columns(observer.schema, spec.required_columns) if observer.schema is not None else []
    results.append(_result(key, "schema", not missing, {"missing_columns": dg.MetadataValue.json(missing)}))
    rate_name = f"{spec.rate}_rate_vs_previous"
    rate = _rate(manifest)
    if previous is None or min(manifest.rows_in, previous.rows_in) < MIN_DOCUMENTS_FOR_RATE:
        results.append(_result(key, rate_name, True, {"rate": round(rate, 4),
                                                 "note": "no previous partition of comparable size"}))
    else:
        jump = abs(rate - _rate(previous))
        results.append(_result(key, rate_name, jump <= MAX_RATE_JUMP, {
            "rate": round(rate, 4), "previous_rate": round(_rate(previous), 4),
            "previous_partition": previous.partition, "jump": round(jump, 4), "max_jump": MAX_RATE_JUMP}))
    if "language_purity" in spec.checks:
        purity = observer.with_hangul / observer.documents if observer.documents else 1.0
        results.append(_result(key, "language_purity", purity >= MIN_PURITY,
                               {"purity": round(purity, 4), "documents": observer.documents}))
    if "quarantined_files" in spec.checks:
        quarantined = manifest.extra.get("quarantined_files", [])
        results.append(_result(key, "quarantined_files", not quarantined,
                               {"quarantined": len(quarantined), "files": dg.MetadataValue.json(quarantined)}))
    extra = manifest.extra
    if "prompt_near_duplicates" in spec.checks:
        rate = extra.get("near_duplicate_rate", 0.0)
        results.append(_result(key, "prompt_near_duplicates", rate <= MAX_NEAR_DUPLICATE_RATE,
                               {"near_duplicate_rate": rate, "max": MAX_NEAR_DUPLICATE_RATE}))
    if "topic_coverage" in spec.checks:
        share, missing = extra.get("subtopic_coverage", 0.0), extra.get("task_types_missing", [])
        wanted = MIN_TOPIC_COVERAGE * extra.get("subtopic_coverage_possible", 1.0)
        results.append(_result(key, "topic_coverage", share >= wanted and not missing, {
            "subtopic_coverage": share, "min": round(wanted, 4),
            "task_types_missing": dg.MetadataValue.json(missing),
            "macro_topics_used": extra.get("macro_topics_used", 0),
            "task_mix": dg.MetadataValue.json(extra.get("task_mix", {}))}))
    if "distinct_ngrams" in spec.checks:
        d2, d3 = extra.get("distinct_2", 0.0), extra.get("distinct_3", 0.0)
        results.append(_result(key, "distinct_ngrams", d2 >= MIN_DISTINCT_2,
                               {"distinct_2": d2, "distinct_3": d3, "min_distinct_2": MIN_DISTINCT_2}))
    if "persona_marginals" in spec.checks:
        metadata, passed = {}, True
        for dimension, shares in POPULATION_SHARES.items():
            distance, tolerance = _tvd(observer.counts[dimension], shares)
            metadata[f"{dimension}_tvd"] = round(distance, 3)
            metadata[f"{dimension}_tolerance"] = round(tolerance, 3)
            passed &= distance <= tolerance
        metadata["observed"] = dg.MetadataValue.json({k: dict(v) for k, v in observer.counts.items()})
        results.append(_result(key, "persona_marginals", passed, metadata))
    return results
