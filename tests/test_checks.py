"""Asset checks and UI metadata: each check passes on good partitions and fails on the breakage it
exists for; a failing blocking check stops the stages after it; histograms are real PNGs."""

import base64
import json
import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.checks import (
    MAX_RATE_JUMP,
    POPULATION_SHARES,
    KeptObserver,
    age_band,
    blocking_policy,
    check_results,
    check_specs,
)
from assets.definitions import defs, web_assets
from assets.personas import PERSONA_ROWS_SPEC
from assets.plots import SAMPLE_SIZE, ScoreHistograms
from assets.stages import stage_run_config
from assets.web import WARC_RECORDS_SPEC
from curation.catalog import EXACT_DEDUPLICATED, LANGUAGE_FILTERED, QUALITY_FILTERED
from curation.io import Manifest

from conftest import SAMPLE, materialisation_metadata

SNAPSHOT = "CC-MAIN-2026-04"
LANGUAGE = dg.AssetKey(["web", "language_filtered"])
PERSONAS = dg.AssetKey(["personas", "persona_rows"])


def manifest(rows_in: int, kept: int, partition: str = "p") -> Manifest:
    return Manifest(stage="web/language_filtered", partition=partition, kept_shards=[], reject_shards=[],
                    rows_in=rows_in, rows_kept=kept, rows_rejected=rows_in - kept,
                    rejects_by_reason={"not_korean": rows_in - kept} if rows_in > kept else {}, columns=[])


def observed(texts: list[str], **columns) -> KeptObserver:
    observer = KeptObserver(purity=True)
    observer(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts, "source": ["web"] * len(texts),
                       "snapshot": ["p"] * len(texts), **columns}))
    return observer


def by_name(results) -> dict[str, dg.AssetCheckResult]:
    return {result.check_name: result for result in results}


KOREAN = "서울은 대한민국의 수도이며 정치와 경제의 중심지이다."


def test_every_stage_of_every_chain_has_the_stage_checks():
    graph = defs.resolve_asset_graph()
    stages = [key for key in graph.get_all_asset_keys()
              if key.path[0] in ("web", "personas", "synthetic") and graph.get(key).partitions_def is not None
              and key.path[-1] not in ("rephrased", "persona_qa")]  # may be skipped: no LLM endpoint
    assert len(stages) >= 2 * 10
    for key in stages:
        names = {check_key.name for check_key in graph.asset_check_keys if check_key.asset_key == key}
        assert {"accounting", "schema"} <= names, key
        assert any(name.endswith("_rate_vs_previous") for name in names), key
    assert "language_purity" in {c.name for c in check_specs(LANGUAGE, LANGUAGE_FILTERED)}
    assert "persona_marginals" in {c.name for c in check_specs(PERSONAS, PERSONA_ROWS_SPEC)}


def test_accounting_fails_when_documents_go_missing():
    good = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(30, 28), manifest(40, 30), None,
                                 observed([KOREAN] * 28)))
    assert good["accounting"].passed
    # The upstream kept 31 documents but this stage only saw 30: one was lost between stages.
    lost = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(30, 28), manifest(40, 31), None,
                                 observed([KOREAN] * 28)))
    assert not lost["accounting"].passed and lost["accounting"].metadata["upstream_kept"].value == 31


def test_drop_rate_jump_against_the_previous_partition_warns_by_default():
    spec = next(s for s in check_specs(LANGUAGE, LANGUAGE_FILTERED) if s.name == "drop_rate_vs_previous")
    assert not spec.blocking  # drift is normal between crawls: it warns, the run goes on
    assert {s.name for s in check_specs(LANGUAGE, LANGUAGE_FILTERED) if s.blocking} == {
        "accounting", "schema", "language_purity"}
    policy = blocking_policy("drop_rate_vs_previous=on, language_purity=off")
    assert policy["drop_rate_vs_previous"] and not policy["language_purity"] and policy["accounting"]
    with pytest.raises(ValueError, match="CURATION_BLOCKING_CHECKS"):
        blocking_policy("drop_rate=on")
    previous = manifest(100, 90, partition="CC-MAIN-2026-04")
    steady = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(100, 85), None, previous, observed([KOREAN])))
    assert steady["drop_rate_vs_previous"].passed
    # A language model that stops loading rejects nearly everything: the rate jumps by 0.8.
    broken = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(100, 10), None, previous, observed([KOREAN])))
    result = broken["drop_rate_vs_previous"]
    assert not result.passed and result.metadata["jump"].value > MAX_RATE_JUMP
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["previous_partition"].value == "CC-MAIN-2026-04"
    tiny = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(5, 0), None, manifest(5, 5),
                                 observed([KOREAN])))
    assert tiny["drop_rate_vs_previous"].passed  # five documents say nothing about a rate


def test_language_purity_counts_documents_without_hangul():
    pure = observed([KOREAN] * 98 + ["Seoul 서울 is the capital city of Korea"] * 2)
    assert by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(100, 100), None, None,
                                 pure))["language_purity"].passed
    leaky = observed([KOREAN] * 97 + ["London is the capital of the United Kingdom."] * 3)
    result = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(100, 100), None, None,
                                   leaky))["language_purity"]
    assert not result.passed and result.metadata["purity"].value == 0.97


def test_schema_check_names_missing_columns():
    observer = KeptObserver()
    observer(pa.table({"id": ["a"], "text": [KOREAN]}))
    result = by_name(check_results(LANGUAGE, LANGUAGE_FILTERED, manifest(1, 1), None, None, observer))["schema"]
    assert not result.passed and result.metadata["missing_columns"].value == ["source", "snapshot"]


