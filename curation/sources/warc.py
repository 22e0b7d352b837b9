"""Common Crawl WARC files (gzip per record, as Common Crawl ships them) to document rows.

Only `response` records are documents; `warcinfo`, `request` and `metadata` records describe
the crawl and are counted, not kept. Each response becomes one row with its URL, WARC ids, HTTP
status and Content-Type and the raw payload; decoding and extraction happen in the next stage so
a fixed extractor can be re-run without re-reading the WARC files.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyarrow as pa
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from curation.documents import details_json, document_id, document_schema, rejects_table
from curation.io import filesystem
from curation.stage import BatchStats

WARC_READER_STAGE = "warc_records"  # the asset name: rejects name the asset that wrote them
WARC_BATCH_ROWS = 256  # rows carry raw payloads (tens of KB each): keep batches small

WARC_RECORD_SCHEMA = document_schema(without=("text",), extra=[  # no text yet: extraction adds it
        pa.field("warc_file", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("warc_date", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("payload", pa.binary()),
])


class WarcReadError(RuntimeError):
    """A file that is not a WARC file at all; names the file."""


GZIP_MAGIC = b"\x1f\x8b\x08"
# Common Crawl truncates payloads at 1 MiB (WARC-Truncated); a record this much larger is not a
# web page worth extracting, and holding it would let one record exhaust a worker's memory.
MAX_RECORD_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20


@dataclass
class BadRecord:
    """A record that could not be read: where it starts in the file and why."""

    warc_file: str
    offset: int
    reason: str  # corrupt_record | truncated_record | record_too_large | unparseable_record
    error: str


@dataclass
class WarcFileStats:
    records_by_type: Counter = field(default_factory=Counter)
    bad_records_by_reason: Counter = field(default_factory=Counter)


@dataclass
class _Member:
    offset: int
    data: bytes | None  # None with `error`
    error: tuple[str, str] | None = None


def _gzip_members(stream: BinaryIO, max_bytes: int) -> Iterator[_Member]:
    """Each gzip member of a stream, decompressed, with its file offset. A corrupt or truncated
    member is reported and reading resumes at the next gzip header after its start, so one
    damaged record costs one record. Memory: one member's compressed bytes plus at most
    `max_bytes` of its output."""
    buffer = bytearray()
    base = 0  # file offset of buffer[0]
    at_eof = False

    def fill() -> None:
        nonlocal at_eof
        data = stream.read(_CHUNK)
        at_eof = not data
        buffer.extend(data)

    while True:
        if not buffer:
            if at_eof:
                return
            fill()
            continue
        decompressor = zlib.decompressobj(wbits=31)
        pieces: list[bytes] = []
        size, position, error = 0, 0, None
        while not decompressor.eof:
            if position >= len(buffer):
                if at_eof:
                    error = ("truncated_record", "the file ends inside this record")
                    break
                fill()
                continue
            piece = bytes(buffer[position:position + _CHUNK])
            try:
                data = decompressor.decompress(piece)
            except zlib.error as failure:
                error = ("corrupt_record", f"zlib: {failure}")
                break
            position += len(piece) - len(decompressor.unused_data)
            size += len(data)
            if size <= max_bytes:
                pieces.append(data)
            elif pieces:
                pieces = []  # over the limit: stop holding it, keep counting
        if error is None and size > max_bytes:
            error = ("record_too_large", f"{size} bytes decompressed, limit {max_bytes}")
            yield _Member(base, None, error)
        elif error is None:
            yield _Member(base, b"".join(pieces))
        else:
            yield _Member(base, None, error)
            position = 1
            while (found := buffer.find(GZIP_MAGIC, position)) < 0 and not at_eof:
                position = max(1, len(buffer) - len(GZIP_MAGIC) + 1)
                fill()
            position = found if found >= 0 else len(buffer)
        del buffer[:position]
        base += position


def iter_warc_records(url: str, snapshot: str, stats: WarcFileStats | None = None,
                      storage_options: dict[str, Any] | None = None,
                      max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[dict[str, Any] | BadRecord]:
    """Rows (WARC_RECORD_SCHEMA) for the response records of one WARC file (.warc.gz, one gzip
    member per record as Common Crawl writes them, or plain .warc), and a `BadRecord` for each
    record that cannot be read. A file that does not start as a WARC file raises
    `WarcReadError` naming it."""
    stats = stats if stats is not None else WarcFileStats()
    fs, path = filesystem(url, storage_options)
    name = path.rsplit("/", 1)[-1]
    try:
        with fs.open(path, "rb") as stream:
            head = stream.read(len(GZIP_MAGIC))
            stream.seek(0)
            if head != GZIP_MAGIC:
                for record in ArchiveIterator(stream):  # plain WARC: read as a whole
                    yield from _rows_of(record, name, snapshot, stats)
                return
            first = True
            for member in _gzip_members(stream, max_record_bytes):
                if member.error is not None:
                    if first:
                        raise WarcReadError(f"{url}: not a readable WARC file (first record: {member.error[1]})")
                    stats.bad_records_by_reason[member.error[0]] += 1
                    yield BadRecord(name, member.offset, *member.error)
                    continue
                try:
                    # Rows are built while iterating: warcio's payload stream is gone once the
                    # iterator moves on.
                    rows, records = [], 0
                    for record in ArchiveIterator(io.BytesIO(member.data)):
                        records += 1
                        rows.extend(_rows_of(record, name, snapshot, stats))
                    if not records:
                        raise ArchiveLoadFailed("no WARC record in this gzip member")
                except (ArchiveLoadFailed, ValueError, EOFError) as error:
                    if first:
                        raise
                    stats.bad_records_by_reason["unparseable_record"] += 1
                    yield BadRecord(name, member.offset, "unparseable_record", f"{type(error).__name__}: {error}")
                    continue
                first = False
                yield from rows
    except WarcReadError:
        raise
    except (ArchiveLoadFailed, OSError, EOFError, ValueError) as error:
        raise WarcReadError(f"{url}: not a readable WARC file ({type(error).__name__}: {error})") from error


def _rows_of(record, name: str, snapshot: str, stats: WarcFileStats) -> Iterator[dict[str, Any]]:
    # warcio reads any text line as a legacy ARC header; a file that is not WARC would
    # otherwise turn into junk "records" instead of an error.
    if record.format != "warc":
        raise ArchiveLoadFailed(f"record in {record.format!r} format, expected WARC")
    stats.records_by_type[record.rec_type] += 1
    if record.rec_type != "response":
        return
    target = record.rec_headers.get_header("WARC-Target-URI")
    record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
    status = None
    content_type = None
    if record.http_headers is not None:
        try:
            status = int(record.http_headers.get_statuscode())
        except (TypeError, ValueError):
            status = None
        content_type = record.http_headers.get_header("Content-Type")
    yield {
        "id": document_id("web", snapshot, f"{target}\n{record_id}"),
        "source": "web",
        "snapshot": snapshot,
        "url": target,
        "warc_file": name,
        "warc_record_id": record_id,
        "warc_date": record.rec_headers.get_header("WARC-Date"),
        "http_status": status,
        "content_type": content_type,
        "payload": record.content_stream().read(),
    }


def is_html(content_type: str | None) -> bool:
    """HTML or XHTML; a missing Content-Type is given the benefit of the doubt."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"text/html", "application/xhtml+xml"}


