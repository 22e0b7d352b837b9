"""Hostile input: every record and row is kept or rejected with a reason at some stage, no
stage crashes on one bad record, and the accounting closes from the WARC file to the end."""

import json

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.definitions import persona_assets, web_assets
from curation.io import read_manifest, shard_paths
from curation.sources.personas import NARRATIVE_FIELDS
from curation.sources.warc import BadRecord, WarcFileStats, iter_warc_records
from resources.sources import PersonaReleases

from conftest import Materialiser
from hostile import write_hostile_personas, write_hostile_snapshot

SNAPSHOT = "CC-HOSTILE"
WEB_STAGES = ["warc_records", "extracted_text", "pii_redacted", "language_filtered", "heuristic_filtered",
              "exact_deduplicated", "fuzzy_deduplicated"]
PERSONA_STAGES = ["persona_documents", "pii_redacted", "language_filtered", "heuristic_filtered", "exact_deduplicated",
                  "fuzzy_deduplicated"]


def rejects(store, manifest) -> list[dict]:
    paths = shard_paths(store, manifest, "rejects")
    return pa.concat_tables([pq.read_table(p) for p in paths]).to_pylist() if paths else []


def assert_chain_accounts_for_everything(store, source, partition, stages, documents_in):
    """Each stage's input is the previous stage's output, and the first stage's input plus
    nothing else ends either kept by the last stage or rejected by exactly one stage."""
    rejected_ids: list[str] = []
    previous_kept = documents_in
    for stage in stages:
        manifest = read_manifest(store, f"{source}/{stage}", partition)
        assert manifest.rows_in == previous_kept, stage
        assert manifest.rows_in == manifest.rows_kept + manifest.rows_rejected, stage
        rows = rejects(store, manifest)
        assert all(r["reason"] and r["stage"] for r in rows)
        rejected_ids += [r["id"] for r in rows]
        previous_kept = manifest.rows_kept
    assert len(rejected_ids) == len(set(rejected_ids))  # nobody rejected twice
    assert previous_kept + len(rejected_ids) == documents_in
    return {stage: read_manifest(store, f"{source}/{stage}", partition).rejects_by_reason for stage in stages}


@pytest.fixture(scope="module")
def hostile_web(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    written = write_hostile_snapshot(root / "inbox" / SNAPSHOT)
    with dg.instance_for_test() as instance:
        materialise = Materialiser(root, instance)
        result = materialise(web_assets, SNAPSHOT)
    return result, materialise.store, written, root


def test_reader_skips_damaged_records_and_reads_on(hostile_web):
    _, _, written, root = hostile_web
    stats = WarcFileStats()
    items = list(iter_warc_records(str(root / "inbox" / SNAPSHOT / "hostile.warc.gz"), SNAPSHOT, stats))
    bad = [item for item in items if isinstance(item, BadRecord)]
    assert len(items) == written["responses"]
    assert sorted(b.reason for b in bad) == ["corrupt_record", "record_too_large", "truncated_record"]
    assert all(b.warc_file == "hostile.warc.gz" and b.offset > 0 for b in bad)
    good_urls = [item["url"] for item in items if not isinstance(item, BadRecord)]
    assert "https://hostile.kr/good" in good_urls and "https://hostile.kr/six-mb" in good_urls


def test_every_web_record_is_kept_or_rejected_with_a_reason(hostile_web):
    result, store, written, _ = hostile_web
    assert result.success
    reasons = assert_chain_accounts_for_everything(store, "web", SNAPSHOT, WEB_STAGES, written["responses"])
    assert reasons["warc_records"] == {"corrupt_record": 1, "record_too_large": 1, "truncated_record": 1}
    assert reasons["extracted_text"]["not_html"] == 2
    assert reasons["extracted_text"]["payload_too_large"] == 1
    assert reasons["extracted_text"].get("no_main_text", 0) >= 2  # the empty page, the nested one
    kept = pa.concat_tables([pq.read_table(p) for p in shard_paths(
        store, read_manifest(store, "web/extracted_text", SNAPSHOT))]).to_pylist()
    by_url = {row["url"]: row for row in kept}
    assert "\x00" not in by_url["https://hostile.kr/nul"]["text"]
    assert "대중교통" in by_url["https://hostile.kr/wrong-charset"]["text"]  # declared utf-8, really CP949
    reader_rejects = rejects(store, read_manifest(store, "web/warc_records", SNAPSHOT))
    assert {json.loads(r["details"])["warc_file"] for r in reader_rejects} == {"hostile.warc.gz"}


def test_every_persona_row_is_kept_or_rejected_with_a_reason(tmp_path, sample_dir, materialise):
    template = pq.read_table(next((sample_dir / "personas" / "sample-100").glob("*.parquet")))
    rows = write_hostile_personas(tmp_path / "release", template)
    store = materialise.store
    result = materialise(persona_assets, "sample-100",
                         persona_source=PersonaReleases(releases={"sample-100": str(tmp_path / "release")}))
    assert result.success
    reasons = assert_chain_accounts_for_everything(store, "personas", "sample-100", PERSONA_STAGES,
                                                   rows * len(NARRATIVE_FIELDS))
    assert reasons["heuristic_filtered"]["too_long"] == 1  # the 50 MB narrative
    assert sum(reasons["language_filtered"].values()) >= 2  # null and empty narratives