def test_schema_of_rows_that_are_not_documents_is_their_own():
    from curation.sources.warc import WARC_RECORD_SCHEMA

    records = KeptObserver()
    records(WARC_RECORD_SCHEMA.empty_table())
    warc = dg.AssetKey(["web", "warc_records"])
    assert by_name(check_results(warc, WARC_RECORDS_SPEC, manifest(0, 0), None, None, records))["schema"].passed
    rows = KeptObserver()
    rows(pa.table({"uuid": ["u"], "sex": ["여자"]}))  # a persona row without its other columns
    result = by_name(check_results(PERSONAS, PERSONA_ROWS_SPEC, manifest(1, 1), None, None, rows))["schema"]
    assert not result.passed and "province" in result.metadata["missing_columns"].value


def persona_observer(rows: pa.Table) -> KeptObserver:
    observer = KeptObserver(marginals=True)
    observer(rows)
    return observer


def test_persona_marginals_match_the_population_on_the_shipped_release_and_not_on_a_skewed_one():
    rows = pa.concat_tables(pq.read_table(p, columns=["sex", "age", "province"])
                            for p in sorted((SAMPLE / "personas" / "sample-100").glob("*.parquet")))
    assert set(rows.column("province").to_pylist()) <= set(POPULATION_SHARES["province"])  # same names
    assert {age_band(a) for a in rows.column("age").to_pylist()} <= set(POPULATION_SHARES["age_band"])
    persona_manifest = manifest(rows.num_rows, rows.num_rows)
    fair = by_name(check_results(PERSONAS, PERSONA_ROWS_SPEC, persona_manifest, None, None, persona_observer(rows)))
    assert fair["persona_marginals"].passed, fair["persona_marginals"].metadata
    skewed = pa.table({"sex": ["남자"] * 1000, "age": [25] * 1000, "province": ["서울"] * 1000})
    result = by_name(check_results(PERSONAS, PERSONA_ROWS_SPEC, manifest(1000, 1000), None, None,
                                   persona_observer(skewed)))
    result = result["persona_marginals"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["sex_tvd"].value == pytest.approx(0.502, abs=1e-3)


@pytest.fixture
def web_run(tmp_path, materialise):
    def run(run_config: dict | None = None):
        inbox = tmp_path / "inbox"
        if not inbox.exists():
            shutil.copytree(SAMPLE / "warc" / SNAPSHOT, inbox / SNAPSHOT)
        return materialise(web_assets, SNAPSHOT, raise_on_error=False, run_config=run_config)
    return run


def test_a_run_reports_passing_checks_and_a_histogram_for_every_scored_stage(web_run):
    result = web_run()
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    checked = {e.asset_key for e in evaluations if e.check_name == "accounting"}
    assert checked == {key for a in web_assets for key in a.keys}
    metadata = materialisation_metadata(result, LANGUAGE)
    image = base64.b64decode(metadata["score_histograms"].value.split("base64,")[1].rstrip(")"))
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 5_000
    assert metadata["docs_per_second"].value > 0 and "not_korean" in metadata["rejects_by_reason"].value


def test_a_failing_blocking_check_stops_the_stages_after_it(web_run):
    # Threshold 0 keeps the English page: the output is no longer pure Korean.
    result = web_run(stage_run_config(web_assets, LANGUAGE, threshold=0.0, min_letters=0))
    purity = next(e for e in result.get_asset_check_evaluations() if e.check_name == "language_purity")
    assert not purity.passed and purity.metadata["purity"].value < 0.98
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert LANGUAGE in materialized
    assert dg.AssetKey(["web", "heuristic_filtered"]) not in materialized  # blocked
    assert not result.success


def test_drift_between_snapshots_warns_and_every_later_stage_still_runs(tmp_path, materialise):
    for snapshot in ("CC-MAIN-2026-04", "CC-MAIN-2026-08"):
        shutil.copytree(SAMPLE / "warc" / snapshot, tmp_path / "inbox" / snapshot)
    assert materialise(web_assets, "CC-MAIN-2026-04").success
    # The next snapshot rejects nearly everything at language ID: its drop rate jumps.
    strict = stage_run_config(web_assets, LANGUAGE, threshold=1.01)
    result = materialise(web_assets, "CC-MAIN-2026-08", run_config=strict)
    assert result.success
    [drift] = [e for e in result.get_asset_check_evaluations()
               if e.asset_key == LANGUAGE and e.check_name == "drop_rate_vs_previous"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["jump"].value > MAX_RATE_JUMP and drift.metadata["previous_partition"].value == SNAPSHOT
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["web", "fuzzy_deduplicated"]) in materialized  # nothing after it was skipped


def test_histograms_show_kept_against_rejected_with_bounded_samples():
    histograms = ScoreHistograms(QUALITY_FILTERED.scores)
    histograms.kept(pa.table({"quality_bucket": list(range(10, 20)) * 3_000}))
    details = [json.dumps({"quality_bucket": b, "quality_score": 0.1}) for b in range(10)]
    histograms.rejected(pa.table({"details": details + [None, "not json"]}))
    series = histograms.series()
    assert len(series["quality_bucket"]["kept"]) == SAMPLE_SIZE  # 30,000 seen, a bounded sample kept
    assert histograms.samples[("quality_bucket", "kept")].seen == 30_000
    assert sorted(series["quality_bucket"]["rejected"]) == list(range(10))
    assert series["quality_score"]["rejected"] == [0.1] * 10 and not series["quality_score"]["kept"]
    assert histograms.png().startswith(b"\x89PNG")
    assert ScoreHistograms(EXACT_DEDUPLICATED.scores).markdown() is None  # no score, no picture
