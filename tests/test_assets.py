"""Materialise one partition of each source into a temporary store and check shards, rejects
and metadata, as a data engineer would read them."""

import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from assets.definitions import default_resources, defs, persona_assets, web_assets
from curation.io import read_manifest, shard_paths
from curation.sources.personas import NARRATIVE_FIELDS
from resources.corpus_store import CorpusStore
from resources.llm import LLMResource
from resources.models import ModelStore
from resources.sources import PersonaReleases, WebInbox

from conftest import materialisation_metadata

SNAPSHOT = "CC-MAIN-2026-04"


def read(root, manifest, kind="kept"):
    return pa.concat_tables([pq.read_table(p) for p in shard_paths(root, manifest, kind)])


def materialization(result, *path):
    return materialisation_metadata(result, path)


@pytest.fixture
def web_result(tmp_path, sample_dir, materialise):
    shutil.copytree(sample_dir / "warc" / SNAPSHOT, tmp_path / "inbox" / SNAPSHOT)
    result = materialise(web_assets, SNAPSHOT)
    assert result.success
    return result, materialise.store


def test_web_partition_materialises_shards_rejects_and_metadata(web_result):
    result, store = web_result
    records = read_manifest(store, "web/warc_records", SNAPSHOT)
    extracted = read_manifest(store, "web/extracted_text", SNAPSHOT)
    korean = read_manifest(store, "web/language_filtered", SNAPSHOT)
    # The sample snapshot: 27 LibreOffice Korean pages (5 EUC-KR), a mirror's near copy of one,
    # an English and a Japanese page, a 404, a PDF, and 18 pages of varied quality (articles,
    # FAQ pages, review boards, thin pages, site maps, spam).
    assert records.rows_in == records.rows_kept == 50
    assert extracted.rows_in == 50
    assert extracted.rejects_by_reason["http_status"] == 1
    assert extracted.rejects_by_reason["not_html"] == 1
    assert korean.rows_in == extracted.rows_kept
    assert korean.rows_in == korean.rows_kept + korean.rows_rejected
    assert korean.rejects_by_reason == {"not_korean": 1}

    kept = read(store, korean)
    assert kept.num_rows == korean.rows_kept
    assert set(kept.column("language").to_pylist()) == {"ko"}
    assert {url.split("/")[2] for url in kept.column("url").to_pylist()} >= {
        "help.libreoffice.org", "mirror.example.kr", "wiki.example.kr", "portal.example.kr"}
    # junk goes before the scoring stages, each with its reason
    no_text = read(store, extracted, "rejects").filter(pc.equal(pa.scalar("no_main_text"),
                                                                read(store, extracted, "rejects").column("reason")))
    assert {"https://portal.example.kr/sitemap/000.html", "https://portal.example.kr/sitemap/002.html"} <= set(
        no_text.column("url").to_pylist())
    heuristics = read_manifest(store, "web/heuristic_filtered", SNAPSHOT)
    junk = read(store, heuristics, "rejects")
    assert {(u.split("/")[3], r) for u, r in zip(junk.column("url").to_pylist(), junk.column("reason").to_pylist())
            } >= {("ad", "duplicate_lines"), ("board", "unterminated_sentences")}
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
        "warcinfo": 1, "request": 50, "response": 50}


def test_rematerialising_a_partition_is_idempotent(web_result, tmp_path, materialise):
    _, store = web_result
    before = read(store, read_manifest(store, "web/language_filtered", SNAPSHOT))
    partitions = sorted((tmp_path / "store" / "web").glob(f"*/{SNAPSHOT}"))
    files_before = {p: p.read_bytes() for folder in partitions for p in folder.rglob("*") if p.is_file()}
    result = materialise(web_assets, SNAPSHOT)
    assert result.success
    after_manifest = read_manifest(store, "web/language_filtered", SNAPSHOT)
    assert read(store, after_manifest).equals(before)
    attempts = [p for p in (tmp_path / "store" / "web" / "language_filtered" / SNAPSHOT).iterdir()
                if p.name.startswith("data-")]
    assert len(attempts) == 1
    # Every stage re-wrote the same bytes: same content folders, byte-identical manifests and shards.
    files_after = {p: p.read_bytes() for folder in partitions for p in folder.rglob("*") if p.is_file()}
    assert files_after == files_before


def test_persona_release_materialises_documents(tmp_path, materialise):
    store = str(tmp_path / "store")
    result = materialise(persona_assets, "sample-100")
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


def test_persona_release_with_bad_schema_fails_naming_the_file(tmp_path, sample_dir, materialise):
    release = tmp_path / "bad-release"
    release.mkdir()
    table = pq.read_table(next((sample_dir / "personas" / "sample-100").glob("*.parquet")))
    pq.write_table(table.drop_columns(["sex"]), release / "broken.parquet")
    result = materialise(persona_assets[:1], "sample-100", raise_on_error=False,
                         persona_source=PersonaReleases(releases={"sample-100": str(release)}))
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
        def key(name: str, source: str = source) -> dg.AssetKey:
            return dg.AssetKey([source, name])

        assert graph.get(key("language_filtered")).parent_keys == {key("pii_redacted")}
        assert graph.get(key("heuristic_filtered")).parent_keys == {key("language_filtered")}
        assert graph.get(key("exact_deduplicated")).parent_keys == {key("heuristic_filtered")}
        assert graph.get(key("fuzzy_deduplicated")).parent_keys == {key("exact_deduplicated")}
    # Each job selects its source's assets, and the curation jobs stop before the model stages.
    for job, source in (("web_curation", "web"), ("personas_curation", "personas")):
        selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
        assert {key.path[0] for key in selected} == {source}
        assert dg.AssetKey([source, "fuzzy_deduplicated"]) in selected
        assert dg.AssetKey([source, "quality_filtered"]) not in selected


def test_the_deployment_resources_read_the_environment_when_a_run_starts(tmp_path, monkeypatch):
    seen = []

    @dg.asset
    def probe(corpus_store: CorpusStore, web_inbox: WebInbox, model_store: ModelStore, llm: LLMResource) -> None:
        seen.append((corpus_store.root, web_inbox.root, model_store.root, llm.base_url))

    resources = default_resources()  # built once, as the code location does on import
    for run in ("a", "b"):
        for name in ("CURATION_STORE", "CURATION_WEB_INBOX", "CURATION_MODELS"):
            monkeypatch.setenv(name, str(tmp_path / run / name))
        monkeypatch.setenv("CURATION_LLM_BASE_URL", f"http://{run}.example/v1")
        assert dg.materialize([probe], resources=resources).success
    assert [values[0] for values in seen] == [str(tmp_path / "a" / "CURATION_STORE"),
                                              str(tmp_path / "b" / "CURATION_STORE")]
    assert seen[1][1:] == (str(tmp_path / "b" / "CURATION_WEB_INBOX"), str(tmp_path / "b" / "CURATION_MODELS"),
                           "http://b.example/v1")


def test_store_and_source_on_an_fsspec_url(sample_dir, materialise):
    # memory:// stands in for s3:// or gs://: the same fsspec code path, no local folder.
    import fsspec

    memory = fsspec.filesystem("memory")
    for parquet in sorted((sample_dir / "personas" / "sample-100").glob("*.parquet")):
        memory.pipe(f"/inbox/sample-100/{parquet.name}", parquet.read_bytes())
    store = "memory://store"
    result = materialise(persona_assets[:2], "sample-100", corpus_store=CorpusStore(root=store),
                         persona_source=PersonaReleases(releases={"sample-100": "memory://inbox/sample-100"}))
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
