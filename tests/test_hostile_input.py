"""Hostile input, second round: one test per class of failure, inputs generated here.

WARC files as crawlers and re-packers write them (several records per gzip member, records
without a target URI, junk, foreign and empty files), decoding of cut and stray bytes,
decomposed Hangul, stage CLI input of every wrong shape, and the operations around a run.
"""

import gzip
import io
import json

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from assets.automation import ready_snapshots
from assets.definitions import web_assets
from curation.io import read_manifest, shard_paths
from curation.sources.warc import BadRecord, WarcFileStats, iter_warc_records, record_batches
from resources.sources import WebInbox

PROSE = ("서울시는 내년부터 대중교통 환승 할인 제도를 확대해 광역버스와 지하철 사이의 환승 시간을 늘린다고 "
         "밝혔다. 시민들은 출퇴근 시간이 줄어들 것으로 기대하고 있다. ")


def record(url: str | None, body: bytes = b"", rec_type: str = "response", record_id: str | None = None,
           target: str | None = None) -> bytes:
    """One uncompressed WARC record. `url=None` drops WARC-Target-URI; `target` overrides it."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False)
    if rec_type == "response":
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        made = writer.create_warc_record(url or "https://placeholder.kr/", "response",
                                         payload=io.BytesIO(body), http_headers=headers)
    elif rec_type == "request":
        headers = StatusAndHeaders("GET / HTTP/1.1", [("Host", "a.kr")], is_http_request=True)
        made = writer.create_warc_record(url or "https://placeholder.kr/", "request",
                                         payload=io.BytesIO(b""), http_headers=headers)
    else:
        made = writer.create_warc_record(url or "https://placeholder.kr/", rec_type, payload=io.BytesIO(body))
    if url is None:
        made.rec_headers.remove_header("WARC-Target-URI")
    if target is not None:
        made.rec_headers.replace_header("WARC-Target-URI", target)
    if record_id is not None:
        made.rec_headers.replace_header("WARC-Record-ID", record_id)
    writer.write_record(made)
    return buffer.getvalue()


def page(n: int, extra: str = "") -> bytes:
    return f"<html><body><p>{n}번째 문서. {PROSE}{extra}</p></body></html>".encode()


def items(path, **options):
    stats = WarcFileStats()
    found = list(iter_warc_records(str(path), "S", stats, **options))
    rows = [i for i in found if not isinstance(i, BadRecord)]
    bad = [i for i in found if isinstance(i, BadRecord)]
    return rows, bad, stats


# 1. Oversized gzip members ------------------------------------------------------------------

def test_a_member_of_many_records_is_streamed_and_only_oversized_records_are_rejected(tmp_path):
    limit = 64 * 1024
    records = [record(f"https://a.kr/{i}", page(i)) for i in range(300)]  # ~300 kB: over the limit in all
    records.insert(150, record("https://a.kr/huge", page(0, "가" * limit)))
    path = tmp_path / "one-member.warc.gz"
    path.write_bytes(gzip.compress(b"".join(records)))  # as tools that gzip many records per member do
    rows, bad, stats = items(path, max_record_bytes=limit)
    assert len(rows) == 300 and [b.reason for b in bad] == ["record_too_large"]
    assert stats.records_by_type["response"] == 301  # every record seen and counted
    # The uncompressed path applies the same per-record limit.
    plain = tmp_path / "plain.warc"
    plain.write_bytes(b"".join(records))
    plain_rows, plain_bad, _ = items(plain, max_record_bytes=limit)
    assert len(plain_rows) == 300 and [b.reason for b in plain_bad] == ["record_too_large"]
    assert plain_bad[0].offset == sum(len(r) for r in records[:150])  # where it starts in the file


# 2. Records without WARC-Target-URI ----------------------------------------------------------

@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_records_without_a_target_uri_are_rejects_with_file_and_offset(tmp_path, compressed):
    records = [record("https://a.kr/ok", page(1)), record(None, page(2)), record(None, rec_type="request"),
               record(None, rec_type="revisit"), record("https://a.kr/blank", page(3), target=" "),
               record("https://a.kr/ok2", page(4))]
    path = tmp_path / ("a.warc.gz" if compressed else "a.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if compressed else b"".join(records))
    rows, bad, _ = items(path)
    assert [r["url"] for r in rows] == ["https://a.kr/ok", "https://a.kr/ok2"]
    assert [b.reason for b in bad] == ["missing_target_uri"] * 4  # an empty URI is not an http_status problem
    assert all(b.warc_file == path.name for b in bad) and len({b.offset for b in bad}) == 4


# 3. One bad file must not stop a snapshot ----------------------------------------------------

def snapshot_with_bad_files(folder) -> None:
    folder.mkdir(parents=True)
    good = [record(f"https://good.kr/{i}", page(i)) for i in range(3)]
    (folder / "good.warc.gz").write_bytes(b"".join(gzip.compress(r) for r in good))
    (folder / "not-a-warc.warc.gz").write_bytes(gzip.compress(b"<html>an HTML page saved under a WARC name</html>"))
    (folder / "empty.warc.gz").write_bytes(b"")
    damaged_first = gzip.compress(record("https://d.kr/0", page(10)))
    damaged_first = damaged_first[:30] + bytes(b ^ 0xFF for b in damaged_first[30:60]) + damaged_first[60:]
    (folder / "damaged-first.warc.gz").write_bytes(
        damaged_first + b"".join(gzip.compress(record(f"https://d.kr/{i}", page(10 + i))) for i in (1, 2)))
    plain = [record(f"https://p.kr/{i}", page(20 + i)) for i in range(4)]
    (folder / "junk.warc").write_bytes(plain[0] + plain[1] + b"garbage between records\r\n" * 3 + plain[2] + plain[3])


def test_unreadable_files_are_quarantined_and_the_rest_is_curated(tmp_path, materialise):
    snapshot_with_bad_files(tmp_path / "inbox" / "CC-MAIN-2027-01")
    result = materialise(web_assets, "CC-MAIN-2027-01")
    assert result.success
    manifest = read_manifest(materialise.store, "web/warc_records", "CC-MAIN-2027-01")
    rejects = pa.concat_tables(pq.read_table(p) for p in shard_paths(materialise.store, manifest, "rejects"))
    by_file = {}
    for row in rejects.to_pylist():
        by_file.setdefault(json.loads(row["details"])["warc_file"], []).append(row["reason"])
    assert by_file["not-a-warc.warc.gz"] == ["unreadable_file"] and by_file["empty.warc.gz"] == ["unreadable_file"]
    assert by_file["damaged-first.warc.gz"] == ["corrupt_record"]  # its other two records are read
    assert by_file["junk.warc"] == ["unparseable_record"]
    kept = pa.concat_tables(pq.read_table(p) for p in shard_paths(materialise.store, manifest))
    urls = set(kept.column("url").to_pylist())
    # Reading resumes at the next WARC record after the junk: every record of junk.warc is kept.
    assert urls == {*(f"https://good.kr/{i}" for i in range(3)), "https://d.kr/1", "https://d.kr/2",
                    *(f"https://p.kr/{i}" for i in range(4))}
    quarantined = {q["warc_file"] for q in manifest.extra["quarantined_files"]}
    assert quarantined == {"not-a-warc.warc.gz", "empty.warc.gz"}
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "quarantined_files"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_the_sensor_skips_a_folder_with_nothing_readable(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "CC-MAIN-2027-02").mkdir(parents=True)
    (inbox / "CC-MAIN-2027-02" / "empty.warc.gz").write_bytes(b"")
    (inbox / "CC-MAIN-2027-02" / "foreign.warc.gz").write_bytes(b"PK\x03\x04 a zip file")
    snapshot_with_bad_files(inbox / "CC-MAIN-2027-03")
    assert ready_snapshots(WebInbox(root=str(inbox))) == ["CC-MAIN-2027-03"]


# 7. Document ids ------------------------------------------------------------------------------

def test_ids_are_unique_per_record_and_files_keep_their_relative_path(tmp_path):
    folder = tmp_path / "snap"
    (folder / "crawl-a").mkdir(parents=True)
    (folder / "crawl-b").mkdir()
    same = record("https://a.kr/x", page(1), record_id="<urn:uuid:00000000-0000-0000-0000-000000000001>")
    for sub in ("crawl-a", "crawl-b"):  # the same base name in two folders, the same record twice in each
        (folder / sub / "part-0.warc.gz").write_bytes(gzip.compress(same) + gzip.compress(same))
    files = sorted(str(p) for p in folder.rglob("*.warc.gz"))
    stats = WarcFileStats()
    kept = pa.concat_tables(k for k, _, _ in record_batches(files, "S", stats, root=str(folder)))
    assert kept.num_rows == 4 and len(set(kept.column("id").to_pylist())) == 4
    assert sorted(set(kept.column("warc_file").to_pylist())) == ["crawl-a/part-0.warc.gz", "crawl-b/part-0.warc.gz"]
