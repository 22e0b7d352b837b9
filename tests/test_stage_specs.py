"""The stage contract and the specs: stages hold no state between calls, one spec per stage
feeds the asset key, the CLI subcommand, the rejects' `stage` column, run config and
code_version, and a changed default marks materialised partitions stale."""

import json
import subprocess
import sys
from dataclasses import replace

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from assets.config import config_class
from assets.definitions import defs
from assets.stage_runner import partition_asset, write_partition
from assets.stages import stage_assets
from curation.__main__ import build_parser
from curation.catalog import DOCUMENT_STAGES, HEURISTIC_FILTERED, LANGUAGE_FILTERED, PII_REDACTED, STAGES
from curation.spec import StageSpec, parameters_of
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource

PROSE = ("정부는 내년부터 청년 고용을 늘리기 위한 새로운 정책을 시행한다고 밝혔다. 관계 부처는 세부 계획을 "
         "다음 달까지 마련하기로 했다.")
BATCH_A = pa.table({"id": ["a1", "a2", "a3", "a4"], "source": ["t"] * 4, "snapshot": ["p"] * 4,
                    "text": [PROSE, "ㅋㅋㅋㅋ 대박 ㅠㅠㅠ", "This is English text only, no Korean.",
                             f"문의 010-1234-5678 {PROSE}"],
                    "quality_bucket": [19, 2, 3, 4]})
BATCH_B = pa.table({"id": ["b1", "b2"], "source": ["t"] * 2, "snapshot": ["p"] * 2,
                    "text": ["짧은 글", PROSE + " 메일 a@b.kr"], "quality_bucket": [5, 19]})


def stateless_cases():
    """Every per-document stage that needs no trained model, and heuristics with its skip."""
    yield "language", LANGUAGE_FILTERED.stage()
    yield "pii", PII_REDACTED.stage()
    yield "heuristics", HEURISTIC_FILTERED.stage()
    yield "heuristics+skip", HEURISTIC_FILTERED.stage({"skip_column": "quality_bucket", "skip_at_or_above": 18})


@pytest.mark.parametrize("name,stage", list(stateless_cases()), ids=[name for name, _ in stateless_cases()])
def test_decide_depends_only_on_its_scores(name, stage):
    alone = stage.decide(stage.score_batch(BATCH_A))
    # Interleaved: A scored, then B scored and decided, then A decided from A's scores.
    scores_a = stage.score_batch(BATCH_A)
    stage.decide(stage.score_batch(BATCH_B))
    interleaved = stage.decide(scores_a)
    assert interleaved.keep.tolist() == alone.keep.tolist()
    assert interleaved.reasons == alone.reasons and interleaved.details == alone.details
    kept, rejected, stats = stage.process(BATCH_A)
    assert stats.rows_in == 4 == kept.num_rows + rejected.num_rows
    assert stats.rows_kept == kept.num_rows == int(alone.keep.sum())


def test_heuristic_skip_is_a_score_column_and_decides_alone():
    stage = HEURISTIC_FILTERED.stage({"skip_column": "quality_bucket", "skip_at_or_above": 18})
    scores = stage.score_batch(BATCH_A)
    assert scores["heuristics_skipped"].to_pylist() == [True, False, False, False]
    # The same scores with the skip column flipped decide differently: the column is what decides.
    flipped = {**scores, "heuristics_skipped": pa.array([True] * 4)}
    assert stage.decide(flipped).keep.all() and not stage.decide(scores).keep.all()


def test_pii_counts_travel_with_the_batch_not_the_stage():
    stage = PII_REDACTED.stage()
    _, _, stats_a = stage.process(BATCH_A)
    _, _, stats_b = stage.process(BATCH_B)
    assert stats_a.extra == {"documents_with_pii": 1, "redactions.PHONE": 1}
    assert stats_b.extra == {"documents_with_pii": 1, "redactions.EMAIL": 1}
    assert PII_REDACTED.metadata((stats_a + stats_b).extra) == {
        "pii_redactions_by_type": {"EMAIL": 1, "PHONE": 1}, "documents_with_pii": 2}
    assert not any(isinstance(v, (int, dict)) and not isinstance(v, bool) for v in vars(stage).values()
                   if v is not stage.types), vars(stage)


