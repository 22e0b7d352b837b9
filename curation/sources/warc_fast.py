"""A fast path for the common gzip member: one well-formed WARC record, as Common Crawl writes
them. warcio parses headers through several layers of buffered readers per line, which was 60 %
of the reader's time; here a whole decompressed member is split with bytes methods.

`parse_member` reproduces what warcio (ArchiveIterator, then our HTTP header load and
`content_stream()`) gives for such a record: the same header values (each line decoded as UTF-8,
else ISO-8859-1, right-stripped; names right-stripped of blanks, values left-stripped; lines
without a colon dropped), status code string and payload bytes. Anything it does not handle the
same way (continuation lines, several records in a member, a Content-Length that does not
match, a Transfer- or Content-Encoding that warcio would decode, a target URI warcio would
rewrite, no HTTP status line) returns None, and the caller reads the member through warcio.
Equality with warcio is tested on generated and hostile records (tests/test_warc.py).
"""

from __future__ import annotations

import io
from typing import NamedTuple

_WARC_VERSIONS = (b"WARC/1.0", b"WARC/1.1")
_HTTP_VERSIONS = ("HTTP/1.0", "HTTP/1.1")
_RECORD_END = b"\r\n\r\n"


class Headers:
    """The parts of warcio's StatusAndHeaders that the reader uses."""

    __slots__ = ("headers", "statusline")

    def __init__(self, headers: list[tuple[str, str]], statusline: str = "") -> None:
        self.headers, self.statusline = headers, statusline

    def get_header(self, name: str, default_value: str | None = None) -> str | None:
        name_lower = name.lower()
        for key, value in self.headers:
            if key.lower() == name_lower:
                return value
        return default_value

    def get_statuscode(self) -> str:
        return self.statusline.split(" ", 1)[0]


class ParsedRecord(NamedTuple):
    """What `_record_item` reads of a warcio record, already parsed."""

    rec_type: str
    rec_headers: Headers
    http_headers: Headers | None
    payload: bytes
    format: str = "warc"

    def content_stream(self) -> io.BytesIO:
        return io.BytesIO(self.payload)


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8").rstrip()
    except UnicodeDecodeError:
        return line.decode("iso-8859-1").rstrip()


def _header_lines(data: bytes, start: int) -> tuple[list[str], int] | None:
    """Decoded lines from `start` up to the first blank one, and the offset after it; None when
    the block has no blank line or holds a continuation line."""
    lines = []
    position = start
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            return None
        line = _decode(data[position:end])
        position = end + 1
        if not line:
            return lines, position
        if line[0] in " \t" and lines:
            return None
        lines.append(line)


def _pairs(lines: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            pairs.append((name.rstrip(" \t"), value.lstrip()))
    return pairs


def parse_member(data: bytes) -> ParsedRecord | None:
    """The one WARC record of a decompressed gzip member, or None (read it with warcio)."""
    if not data.startswith(_WARC_VERSIONS):
        return None
    parsed = _header_lines(data, 0)
    if parsed is None:
        return None
    lines, block_start = parsed
    if lines[0] not in ("WARC/1.0", "WARC/1.1"):
        return None
    rec_headers = Headers(_pairs(lines[1:]), lines[0][5:])
    rec_type = rec_headers.get_header("WARC-Type")
    length = rec_headers.get_header("Content-Length")
    if not rec_type or length is None or not length.isdigit() or not length.isascii():
        return None
    block_end = block_start + int(length)
    if data[block_end:] != _RECORD_END:
        return None
    target = rec_headers.get_header("WARC-Target-URI")
    if target is not None and (target.startswith("<") or " " in target):
        return None
    if rec_type != "response":
        return ParsedRecord(rec_type, rec_headers, None, b"")
    if not target or not target.startswith(("http:", "https:")) or block_end == block_start:
        return None
    http = _header_lines(data[:block_end], block_start)
    if http is None:
        return None
    http_lines, payload_start = http
    status = http_lines[0] if http_lines else ""
    if not status.upper().startswith(_HTTP_VERSIONS):
        return None
    http_headers = Headers(_pairs(http_lines[1:]), status[8:].strip())
    if http_headers.get_header("transfer-encoding") is not None or \
            http_headers.get_header("content-encoding") is not None:
        return None
    return ParsedRecord(rec_type, rec_headers, http_headers, data[payload_start:block_end])
