"""Dedup assets across crawl snapshots: incremental against earlier partitions, reproducible on
backfill, independent of the earlier partitions' text, and loud about gaps."""

import json
import shutil
import subprocess
import sys

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.definitions import web_assets
from assets.partitions import web_snapshots
from curation.dedup.index import DedupIndex
from curation.io import read_manifest, shard_paths
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource

from conftest import Materialiser

FIRST, SECOND, THIRD = "CC-MAIN-2026-04", "CC-MAIN-2026-08", "CC-MAIN-2026-12"
EXTRA = ("<p>이 문서는 다른 사이트에서 옮겨 온 사본이며, 원문의 내용 가운데 일부 문장은 "
         "편집자가 다듬어 새로 작성했습니다.</p>")


def table(store, stage, partition, kind="kept"):
    manifest = read_manifest(store, stage, partition)
    paths = shard_paths(store, manifest, kind)
    return pa.concat_tables([pq.read_table(p) for p in paths]) if paths else None


def duplicates(store, stage, partition):
    rejected = table(store, stage, partition, "rejects")
    if rejected is None:
        return {}
    return {row["id"]: json.loads(row["details"])["duplicate_of"] for row in rejected.to_pylist()}


@pytest.fixture
def env(tmp_path, sample_dir, materialise, instance):
    for snapshot in (FIRST, SECOND):
        shutil.copytree(sample_dir / "warc" / snapshot, tmp_path / "inbox" / snapshot)
    # Registered newest first: the keep order is by snapshot name, not registration.
    instance.add_dynamic_partitions(web_snapshots.name, [SECOND, FIRST])

    def materialise_web(partition, selection=web_assets, raise_on_error=True):
        return materialise(selection, partition, raise_on_error=raise_on_error)

    return materialise.store, materialise_web


def test_second_snapshot_is_deduplicated_against_the_first(env):
    store, materialise = env
    materialise(FIRST)
    result = materialise(SECOND)

    first_kept = set(table(store, "web/fuzzy_deduplicated", FIRST).column("id").to_pylist())
    exact = duplicates(store, "web/exact_deduplicated", SECOND)
    fuzzy = duplicates(store, "web/fuzzy_deduplicated", SECOND)
    # Pages re-crawled unchanged are exact duplicates of the first snapshot's copies ...
    assert sum(target.startswith(f"web/{FIRST}/") for target in exact.values()) >= 3
    # ... and the mirrors' edited copies are fuzzy duplicates of kept documents of the first.
    assert len(fuzzy) == 2
    assert all(target in first_kept for target in fuzzy.values())
    rejected = table(store, "web/fuzzy_deduplicated", SECOND, "rejects")
    assert all(url.startswith("https://mirror.example.kr/") for url in rejected.column("url").to_pylist())
    assert all(json.loads(d)["similarity"] >= 0.8 for d in rejected.column("details").to_pylist())

    # Inside the first snapshot the mirror copy is a duplicate of the original page.
    assert len(duplicates(store, "web/fuzzy_deduplicated", FIRST)) == 1

    metadata = result.asset_materializations_for_node("web__fuzzy_deduplicated")[0].metadata
    assert metadata["earlier_partitions"].value == [FIRST]
    assert metadata["cross_partition_matches"].value >= 2
    assert metadata["rejects_by_reason_json"].value == {"fuzzy_duplicate": 2}
    kept = table(store, "web/fuzzy_deduplicated", SECOND)
    assert kept.column("duplicate_of").null_count == kept.num_rows


def test_backfilling_the_earlier_partition_reproduces_both(env):
    store, materialise = env
    materialise(FIRST)
    materialise(SECOND)
    before = {p: (duplicates(store, s, p), table(store, s, p).column("id").to_pylist())
              for p in (FIRST, SECOND) for s in ("web/exact_deduplicated", "web/fuzzy_deduplicated")}
    materialise(FIRST)  # backfill after a fix upstream
    materialise(SECOND)
    after = {p: (duplicates(store, s, p), table(store, s, p).column("id").to_pylist())
             for p in (FIRST, SECOND) for s in ("web/exact_deduplicated", "web/fuzzy_deduplicated")}
    assert after == before


def test_earlier_partitions_are_used_without_their_text(env, tmp_path):
    store, materialise = env
    materialise(FIRST)
    materialise(SECOND)
    expected = (duplicates(store, "web/exact_deduplicated", SECOND),
                duplicates(store, "web/fuzzy_deduplicated", SECOND))
    # Remove every document (text) the first snapshot's stages kept or rejected; keep only
    # the manifests and the source's dedup index.
    for stage in ("extracted_text", "language_filtered", "heuristic_filtered", "pii_redacted", "exact_deduplicated",
                  "fuzzy_deduplicated", "warc_records"):
        for folder in (tmp_path / "store" / "web" / stage / FIRST).glob("data-*/*"):
            if folder.name in ("kept", "rejects"):
                shutil.rmtree(folder)
    dedup = [a for a in web_assets if {k.path[-1] for k in a.keys} <= {"exact_deduplicated", "fuzzy_deduplicated"}]
    materialise(SECOND, dedup)
    assert (duplicates(store, "web/exact_deduplicated", SECOND),
            duplicates(store, "web/fuzzy_deduplicated", SECOND)) == expected