def record_batches(files: list[str], snapshot: str, stats: WarcFileStats,
                   batch_rows: int = WARC_BATCH_ROWS) -> Iterator[tuple[pa.Table, pa.Table, BatchStats]]:
    """(records, rejects, stats) batches of a snapshot's WARC files; a record that cannot be
    read becomes a reject with its file, offset and reason, and the files' other records are
    still read."""
    rows: list[dict] = []
    bad: list[BadRecord] = []

    def flush() -> tuple[pa.Table, pa.Table, BatchStats]:
        kept = pa.Table.from_pylist(rows, schema=WARC_RECORD_SCHEMA)
        ids = [document_id("web", snapshot, f"{b.warc_file}@{b.offset}") for b in bad]
        rejected = rejects_table(pa.table({"id": pa.array(ids, pa.string()),
                                           "snapshot": pa.array([snapshot] * len(bad), pa.string()),
                                           "source": pa.array(["web"] * len(bad), pa.string())}),
                                 WARC_READER_STAGE, [b.reason for b in bad],
                                 [details_json({"warc_file": b.warc_file, "offset": b.offset, "error": b.error})
                                  for b in bad])
        rows.clear()
        bad.clear()
        return kept, rejected, BatchStats.of(kept.num_rows + rejected.num_rows, kept, rejected)

    for url in files:
        for item in iter_warc_records(url, snapshot, stats):
            (bad if isinstance(item, BadRecord) else rows).append(item)
            if len(rows) + len(bad) >= batch_rows:
                yield flush()
    if rows or bad:
        yield flush()
