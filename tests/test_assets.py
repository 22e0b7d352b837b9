"""Materialise one partition of each source into a temporary store and check shards, rejects
and metadata, as a data engineer would read them."""

import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.definitions import defs, persona_assets, web_assets
from assets.partitions import web_snapshots
from curation.io import read_manifest, shard_paths
from curation.sources.personas import NARRATIVE_FIELDS
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource
from resources.sources import PersonaReleases, WebInbox

SNAPSHOT = "CC-MAIN-2026-04"


def read(root, manifest, kind="kept"):
    return pa.concat_tables([pq.read_table(p) for p in shard_paths(root, manifest, kind)])


def materialization(result, *path):
    events = result.asset_materializations_for_node("__".join(path))
    assert len(events) == 1
    return events[0].metadata


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def web_result(tmp_path, sample_dir, instance):
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_dir / "warc" / SNAPSHOT, inbox / SNAPSHOT)
    instance.add_dynamic_partitions(web_snapshots.name, [SNAPSHOT])
    store = str(tmp_path / "store")
    result = dg.materialize(
        web_assets, partition_key=SNAPSHOT, instance=instance,
        resources={"dask": DaskResource(), "corpus_store": CorpusStore(root=store), "web_inbox": WebInbox(root=str(inbox))},
    )
    assert result.success
    return result, store


def test_web_partition_materialises_shards_rejects_and_metadata(web_result):
    result, store = web_result
    records = read_manifest(store, "web/warc_records", SNAPSHOT)
    extracted = read_manifest(store, "web/extracted_text", SNAPSHOT)
    korean = read_manifest(store, "web/language_filtered", SNAPSHOT)
    # The sample snapshot: 28 Korean pages (5 EUC-KR), a mirror's near copy of one, an English
    # and a Japanese page, a 404, a PDF.
    assert records.rows_in == records.rows_kept == 32
    assert extracted.rows_in == 32
    assert extracted.rejects_by_reason["http_status"] == 1
    assert extracted.rejects_by_reason["not_html"] == 1
    assert korean.rows_in == extracted.rows_kept
    assert korean.rows_in == korean.rows_kept + korean.rows_rejected
    assert korean.rejects_by_reason == {"not_korean": 1}

    kept = read(store, korean)
    assert kept.num_rows == korean.rows_kept
    assert set(kept.column("language").to_pylist()) == {"ko"}
    assert all(url.startswith(("https://help.libreoffice.org/", "https://mirror.example.kr/"))
               for url in kept.column("url").to_pylist())
    assert "cp949" in kept.column("charset").to_pylist()  # EUC-KR pages decoded
    assert all(len(t) > 50 for t in kept.column("text").to_pylist())
    rejected = read(store, korean, "rejects")
    assert rejected.column("url").to_pylist() == ["https://help.libreoffice.org/7.4/en/sample.html"]
    assert set(rejected.column("stage").to_pylist()) == {"language_filtered"}

    metadata = materialization(result, "web", "language_filtered")
    assert metadata["dagster/row_count"].value == korean.rows_kept
    assert metadata["rows_in"].value == korean.rows_in
    assert metadata["rows_rejected"].value == 1
    assert "not_korean" in metadata["rejects_by_reason"].value
    assert "help.libreoffice.org" in metadata["preview_kept"].value
    assert "not_korean" in metadata["preview_rejected"].value
    assert materialization(result, "web", "warc_records")["warc_records_by_type"].value == {
        "warcinfo": 1, "request": 32, "response": 32}


def test_rematerialising_a_partition_is_idempotent(web_result, tmp_path, instance):
    _, store = web_result
    before = read(store, read_manifest(store, "web/language_filtered", SNAPSHOT))
    partitions = sorted((tmp_path / "store" / "web").glob(f"*/{SNAPSHOT}"))
    files_before = {p: p.read_bytes() for folder in partitions for p in folder.rglob("*") if p.is_file()}
    result = dg.materialize(
        web_assets, partition_key=SNAPSHOT, instance=instance,
        resources={"dask": DaskResource(), "corpus_store": CorpusStore(root=store), "web_inbox": WebInbox(root=str(tmp_path / "inbox"))},
    )
    assert result.success
    after_manifest = read_manifest(store, "web/language_filtered", SNAPSHOT)
    assert read(store, after_manifest).equals(before)
    attempts = [p for p in (tmp_path / "store" / "web" / "language_filtered" / SNAPSHOT).iterdir()
                if p.name.startswith("data-")]
    assert len(attempts) == 1
    # Every stage re-wrote the same bytes: same content folders, byte-identical manifests and shards.
    files_after = {p: p.read_bytes() for folder in partitions for p in folder.rglob("*") if p.is_file()}
    assert files_after == files_before


