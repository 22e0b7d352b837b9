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


# 4. Decoding ----------------------------------------------------------------------------------

def test_a_stray_byte_or_a_cut_character_no_longer_sends_a_page_to_the_fallback():
    from curation.sources.html import decode_html

    body = f"<html><body><p>{PROSE * 6}</p></body></html>".encode()
    middle = len(body) // 2
    while body[middle] & 0xC0 == 0x80:  # a character boundary
        middle += 1
    stray = body[:middle] + b"\xff" + body[middle:]
    cut = body[:-len(b"</p></body></html>")][:-1]  # ends inside a three-byte syllable
    for payload, content_type in ((stray, "text/html; charset=utf-8"), (stray, "text/html"),
                                  (cut, "text/html; charset=utf-8")):
        page = decode_html(payload, content_type)
        assert page.encoding == "utf-8" and page.text.count("\ufffd") <= 1, (content_type, page.charset_source)
    assert decode_html(cut, "text/html").replaced is False  # the cut character is dropped, nothing replaced
    legacy = ('<html><head><meta charset="euc-kr"></head><body><p>' + PROSE * 6 + "</p></body></html>").encode("cp949")
    legacy = legacy[:200] + b"\x80" + legacy[200:]
    assert decode_html(legacy, "text/html").encoding == "cp949"
    garbage = body[:200] + b"\xff\xfe\xc3\x28\x80" * 200  # not one charset's text: still the fallback
    assert decode_html(garbage, "text/html; charset=utf-8").charset_source == "fallback"


def test_extraction_keeps_the_replaced_share_and_rejects_only_above_it(tmp_path):
    from curation.catalog import EXTRACTED_TEXT

    body = f"<html><body><p>{PROSE * 6}</p></body></html>".encode()
    at = body.index("환승".encode())  # a character boundary
    rows = [{"id": "stray", "payload": body[:at] + b"\xff" + body[at:], "http_status": 200,
             "content_type": "text/html"},
            {"id": "cut", "payload": body[:-20], "http_status": 200, "content_type": "text/html"},
            {"id": "garbage", "payload": body[:200] + b"\xff\xfe\xc3\x28\x80" * 200, "http_status": 200,
             "content_type": "text/html"}]
    kept, rejected, _ = EXTRACTED_TEXT.stage().process(pa.Table.from_pylist(rows))
    assert kept.column("id").to_pylist() == ["stray", "cut"]
    shares = dict(zip(kept.column("id").to_pylist(), kept.column("replaced_ratio").to_pylist()))
    assert 0 < shares["stray"] < 0.01 and shares["cut"] == 0
    assert rejected.column("reason").to_pylist() == ["undecodable"]


# 5. Unicode normalisation --------------------------------------------------------------------

def test_decomposed_hangul_is_curated_as_its_composed_twin(tmp_path):
    import unicodedata

    from curation.__main__ import main
    from curation.sources.personas import persona_documents
    from curation.text import nfc_text

    composed = PROSE * 2
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                              for i, t in (("nfc", composed), ("nfd", decomposed))))
    assert main(["heuristics", str(source), str(tmp_path / "out.parquet")]) == 0
    kept = pq.read_table(tmp_path / "out.parquet")
    assert kept.column("id").to_pylist() == ["nfc", "nfd"]  # NFD was rejected as too_short / jamo_ratio
    assert kept.column("text").to_pylist() == [composed, composed]
    # Where text is born in the graph: extraction and persona documents give NFC too.
    from curation.catalog import EXTRACTED_TEXT

    html = f"<html><body><p>{decomposed}</p></body></html>".encode()
    extracted, _, _ = EXTRACTED_TEXT.stage().process(pa.Table.from_pylist(
        [{"id": "p", "payload": html, "http_status": 200, "content_type": "text/html"}]))
    assert extracted.column("text")[0].as_py() == composed.strip()  # jusText trims the paragraph
    from curation.sources.personas import PERSONA_ROW_SCHEMA

    row = {name: None for name in PERSONA_ROW_SCHEMA.names} | {"uuid": "u", "persona": decomposed}
    documents = persona_documents(pa.Table.from_pylist([row], schema=PERSONA_ROW_SCHEMA), "r")
    assert composed in documents.column("text").to_pylist()
    table = pa.table({"text": [composed]})
    assert nfc_text(table) is table  # text already in NFC is not copied


# 6. Stage CLI input --------------------------------------------------------------------------

def cli(tmp_path, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True, cwd=tmp_path)


KOREAN = "서울은 대한민국의 수도이며 한강을 따라 발전한 큰 도시입니다."