def test_the_spec_name_is_the_stage_asset_cli_and_rejects_name():
    names = [spec.name for spec in STAGES]
    assert len(names) == len(set(names))
    keys = {key.path[-1] for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(names) <= keys
    commands = build_parser()._subparsers._group_actions[0].choices
    for spec in DOCUMENT_STAGES:
        assert spec.name in commands and all(alias in commands for alias in spec.cli_aliases)
        if not spec.models:
            assert spec.stage().name == spec.name
    _, rejected, _ = LANGUAGE_FILTERED.stage().process(BATCH_A)
    assert set(rejected.column("stage").to_pylist()) == {"language_filtered"}


def test_every_parameter_is_run_config_and_a_cli_flag_with_one_default():
    for spec in STAGES:
        fields = config_class(spec).model_fields
        assert set(fields) == {p.name for p in spec.parameters}, spec.name
        for p in spec.parameters:
            assert config_class(spec)().model_dump()[p.name] == p.json_default(), (spec.name, p.name)
    heuristics = build_parser().parse_args(["heuristic_filtered", "in.jsonl", "out.jsonl"])
    assert heuristics.min_syllables == 15 and heuristics.max_mean_eojeol_length == 8.0
    assert len(HEURISTIC_FILTERED.parameters) >= 20  # every threshold of every rule


def test_a_heuristic_threshold_set_on_the_cli_changes_the_decision(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "s", "text": "짧지만 괜찮은 한국어 문장입니다."}, ensure_ascii=False) + "\n")

    def kept_ids(*flags):
        out = tmp_path / "out.parquet"
        result = subprocess.run([sys.executable, "-m", "curation", "heuristics", str(source), str(out), *flags],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return pq.read_table(out).column("id").to_pylist()

    assert kept_ids() == []  # 12 syllables: too_short under the default of 15
    assert kept_ids("--min-syllables", "10") == ["s"]


def test_parameters_need_one_name_and_a_default():
    class Twice:
        def __init__(self, threshold: float = 0.5) -> None: ...

    with pytest.raises(TypeError, match="appears twice"):
        parameters_of(Twice, Twice)

    class NoDefault:
        def __init__(self, threshold: float) -> None: ...

    with pytest.raises(TypeError, match="needs a default"):
        parameters_of(NoDefault)


def test_code_version_follows_the_defaults():
    changed = replace(LANGUAGE_FILTERED, parameters=tuple(
        replace(p, default=0.7) if p.name == "threshold" else p for p in LANGUAGE_FILTERED.parameters))
    assert changed.code_version() != LANGUAGE_FILTERED.code_version()
    assert replace(LANGUAGE_FILTERED).code_version() == LANGUAGE_FILTERED.code_version()
    assert replace(LANGUAGE_FILTERED, version="2").code_version() != LANGUAGE_FILTERED.code_version()


PARTITIONS = dg.StaticPartitionsDefinition(["p"])
SOURCE = StageSpec(name="documents", kind="source", description="test documents")


@partition_asset(dg.AssetKey(["t", "documents"]), PARTITIONS, SOURCE)
def documents(context: dg.AssetExecutionContext, corpus_store: CorpusStore) -> dg.MaterializeResult:
    return write_partition(context, SOURCE, corpus_store, iter([BATCH_A.drop_columns(["quality_bucket"])]))


def language_asset(spec: StageSpec) -> dg.AssetsDefinition:
    [asset] = stage_assets("t", [replace(spec, fed_by=None)], PARTITIONS, documents.key)
    return asset


def test_a_changed_default_marks_the_materialised_partition_stale(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    resources = {"corpus_store": CorpusStore(root=str(tmp_path)), "dask": DaskResource(mode="off")}
    before = [documents, language_asset(LANGUAGE_FILTERED)]
    assert dg.materialize(before, partition_key="p", instance=instance, resources=resources).success
    key = before[1].key

    def status(assets) -> StaleStatus:  # what the UI shows: Dagster's own stale-status resolver
        return get_stale_status_resolver(instance, assets).get_status(key, "p")

    assert status(before) == StaleStatus.FRESH
    stricter = replace(LANGUAGE_FILTERED, parameters=tuple(
        replace(p, default=0.9) if p.name == "threshold" else p for p in LANGUAGE_FILTERED.parameters))
    assert status([documents, language_asset(stricter)]) == StaleStatus.STALE


def test_extraction_runs_from_the_cli_through_the_same_adapter(tmp_path):
    """A stage the CLI never had an adapter for: its spec alone makes it a subcommand."""
    from curation.sources.warc import WarcFileStats, record_batches

    from conftest import write_warc

    warc = write_warc(tmp_path / "a.warc.gz", [
        ("https://a.kr/", f"<html><body><p>{PROSE}</p></body></html>".encode(), "text/html", "200 OK"),
        ("https://a.kr/missing", b"not found", "text/html", "404 Not Found")])
    records = pa.concat_tables([kept for kept, _, _ in record_batches([str(warc)], "p", WarcFileStats())])
    pq.write_table(records, tmp_path / "records.parquet")
    out = tmp_path / "text.parquet"
    result = subprocess.run([sys.executable, "-m", "curation", "extract", str(tmp_path / "records.parquet"), str(out),
                             "--min-chars", "20"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "extracted_text: 2 in, 1 kept, 1 rejected (http_status=1)"
    kept = pq.read_table(out)
    assert kept.column("url").to_pylist() == ["https://a.kr/"] and "payload" not in kept.column_names
    assert PROSE[:20] in kept.column("text")[0].as_py()
    rejects = pq.read_table(tmp_path / "text.rejects.parquet")
    assert rejects.column("stage").to_pylist() == ["extracted_text"]


def test_extraction_reads_warc_files_and_folders_with_a_selectable_extractor(tmp_path):
    from conftest import write_warc

    folder = tmp_path / "crawl"
    folder.mkdir()
    html = f"<html><body><nav>메뉴 | 로그인</nav><p>{PROSE}</p></body></html>".encode()
    write_warc(folder / "a.warc.gz", [("https://a.kr/", html, "text/html", "200 OK")])
    write_warc(folder / "b.warc.gz", [("https://b.kr/", html, "text/html", "200 OK"),
                                      ("https://b.kr/x", b"gone", "text/html", "404 Not Found")])
    (folder / "broken.warc.gz").write_bytes(b"not a warc")
    for extractor in ("justext", "resiliparse", "trafilatura"):
        out = tmp_path / f"{extractor}.parquet"
        result = subprocess.run([sys.executable, "-m", "curation", "extract", str(folder), str(out),
                                 "--extractor", extractor, "--snapshot", "S"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == ("extracted_text: 4 in, 2 kept, 2 rejected (http_status=1, "
                                         "unreadable_file=1)"), extractor
        kept = pq.read_table(out)
        assert all(PROSE[:30] in text for text in kept.column("text").to_pylist()), extractor
    bad = subprocess.run([sys.executable, "-m", "curation", "extract", str(folder), str(tmp_path / "x.parquet"),
                          "--extractor", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown extractor 'nope'" in bad.stderr
