"""The whole-member fast path of the WARC reader gives exactly what warcio gives: per record on
hand-made members with awkward headers, and per file on the sample, a generated crawl and the
hostile corpus (fast path on vs off)."""

import gzip
import io
import shutil

import pytest
from warcio.archiveiterator import ArchiveIterator

from curation.sources import warc
from curation.sources.warc import WarcFileStats, _record_item, iter_warc_records
from curation.sources.warc_fast import parse_member

from conftest import SAMPLE, write_warc
from hostile import hostile_responses, write_hostile_snapshot

BODY = "<html><body><p>한국어 본문입니다.</p></body></html>".encode()


def member(warc_lines: list[bytes], block: bytes, newline: bytes = b"\r\n", length: int | None = None,
           tail: bytes = b"\r\n\r\n") -> bytes:
    length = len(block) if length is None else length
    head = newline.join(warc_lines + [b"Content-Length: %d" % length]) + newline + newline
    return head + block + tail


def http(status: bytes, headers: list[bytes], body: bytes = BODY, newline: bytes = b"\r\n") -> bytes:
    return newline.join([status] + headers) + newline + newline + body


TARGET = b"WARC-Target-URI: https://example.kr/a"
WARC = [b"WARC/1.0", b"WARC-Type: response", TARGET, b"WARC-Record-ID: <urn:uuid:1>", b"WARC-Date: 2026-01-01"]
TEXT = [b"Content-Type: text/html; charset=utf-8"]
HANDLED = {
    "plain": member(WARC, http(b"HTTP/1.1 200 OK", TEXT)),
    "lf line ends": member(WARC, http(b"HTTP/1.1 200 OK", TEXT, newline=b"\n"), newline=b"\n"),
    "no reason phrase": member(WARC, http(b"HTTP/1.0 404", TEXT)),
    "non-numeric status": member(WARC, http(b"HTTP/1.1 abc def", TEXT)),
    "lower-case names, blanks": member([b"WARC/1.1", b"warc-type :  response ", b"warc-target-uri:https://e.kr/",
                                        b"WARC-Date:\t2026"],
                                       http(b"http/1.1 200 OK", [b"content-type:  text/html "])),
    "latin-1 header value": member(WARC, http(b"HTTP/1.1 200 OK", [b"Content-Type: text/html; x=\xe9\xff"])),
    "utf-8 header value": member(WARC, http(b"HTTP/1.1 200 OK", ["Content-Type: 텍스트".encode()])),
    "line without colon": member(WARC + [b"junk line"], http(b"HTTP/1.1 200 OK", [b"nonsense", *TEXT])),
    "repeated header": member(WARC, http(b"HTTP/1.1 200 OK", [b"Content-Type: a/b", b"Content-Type: c/d"])),
    "no content type": member(WARC, http(b"HTTP/1.1 200 OK", [])),
    "empty payload": member(WARC, http(b"HTTP/1.1 200 OK", TEXT, body=b"")),
    "request record": member([b"WARC/1.0", b"WARC-Type: request", TARGET], b"GET / HTTP/1.1\r\n\r\n"),
    "request without target": member([b"WARC/1.0", b"WARC-Type: request"], b"GET / HTTP/1.1\r\n\r\n"),
    "warcinfo": member([b"WARC/1.0", b"WARC-Type: warcinfo"], b"software: x\r\n"),
}
DECLINED = {
    "continuation line": member(WARC, http(b"HTTP/1.1 200 OK", [b"Content-Type: text/html;", b"  charset=utf-8"])),
    "chunked": member(WARC, http(b"HTTP/1.1 200 OK", [*TEXT, b"Transfer-Encoding: chunked"],
                                 body=b"5\r\nhello\r\n0\r\n\r\n")),
    "gzip content": member(WARC, http(b"HTTP/1.1 200 OK", [*TEXT, b"Content-Encoding: gzip"],
                                      body=gzip.compress(BODY))),
    "short block": member(WARC, http(b"HTTP/1.1 200 OK", TEXT), length=10_000, tail=b""),
    "two records": member(WARC, http(b"HTTP/1.1 200 OK", TEXT)) * 2,
    "bracketed target": member([b"WARC/1.0", b"WARC-Type: response", b"WARC-Target-URI: <https://e.kr/>"],
                               http(b"HTTP/1.1 200 OK", TEXT)),
    "no http status line": member(WARC, b"<html>no headers</html>"),
    "odd length": member(WARC[:4] + [b"Content-Length: +12"], b"x" * 12),
    "not warc": b"HTTP/1.1 200 OK\r\n\r\n",
    "headers only, no blank line": member(WARC, b"HTTP/1.1 200 OK\r\nContent-Type: x/y"),
}


@pytest.mark.parametrize("name", sorted(HANDLED))
def test_the_fast_path_gives_what_warcio_gives(name):
    data = HANDLED[name]
    parsed = parse_member(data)
    assert parsed is not None, "this member is the common case: the fast path must take it"
    fast_stats, slow_stats = WarcFileStats(), WarcFileStats()
    fast = _record_item(parsed, "f", 0, "s", fast_stats, 1 << 20, 0)
    records = ArchiveIterator(io.BytesIO(data), no_record_parse=True)
    [slow] = [_record_item(r, "f", 0, "s", slow_stats, 1 << 20, i) for i, r in enumerate(records)]
    assert fast == slow and fast_stats.records_by_type == slow_stats.records_by_type


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_members_warcio_reads_differently_are_left_to_warcio(name):
    assert parse_member(DECLINED[name]) is None


def read_all(path, monkeypatch, fast: bool):
    if not fast:
        monkeypatch.setattr(warc, "parse_member", lambda data: None)
    stats = WarcFileStats()
    items = list(iter_warc_records(str(path), "s", stats))
    monkeypatch.undo()
    return items, stats


def test_whole_files_read_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    write_hostile_snapshot(tmp_path / "hostile")
    generated = write_warc(tmp_path / "gen.warc.gz", [(f"https://e.kr/{i}", BODY * (i % 7), "text/html", "200 OK")
                                                      for i in range(300)])
    files = [*sorted((SAMPLE / "warc").glob("*/*.warc.gz")), tmp_path / "hostile" / "hostile.warc.gz", generated]
    for path in files:
        (fast, fast_stats), (slow, slow_stats) = read_all(path, monkeypatch, True), read_all(path, monkeypatch, False)
        assert fast == slow, path
        assert fast_stats == slow_stats
    assert len([i for i in read_all(files[-2], monkeypatch, True)[0] if isinstance(i, dict)]) == \
        len(hostile_responses()) - 3  # corrupt, truncated and the 50 MB page are rejects


def test_a_member_over_the_limit_streams_as_before(tmp_path, monkeypatch):
    path = write_warc(tmp_path / "big.warc.gz", [("https://e.kr/big", b"x" * 300_000, "text/html", "200 OK")])
    shutil.copy(path, tmp_path / "copy.warc.gz")
    monkeypatch.setattr(warc, "_HEADROOM", 10)
    items = list(iter_warc_records(str(path), "s", WarcFileStats(), max_record_bytes=1000))
    assert [i.reason for i in items if isinstance(i, warc.BadRecord)] == ["record_too_large"]
