import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.documents import rejects_table
from curation.io import AtomicTableWriter, PartitionWriter, iter_document_batches, read_manifest, shard_paths


def docs(n, start=0):
    return pa.table({"id": [f"d{i}" for i in range(start, start + n)],
                     "text": [f"문서 {i}" for i in range(start, start + n)]})


def read_all(paths):
    return pa.concat_tables([pq.read_table(p) for p in paths]) if paths else None


def test_commit_writes_shards_and_manifest(tmp_path):
    writer = PartitionWriter(str(tmp_path), "web/stage", "P1", rows_per_shard=4)
    writer.write_kept(docs(10))
    writer.write_rejects(rejects_table(docs(2, 10), "stage", ["too_short", "not_korean"], ["{}", "{}"]))
    manifest = writer.commit(rows_in=12)
    assert len(manifest.kept_shards) == 3  # 4 + 4 + 2 rows
    assert manifest.rows_kept == 10 and manifest.rows_rejected == 2
    assert manifest.rejects_by_reason == {"not_korean": 1, "too_short": 1}
    assert read_manifest(str(tmp_path), "web/stage", "P1") == manifest
    kept = read_all(shard_paths(str(tmp_path), manifest))
    assert kept.column("id").to_pylist() == [f"d{i}" for i in range(10)]
    rejected = read_all(shard_paths(str(tmp_path), manifest, "rejects"))
    assert rejected.column("reason").to_pylist() == ["too_short", "not_korean"]


def test_shard_bytes_depend_on_the_rows_not_on_how_they_were_batched(tmp_path):
    rows = docs(23)
    shard_bytes = []
    for name, cuts in (("whole", [0, 23]), ("ragged", [0, 1, 2, 7, 7, 13, 22, 23]), ("ones", list(range(24)))):
        writer = PartitionWriter(str(tmp_path / name), "s", "P1", rows_per_shard=10, row_group_rows=3)
        for start, end in zip(cuts, cuts[1:]):
            writer.write_kept(rows.slice(start, end - start))
        manifest = writer.commit(rows_in=23)
        paths = shard_paths(str(tmp_path / name), manifest)
        shard_bytes.append([open(path, "rb").read() for path in paths])
        groups = [[pq.ParquetFile(path).metadata.row_group(i).num_rows
                   for i in range(pq.ParquetFile(path).num_row_groups)] for path in paths]
        assert groups == [[3, 3, 3, 1], [3, 3, 3, 1], [3]]  # full groups, a shard's room, the rest
        assert read_all(paths).equals(rows)
    assert shard_bytes[0] == shard_bytes[1] == shard_bytes[2]


def test_commit_refuses_when_documents_are_unaccounted_for(tmp_path):
    writer = PartitionWriter(str(tmp_path), "s", "P1")
    writer.write_kept(docs(3))
    with pytest.raises(RuntimeError, match="4 documents in but 3 kept"):
        writer.commit(rows_in=4)
    with pytest.raises(FileNotFoundError):
        read_manifest(str(tmp_path), "s", "P1")


def test_failed_rerun_leaves_previous_partition_intact(tmp_path):
    first = PartitionWriter(str(tmp_path), "s", "P1")
    first.write_kept(docs(3))
    committed = first.commit(rows_in=3)
    with pytest.raises(RuntimeError, match="stage failed"):
        with PartitionWriter(str(tmp_path), "s", "P1") as second:
            second.write_kept(docs(5, 100))
            raise RuntimeError("stage failed")
    assert read_manifest(str(tmp_path), "s", "P1") == committed
    assert read_all(shard_paths(str(tmp_path), committed)).num_rows == 3
    # the aborted attempt left nothing behind
    assert len([p for p in (tmp_path / "s" / "P1").iterdir() if p.name.startswith("data-")]) == 1


def test_rerun_replaces_partition_and_removes_old_attempts(tmp_path):
    for n in (3, 5):
        writer = PartitionWriter(str(tmp_path), "s", "P1")
        writer.write_kept(docs(n))
        manifest = writer.commit(rows_in=n)
    attempts = [p for p in (tmp_path / "s" / "P1").iterdir() if p.name.startswith("data-")]
    assert len(attempts) == 1
    assert read_all(shard_paths(str(tmp_path), manifest)).num_rows == 5


def test_atomic_table_writer_appears_only_on_close(tmp_path):
    out = tmp_path / "out.parquet"
    writer = AtomicTableWriter(str(out))
    writer.write(docs(2))
    assert not out.exists()
    writer.close()
    assert pq.read_table(out).num_rows == 2
    aborted = AtomicTableWriter(str(tmp_path / "never.jsonl"))
    aborted.write(docs(1))
    aborted.abort()
    assert list(tmp_path.iterdir()) == [out]


def test_jsonl_batches_stream_and_report_bad_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps({"id": str(i), "text": "가"}) for i in range(5)) + "\n")
    batches = list(iter_document_batches(str(path), batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 2, 1]
    path.write_text('{"id": "1", "text": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        list(iter_document_batches(str(path)))
    with pytest.raises(ValueError, match="unknown input format"):
        iter_document_batches(str(tmp_path / "x.csv"))