@pytest.mark.parametrize("stage", ["langid", "dedup"])
def test_every_malformed_input_is_a_clear_error_naming_file_and_line(tmp_path, stage):
    long_text = KOREAN * 2000
    cases = {
        "number_text.jsonl": ([{"id": "a", "text": long_text}, {"id": "b", "text": 5}], "line 2: field 'text'"),
        "object_text.jsonl": ([{"id": "a", "text": KOREAN}, {"id": "b", "text": {"x": 1}}], "line 2: field 'text'"),
        "mixed_ids.jsonl": ([{"id": "a", "text": KOREAN}, {"id": 2, "text": KOREAN}], "line 2: field 'id'"),
        "null_id.jsonl": ([{"id": "a", "text": KOREAN}, {"id": None, "text": KOREAN}], "row 2 has no id"),
        "late_id.jsonl": ([{"text": KOREAN}, {"id": "b", "text": KOREAN}], "row 1 has no id"),
    }
    for name, (rows, _) in cases.items():
        (tmp_path / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (tmp_path / "surrogate.jsonl").write_bytes(b'{"id":"a","text":"ok"}\n{"id":"b","text":"x \\ud800 y"}\n')
    cases["surrogate.jsonl"] = (None, "line 2: field 'text' holds a lone surrogate")
    (tmp_path / "bad_utf8.jsonl").write_bytes(b'{"id":"a","text":"ok"}\n{"id":"b","text":"x \xff y"}\n')
    cases["bad_utf8.jsonl"] = (None, "line 2 is not valid UTF-8")
    data = gzip.compress(b"".join(json.dumps({"id": str(i), "text": KOREAN}).encode() + b"\n" for i in range(3000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[:len(data) // 2])
    cases["cut.jsonl.gz"] = (None, "the compressed file is cut short or damaged after line")
    pq.write_table(pa.table({"id": ["a", "b"], "text": pa.array([KOREAN.encode(), b"\xff"], pa.binary())}),
                   tmp_path / "binary.parquet")
    cases["binary.parquet"] = (None, "row 2: text is not valid UTF-8")
    for name, (_, expected) in cases.items():
        result = cli(tmp_path, stage, name, "out.parquet")
        assert result.returncode == 2 and "Traceback" not in result.stderr, (name, result.stderr)
        assert result.stderr.startswith(f"error: {name}: ") and expected in result.stderr, (name, result.stderr)
        assert len(result.stderr) < 600  # a message, never a document
        assert not list(tmp_path.glob("out*"))  # nothing half-written, no temporary file left


def test_accepted_input_shapes_and_duplicate_ids_are_reported(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": KOREAN}).encode() + b"\n")
    pq.write_table(pa.table({"id": pa.array(["a", "b"], pa.string_view()),
                             "text": pa.array([KOREAN, KOREAN + " 또"], pa.string_view())}),
                   tmp_path / "views.parquet")
    pq.write_table(pa.table({"id": [1, 2], "text": pa.array([KOREAN.encode(), b"x"], pa.binary())}),
                   tmp_path / "binary.parquet")
    (tmp_path / "dup.jsonl").write_text("".join(json.dumps({"id": "same", "text": t}, ensure_ascii=False) + "\n"
                                                for t in (KOREAN, KOREAN + " 둘째")))
    for name, rows in (("bom.jsonl", 1), ("views.parquet", 2), ("binary.parquet", 2), ("dup.jsonl", 2)):
        for stage in ("langid", "dedup"):
            result = cli(tmp_path, stage, name, f"{stage}.parquet")
            assert result.returncode == 0, (name, stage, result.stderr)
            assert f": {rows} in," in result.stdout
            assert ("repeat an earlier row's id (first: row 2)" in result.stderr) == (name == "dup.jsonl")


def test_an_output_error_names_the_output_and_a_full_disk_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    from curation.__main__ import main

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": KOREAN}, ensure_ascii=False) + "\n")
    (tmp_path / "file").write_text("a file, not a folder")
    assert main(["langid", str(source), str(tmp_path / "file" / "out.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'file' / 'out.parquet'}: ") and str(source) not in err

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    monkeypatch.setattr(pq.ParquetWriter, "close", full)  # the abort path's flush fails again
    assert main(["langid", str(source), str(tmp_path / "out.parquet")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "in.jsonl"]


# 8. Operations: one writer per partition, no temporary file left ------------------------------

def test_a_second_writer_of_a_partition_is_told_another_run_holds_it(tmp_path):
    from curation.io import PartitionBusyError, PartitionWriter

    table = pa.table({"id": ["a"], "text": [KOREAN], "source": ["t"], "snapshot": ["p"]})
    first = PartitionWriter(str(tmp_path), "web/language_filtered", "P")
    first.write_kept(table)
    second = PartitionWriter(str(tmp_path), "web/language_filtered", "P")
    with pytest.raises(PartitionBusyError, match=r"web/language_filtered \[P\] is being written by another run"):
        second.write_kept(table)
    assert first.commit(rows_in=1).rows_kept == 1  # the holder was not disturbed
    again = PartitionWriter(str(tmp_path), "web/language_filtered", "P")  # free once committed
    again.write_kept(table)
    assert again.commit(rows_in=1).rows_kept == 1


def test_temporary_files_of_a_killed_run_go_at_the_next_commit(tmp_path):
    from curation.io import PartitionWriter, partition_dir

    folder = tmp_path / partition_dir("", "web/x", "P").lstrip("/")
    folder.mkdir(parents=True)
    (folder / "manifest.json.tmp-0123abcd").write_text("{")  # a run killed while writing its manifest
    writer = PartitionWriter(str(tmp_path), "web/x", "P")
    writer.write_kept(pa.table({"id": ["a"], "text": [KOREAN]}))
    writer.commit(rows_in=1)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("data-")) == ["manifest.json"]
