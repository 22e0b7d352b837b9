import gzip

import pyarrow as pa
import pytest

from curation.extract import HtmlTextExtractor
from curation.sources.warc import WARC_RECORD_SCHEMA, WarcFileStats, WarcReadError, iter_warc_records

from conftest import write_warc

PROSE = ("<html><body><p>" + "한국어 웹 문서의 본문 문단입니다. 이 문장은 추출기가 남겨야 하는 내용입니다. " * 3
         + "</p></body></html>")


def _rows(path, snapshot="CC-TEST"):
    stats = WarcFileStats()
    rows = list(iter_warc_records(str(path), snapshot, stats))
    return rows, stats


@pytest.mark.parametrize("gzip_records", [True, False])
def test_only_response_records_become_rows(tmp_path, gzip_records):
    path = write_warc(tmp_path / ("a.warc.gz" if gzip_records else "a.warc"), [
        ("https://example.kr/a", PROSE.encode(), "text/html; charset=utf-8", "200 OK"),
        ("https://example.kr/b.pdf", b"%PDF-1.4", "application/pdf", "200 OK"),
    ], gzip=gzip_records)
    rows, stats = _rows(path)
    assert [r["url"] for r in rows] == ["https://example.kr/a", "https://example.kr/b.pdf"]
    assert stats.records_by_type == {"warcinfo": 1, "request": 2, "response": 2}
    first = rows[0]
    assert first["http_status"] == 200
    assert first["content_type"] == "text/html; charset=utf-8"
    assert first["payload"] == PROSE.encode()
    assert first["warc_record_id"].startswith("<urn:uuid:")
    assert first["id"].startswith("web/CC-TEST/")
    pa.Table.from_pylist(rows, schema=WARC_RECORD_SCHEMA)  # rows fit the schema


def test_ids_are_stable_and_distinct(tmp_path):
    path = write_warc(tmp_path / "a.warc.gz", [("https://example.kr/a", b"x", "text/html", "200 OK")] * 2)
    first, _ = _rows(path)
    again, _ = _rows(path)
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert len({r["id"] for r in first}) == 2  # same URL, different WARC-Record-ID


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.warc.gz"
    bad.write_bytes(gzip.compress(b"this is not a WARC file at all\r\n\r\n"))
    with pytest.raises(WarcReadError, match="broken.warc.gz"):
        _rows(bad)


def test_extraction_accounts_for_every_record(tmp_path):
    path = write_warc(tmp_path / "a.warc.gz", [
        ("https://example.kr/ok", PROSE.encode("cp949").replace(b"<html>", b'<html><meta charset="euc-kr">'),
         "text/html", "200 OK"),
        ("https://example.kr/gone", PROSE.encode(), "text/html", "404 Not Found"),
        ("https://example.kr/img.png", b"\x89PNG\r\n", "image/png", "200 OK"),
        ("https://example.kr/empty", b"<html><body></body></html>", "text/html", "200 OK"),
    ])
    rows, _ = _rows(path)
    stage = HtmlTextExtractor()
    kept, rejected, _ = stage.process(pa.Table.from_pylist(rows, schema=WARC_RECORD_SCHEMA))
    assert kept.column("url").to_pylist() == ["https://example.kr/ok"]
    assert "payload" not in kept.column_names
    assert kept.column("charset").to_pylist() == ["cp949"]
    assert "추출기가 남겨야 하는 내용" in kept.column("text")[0].as_py()
    reasons = dict(zip(rejected.column("url").to_pylist(), rejected.column("reason").to_pylist()))
    assert reasons == {"https://example.kr/gone": "http_status", "https://example.kr/img.png": "not_html",
                       "https://example.kr/empty": "no_main_text"}
    assert set(rejected.column("stage").to_pylist()) == {"extracted_text"}
    assert kept.num_rows + rejected.num_rows == len(rows)