def test_an_unmaterialised_earlier_partition_fails_with_a_clear_message(env):
    store, materialise = env
    result = materialise(SECOND, raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    message = failure.event_specific_data.error.to_string()
    assert f"web/fuzzy_deduplicated [{FIRST}] was never materialised" in message


def third_snapshot(sample_dir, folder):
    """A later crawl of both snapshots' pages: every third page as it was, every third with a
    paragraph added (a near copy), the rest left out."""
    from warcio.archiveiterator import ArchiveIterator

    from conftest import write_warc

    pages = []
    for snapshot in (FIRST, SECOND):
        for path in sorted((sample_dir / "warc" / snapshot).glob("*.warc.gz")):
            with path.open("rb") as handle:
                for record in ArchiveIterator(handle):
                    if record.rec_type != "response":
                        continue
                    body = record.content_stream().read()
                    pages.append((record.rec_headers.get_header("WARC-Target-URI"), body,
                                  record.http_headers.get_header("Content-Type") or "text/html",
                                  record.http_headers.get_statuscode() + " OK"))
    responses = []
    for i, (url, body, content_type, status) in enumerate(pages):
        if i % 3 == 1:
            body = body.replace(b"</body>", EXTRA.encode("utf-8") + b"</body>", 1)
            url = url.replace("https://", "https://copy.example.kr/", 1)
        if i % 3 != 2:
            responses.append((url, body, content_type, status))
    folder.mkdir(parents=True)
    write_warc(folder / f"{THIRD}-00000.warc.gz", responses)


def test_cli_with_an_index_over_three_partitions_decides_as_the_assets(tmp_path, sample_dir, materialise):
    inbox = tmp_path / "inbox"
    for snapshot in (FIRST, SECOND):
        shutil.copytree(sample_dir / "warc" / snapshot, inbox / snapshot)
    third_snapshot(sample_dir, inbox / THIRD)
    store = materialise.store
    for partition in (FIRST, SECOND, THIRD):
        assert materialise(web_assets, partition).success
    index = tmp_path / "cli-index"
    for partition in (FIRST, SECOND, THIRD):
        source = tmp_path / f"{partition}.parquet"  # what the dedup assets read: heuristic_filtered's kept
        pq.write_table(table(store, "web/heuristic_filtered", partition), source)
        out = tmp_path / f"{partition}.dedup.parquet"
        result = subprocess.run([sys.executable, "-m", "curation", "dedup", str(source), str(out),
                                 "--index", str(index)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        cli = {row["id"]: (row["reason"], json.loads(row["details"])["duplicate_of"])
               for row in pq.read_table(tmp_path / f"{partition}.dedup.rejects.parquet").to_pylist()}
        assets = {}
        for stage in ("web/exact_deduplicated", "web/fuzzy_deduplicated"):
            rejected = table(store, stage, partition, "rejects")
            for row in (rejected.to_pylist() if rejected is not None else []):
                assets[row["id"]] = (row["reason"], json.loads(row["details"])["duplicate_of"])
        assert cli == assets, partition
        assert (pq.read_table(out).column("id").to_pylist()
                == table(store, "web/fuzzy_deduplicated", partition).column("id").to_pylist())
    reasons = [reason for reason, _ in cli.values()]
    assert reasons.count("exact_duplicate") >= 5 and reasons.count("fuzzy_duplicate") >= 3  # THIRD against history
    # Both indexes hold the same runs: the same kept documents, byte for byte.
    ours = [(e.name, e.run) for e in DedupIndex.open(str(index)).entries()]
    theirs = [(e.name, e.run) for e in DedupIndex.open(f"{store}/web/dedup_index").entries()]
    assert ours == theirs and [name for name, _ in ours] == [FIRST, SECOND, THIRD]
    # And rebuilding from the committed partitions gives that index again.
    rebuilt = tmp_path / "rebuilt"
    result = subprocess.run([sys.executable, "-m", "curation", "rebuild-index", "--index", str(rebuilt),
                             *[f"{store}/web/fuzzy_deduplicated/{p}" for p in (FIRST, SECOND, THIRD)]],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"rebuild-index: 3 partitions ({FIRST}, {SECOND}, {THIRD})" in result.stdout
    assert [(e.name, e.run) for e in DedupIndex.open(str(rebuilt)).entries()] == theirs


def test_dedup_assets_on_a_dask_cluster_write_the_same_bytes_and_index(tmp_path, sample_dir):
    inbox = tmp_path / "inbox"
    for snapshot in (FIRST, SECOND):
        shutil.copytree(sample_dir / "warc" / snapshot, inbox / snapshot)
    written = {}
    for mode in ("off", "local"):
        store = str(tmp_path / mode)
        with dg.instance_for_test() as instance:
            materialise = Materialiser(tmp_path, instance)
            for partition in (FIRST, SECOND):
                assert materialise(web_assets, partition, corpus_store=CorpusStore(root=store),
                                   dask=DaskResource(mode=mode, n_workers=2)).success
        written[mode] = {
            "shards": [(read_manifest(store, s, p).kept_shards, read_manifest(store, s, p).reject_shards)
                       for p in (FIRST, SECOND) for s in ("web/exact_deduplicated", "web/fuzzy_deduplicated")],
            "index": {str(f.relative_to(tmp_path / mode)): f.read_bytes()
                      for f in sorted((tmp_path / mode / "web" / "dedup_index").rglob("*")) if f.is_file()},
        }
    assert written["local"] == written["off"]
    assert any(name.endswith(".json") for name in written["off"]["index"])
