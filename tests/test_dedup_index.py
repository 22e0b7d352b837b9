"""The persistent dedup index and the one partition entry point: lookups across partitions,
atomic and idempotent adds (SIGKILL in a real subprocess), rebuilds, Dask against in-process
byte for byte, the memory budget, and full accounting."""

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curation.dedup.engine import DedupSettings, deduplicate_partition, kept_input_rows, rebuild_index
from curation.dedup.index import DedupIndex, DedupIndexError
from curation.dedup.minhash import MinHashConfig, shingle_sets
from curation.parallel import dask_client

from dedup_corpus import partitions, reader

SETTINGS = DedupSettings(shards=8, map_rows=200)
CRASH = Path(__file__).with_name("crash_index.py")


def index_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def decisions(result) -> dict[int, tuple[str, str]]:
    return result.duplicates()


def split_tables(result, table):
    kept, rejected, _ = zip(*result.split(reader(table)()))
    return pa.concat_tables(kept), pa.concat_tables(rejected)


def run_all(root: Path, settings: DedupSettings = SETTINGS, client=None, spill=None):
    index = DedupIndex.open(str(root), settings.layout())
    results = []
    for p, table in enumerate(partitions()):
        results.append(deduplicate_partition(reader(table), f"p{p}", settings, index, client=client, spill=spill))
    return index, results


def jaccard(a: str, b: str) -> float:
    x, y = shingle_sets([a, b], MinHashConfig())
    inter = np.intersect1d(x, y).shape[0]
    return inter / (x.shape[0] + y.shape[0] - inter)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    index, results = run_all(root)
    return root, index, results


def test_later_partitions_are_deduplicated_against_the_kept_documents_of_earlier_ones(built):
    root, index, results = built
    tables = partitions()
    texts = {i: t for table in tables
             for i, t in zip(table.column("id").to_pylist(), table.column("text").to_pylist())}
    kept = [set(split_tables(r, t)[0].column("id").to_pylist()) for r, t in zip(results, tables)]
    assert [e.name for e in index.entries()] == ["p0", "p1", "p2"]
    assert [e.documents for e in index.entries()] == [len(k) for k in kept]  # only kept documents are indexed
    for p, (result, table) in enumerate(zip(results, tables)):
        ids = table.column("id").to_pylist()
        cross = {row: target for row, (target, _) in result.duplicates().items() if not target.startswith(f"p{p}/")}
        if p == 0:
            assert not cross
            continue
        assert len(cross) > 50 and result.stats.cross_partition_matches > 0
        earlier_kept = set().union(*kept[:p])
        exact_survivors = set(ids) - {ids[r] for r, (_, why) in result.duplicates().items()
                                      if why == "exact_duplicate"}
        for (row, (target, reason)), similarity in zip(result.duplicates().items(), result.similarity):
            if reason == "exact_duplicate":  # the copy of the same text that survived exact dedup
                assert target in earlier_kept or target in exact_survivors
                assert jaccard(texts[ids[row]], texts[target]) == 1.0
            else:  # its component's kept document, linked by edges verified at 0.8
                assert target in earlier_kept or target in kept[p]
                assert similarity >= 0.8
    assert results[2].stats.index_bytes_read > results[1].stats.index_bytes_read > 0


def test_every_document_is_kept_or_rejected_once_with_a_reason(built):
    _, _, results = built
    for result, table in zip(results, partitions()):
        kept, rejected = split_tables(result, table)
        assert kept.num_rows + rejected.num_rows == table.num_rows
        assert (sorted(kept.column("id").to_pylist() + rejected.column("id").to_pylist())
                == sorted(table.column("id").to_pylist()))
        assert set(rejected.column("reason").to_pylist()) == {"exact_duplicate", "fuzzy_duplicate"}
        assert kept.column("duplicate_of").null_count == kept.num_rows


def test_re_adding_a_partition_changes_nothing_and_names_the_same_decisions(built, tmp_path):
    root, index, results = built
    before = index_files(root)
    again = deduplicate_partition(reader(partitions()[1]), "p1", SETTINGS, index)
    assert index_files(root) == before
    assert decisions(again) == decisions(results[1])  # against p0 only, though p2 is in the index


def test_rebuilding_from_the_kept_documents_gives_the_same_index(built, tmp_path):
    root, index, results = built
    kept = [(f"p{p}", reader(split_tables(r, t)[0].select(["id", "text"])))
            for p, (r, t) in enumerate(zip(results, partitions()))]
    rebuilt = DedupIndex.open(str(tmp_path / "rebuilt"), SETTINGS.layout())
    assert rebuild_index(rebuilt, kept, SETTINGS) == ["p0", "p1", "p2"]
    assert index_files(tmp_path / "rebuilt") == index_files(root)