def test_persona_release_materialises_documents(tmp_path, instance):
    store = str(tmp_path / "store")
    result = dg.materialize(persona_assets, partition_key="sample-100", instance=instance,
                            resources={"dask": DaskResource(), "corpus_store": CorpusStore(root=store), "persona_source": PersonaReleases()})
    assert result.success
    rows = read_manifest(store, "personas/persona_rows", "sample-100")
    documents = read_manifest(store, "personas/persona_documents", "sample-100")
    korean = read_manifest(store, "personas/language_filtered", "sample-100")
    assert rows.rows_kept == 100
    assert documents.rows_kept == 100 * len(NARRATIVE_FIELDS)
    assert korean.rows_in == documents.rows_kept == korean.rows_kept + korean.rows_rejected
    kept = read(store, korean)
    assert {"uuid", "persona_field", "sex", "age", "province"} <= set(kept.column_names)
    assert set(kept.column("source").to_pylist()) == {"personas"}
    assert kept.column("language_score").to_numpy().min() >= 0.5
    assert materialization(result, "personas", "persona_documents")["dagster/row_count"].value == 1100


def test_persona_release_with_bad_schema_fails_naming_the_file(tmp_path, sample_dir, instance):
    release = tmp_path / "bad-release"
    release.mkdir()
    table = pq.read_table(next((sample_dir / "personas" / "sample-100").glob("*.parquet")))
    pq.write_table(table.drop_columns(["sex"]), release / "broken.parquet")
    result = dg.materialize(
        persona_assets[:1], partition_key="sample-100", instance=instance, raise_on_error=False,
        resources={"dask": DaskResource(), "corpus_store": CorpusStore(root=str(tmp_path / "store")),
                   "persona_source": PersonaReleases(releases={"sample-100": str(release)})},
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    error = failure.event_specific_data.error.to_string()  # the user error and its cause chain
    assert "PersonaSchemaError" in error
    assert "broken.parquet: not a Nemotron-Personas-Korea file, missing column(s) ['sex']" in error


def test_definitions_load_with_jobs_and_both_lineages():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"web/warc_records", "web/extracted_text", "web/language_filtered",
            "personas/persona_rows", "personas/persona_documents", "personas/language_filtered"} <= keys
    assert graph.get(dg.AssetKey(["web", "pii_redacted"])).parent_keys == {dg.AssetKey(["web", "extracted_text"])}
    assert graph.get(dg.AssetKey(["personas", "pii_redacted"])).parent_keys == {
        dg.AssetKey(["personas", "persona_documents"])}
    assert graph.get(dg.AssetKey(["synthetic", "pii_redacted"])).parent_keys == {
        dg.AssetKey(["synthetic", "persona_qa"])}
    for source in ("web", "personas", "synthetic"):
        key = lambda name: dg.AssetKey([source, name])  # noqa: E731
        assert graph.get(key("language_filtered")).parent_keys == {key("pii_redacted")}
        assert graph.get(key("heuristic_filtered")).parent_keys == {key("language_filtered")}
        assert graph.get(key("exact_deduplicated")).parent_keys == {key("heuristic_filtered")}
        assert graph.get(key("fuzzy_deduplicated")).parent_keys == {key("exact_deduplicated")}
    for job in ("web_curation", "personas_curation"):
        assert defs.resolve_job_def(job) is not None


def test_store_and_source_on_an_fsspec_url(sample_dir, instance):
    # memory:// stands in for s3:// or gs://: the same fsspec code path, no local folder.
    import fsspec

    memory = fsspec.filesystem("memory")
    for parquet in sorted((sample_dir / "personas" / "sample-100").glob("*.parquet")):
        memory.pipe(f"/inbox/sample-100/{parquet.name}", parquet.read_bytes())
    store = "memory://store"
    result = dg.materialize(
        persona_assets[:2], partition_key="sample-100", instance=instance,
        resources={"dask": DaskResource(), "corpus_store": CorpusStore(root=store),
                   "persona_source": PersonaReleases(releases={"sample-100": "memory://inbox/sample-100"})},
    )
    assert result.success
    manifest = read_manifest(store, "personas/persona_documents", "sample-100")
    assert manifest.rows_kept == 100 * len(NARRATIVE_FIELDS)
    shards = shard_paths(store, manifest)
    assert shards and all(s.startswith("memory://store/personas/persona_documents/sample-100/") for s in shards)
    with fsspec.open(shards[0], "rb") as handle:
        assert pq.read_table(handle).num_rows > 0
    names = [p.rsplit("/", 1)[-1] for p in memory.ls("/store/personas/persona_documents/sample-100", detail=False)]
    assert sorted(n.split("-")[0] for n in names) == ["data", "manifest.json"]  # nothing half-written
    memory.rm("/store", recursive=True)
    memory.rm("/inbox", recursive=True)