def test_another_configuration_and_a_missing_partition_are_errors_naming_them(built):
    root, index, _ = built
    other = replace(SETTINGS, minhash=MinHashConfig(ngram=5))
    with pytest.raises(DedupIndexError, match="'ngram': 3.*'ngram': 5"):
        DedupIndex.open(str(root), other.layout())
    assert DedupIndex.open(str(root), replace(SETTINGS, shards=16).layout()).layout.shards == SETTINGS.shards
    with pytest.raises(DedupIndexError, match="'p9' is not in the dedup index"):
        deduplicate_partition(reader(partitions()[0]), "p3", SETTINGS, index, earlier=["p0", "p9"])


def test_a_killed_add_leaves_the_index_as_it_was_and_a_rerun_matches(tmp_path):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for root in (clean, crashed):
        subprocess.run([sys.executable, str(CRASH), str(root), "0"], check=True, timeout=120)
    subprocess.run([sys.executable, str(CRASH), str(clean), "1"], check=True, timeout=120)
    before = index_files(crashed)
    process = subprocess.Popen([sys.executable, str(CRASH), str(crashed), "1", "--pause", "0.3"])
    deadline = time.monotonic() + 90
    while len(list(crashed.glob("runs/p1.attempt-*/*"))) < 2:  # the run is half written
        assert process.poll() is None, "the add finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    after = {k: v for k, v in index_files(crashed).items() if ".attempt-" not in k}
    assert after == before  # no entry, no run: the index is as it was
    assert [e.name for e in DedupIndex.open(str(crashed)).entries()] == ["p0"]
    subprocess.run([sys.executable, str(CRASH), str(crashed), "1"], check=True, timeout=120)
    assert index_files(crashed) == index_files(clean)  # and the orphan attempt is gone


def test_a_small_memory_budget_cuts_the_passes_finer_through_spill_files_with_the_same_result(built, tmp_path):
    root, _, results = built
    small = replace(SETTINGS, memory_budget_mb=0.02)  # 21 kB: 600 documents need 336 kB of entries
    seen = {}
    spill = tmp_path / "spill"
    index = DedupIndex.open(str(tmp_path / "small"), small.layout())
    for p, table in enumerate(partitions()):
        folder = spill / f"p{p}"
        result = deduplicate_partition(reader(table), f"p{p}", small, index, spill=str(folder))
        seen[p] = (result, sorted(f.name.split("-")[0] for f in folder.iterdir()))
    for p, (result, names) in seen.items():
        assert decisions(result) == decisions(results[p])
        stats = result.stats
        assert stats.hash_ranges > SETTINGS.shards and stats.verify_tasks > 1
        assert stats.largest_range_bytes <= 0.02 * (1 << 20)
        assert names.count("map") == stats.spill_files == 3 and names.count("candidates") == stats.hash_ranges
    assert index_files(tmp_path / "small") == index_files(root)


def test_dask_gives_byte_identical_outputs_and_index(built, tmp_path):
    root, _, results = built
    with dask_client("local", workers=2) as client:
        assert len(client.nthreads()) == 2
        _, on_dask = run_all(tmp_path / "dask", client=client)
    assert index_files(tmp_path / "dask") == index_files(root)
    for a, b, table in zip(results, on_dask, partitions()):
        assert decisions(a) == decisions(b)
        for x, y in zip(split_tables(a, table), split_tables(b, table)):
            assert x.equals(y)


def test_without_an_index_a_file_is_deduplicated_alone():
    table = partitions()[1]
    alone = deduplicate_partition(reader(table), "p1", SETTINGS)
    targets = {t for t, _ in alone.duplicates().values()}
    assert targets and all(t.startswith("p1/") for t in targets)


def test_kept_input_rows_inverts_the_duplicate_rows():
    dup = np.array([0, 3, 4, 9], dtype=np.int64)
    kept = np.setdiff1d(np.arange(12), dup)
    assert kept_input_rows(np.arange(kept.shape[0]), dup).tolist() == kept.tolist()


def test_an_index_on_an_object_store_url_gives_the_same_decisions(built):
    import fsspec

    _, _, results = built
    index = DedupIndex.open("memory://dedup-test/index", SETTINGS.layout())
    for p, table in enumerate(partitions()):
        result = deduplicate_partition(reader(table), f"p{p}", SETTINGS, index)
        assert decisions(result) == decisions(results[p])
    fs = fsspec.filesystem("memory")
    assert not fs.exists("/dedup-test/index/_spill") or not fs.ls("/dedup-test/index/_spill")  # spill removed
    assert [e.name for e in index.entries()] == ["p0", "p1", "p2"]
