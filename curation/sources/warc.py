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
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParserException

from curation.documents import details_json, document_id, document_schema, rejects_table
from curation.io import filesystem
from curation.sources.warc_fast import ParsedRecord, parse_member
from curation.stage import BatchStats

WARC_SUFFIXES = (".warc.gz", ".warc")
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
WARC_MAGIC = b"WARC/"
# Common Crawl truncates payloads at 1 MiB (WARC-Truncated); a record this much larger is not a
# web page worth extracting, and holding it would let one record exhaust a worker's memory.
MAX_RECORD_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20
# Records that name a web resource: without a target URI they are not what they claim to be.
_TARGETED = ("response", "request", "revisit")
_HEADROOM = 1 << 16  # a whole member may hold this much beyond the payload limit (its headers)
_HTTP_LOADER = ArcWarcRecordLoader()


@dataclass
class BadRecord:
    """A record that could not be read: where it starts in the file and why."""

    warc_file: str
    offset: int
    # corrupt_record | truncated_record | record_too_large | unparseable_record |
    # missing_target_uri | unreadable_file
    reason: str
    error: str


@dataclass
class WarcFileStats:
    records_by_type: Counter = field(default_factory=Counter)
    bad_records_by_reason: Counter = field(default_factory=Counter)
    quarantined_files: list[dict[str, str]] = field(default_factory=list)


class _Damaged(Exception):
    """Compressed bytes that cannot be decompressed: `reason` as in BadRecord."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Source:
    """The compressed file, read in chunks, with bytes given back for the next reader and the
    file offset of the next byte kept."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.pushed, self.offset = stream, b"", 0

    def take(self) -> bytes:
        data, self.pushed = (self.pushed, b"") if self.pushed else (self.stream.read(_CHUNK), b"")
        self.offset += len(data)
        return data

    def give_back(self, data: bytes) -> None:
        self.pushed = data + self.pushed
        self.offset -= len(data)

    def peek(self, size: int) -> bytes:
        while len(self.pushed) < size:
            more = self.stream.read(_CHUNK)
            if not more:
                break
            self.pushed += more
        return self.pushed[:size]

    def skip_to(self, marker: bytes, at_least: int) -> None:
        """Drop bytes up to the next `marker` that starts at or after file offset `at_least`."""
        while True:
            data = self.take()
            if not data:
                return
            start = self.offset - len(data)
            found = data.find(marker, max(0, at_least - start))
            if found >= 0:
                self.give_back(data[found:])
                return
            keep = len(marker) - 1  # a marker cut by the chunk boundary
            self.give_back(data[-keep:])
            if self.peek(keep + 1) == data[-keep:]:  # nothing more to read
                self.take()
                return


class _MemberReader(io.RawIOBase):
    """The decompressed bytes of one gzip member, produced as they are read: a member that holds
    thousands of records is never held whole. At its end the bytes after it go back to the
    source; a damaged member raises `_Damaged`, after giving back its last compressed chunk so
    that the search for the next member starts inside it."""

    def __init__(self, source: _Source) -> None:
        self.source, self.decompressor, self.done, self.last = source, zlib.decompressobj(wbits=31), False, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.done:
            tail = self.decompressor.unconsumed_tail
            if not tail:
                self.last = self.source.take()
                if not self.last:
                    raise _Damaged("truncated_record", "the file ends inside this gzip member")
            try:
                data = self.decompressor.decompress(tail or self.last, len(buffer))
            except zlib.error as failure:
                self.source.give_back(self.last)
                raise _Damaged("corrupt_record", f"zlib: {failure}") from None
            if self.decompressor.eof:
                self.done = True
                self.source.give_back(self.decompressor.unused_data)
            if data:
                buffer[:len(data)] = data
                return len(data)
        return 0

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


_PARSED = object()  # marks a record parsed, so that a file with records but no response is a WARC file


def _record_item(record, name: str, offset: int, snapshot: str, stats: WarcFileStats,
                 max_record_bytes: int, index: int) -> dict[str, Any] | BadRecord | None:
    """The row of a response record, a BadRecord, or None for another record type."""
    # warcio reads any text line as a legacy ARC header; a file that is not WARC would
    # otherwise turn into junk "records" instead of an error.
    if record.format != "warc":
        raise ArchiveLoadFailed(f"record in {record.format!r} format, expected WARC")
    stats.records_by_type[record.rec_type] += 1
    target = (record.rec_headers.get_header("WARC-Target-URI") or "").strip()
    if record.rec_type in _TARGETED and not target:
        return BadRecord(name, offset, "missing_target_uri", f"{record.rec_type} record without WARC-Target-URI")
    if record.rec_type != "response":
        return None
    record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
    if isinstance(record, ParsedRecord):
        pass  # its HTTP headers are parsed already
    elif target.lower().startswith(("http:", "https:")):
        try:  # parsed here, not by warcio's iterator, so that a bad record costs only itself
            record.http_headers = _HTTP_LOADER.load_http_headers("response", target, record.raw_stream, record.length)
        except (StatusAndHeadersParserException, EOFError, ValueError):
            record.http_headers = None
    status = None
    content_type = None
    if record.http_headers is not None:
        try:
            status = int(record.http_headers.get_statuscode())
        except (TypeError, ValueError):
            status = None
        content_type = record.http_headers.get_header("Content-Type")
    payload = record.content_stream().read(max_record_bytes + 1)
    if len(payload) > max_record_bytes:
        return BadRecord(name, offset, "record_too_large", f"payload over the limit of {max_record_bytes} bytes")
    return {
        # Unique per record: the file's path in the snapshot, where the record starts, its
        # place in a gzip member that holds several, and its own id.
        "id": document_id("web", snapshot, f"{name}@{offset}#{index}\n{record_id}"),
        "source": "web",
        "snapshot": snapshot,
        "url": target,
        "warc_file": name,
        "warc_record_id": record_id,
        "warc_date": record.rec_headers.get_header("WARC-Date"),
        "http_status": status,
        "content_type": content_type,
        "payload": payload,
    }


_UNPARSEABLE = (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError, AttributeError, KeyError)


def _gzip_items(stream: BinaryIO, name: str, snapshot: str, stats: WarcFileStats, max_record_bytes: int,
                offset_base: int = 0):
    """Items of a .warc.gz: each gzip member streamed through warcio, its records read one by
    one; a damaged member is one BadRecord and reading resumes at the next gzip header.
    `offset_base`: the file offset of the stream's first byte (a byte range of the file)."""
    source = _Source(stream)
    source.offset = offset_base
    while source.peek(1):
        start = source.offset
        if source.peek(len(GZIP_MAGIC)) != GZIP_MAGIC:
            yield BadRecord(name, start, "corrupt_record", "bytes between gzip members that are not gzip")
            source.skip_to(GZIP_MAGIC, start + 1)
            continue
        whole = _whole_member(source, max_record_bytes + _HEADROOM)
        parsed = parse_member(whole) if whole is not None else None
        if parsed is not None:
            item = _record_item(parsed, name, start, snapshot, stats, max_record_bytes, 0)
            yield _PARSED
            if item is not None:
                yield item
            continue
        member = _MemberReader(source) if whole is None else None
        index = 0
        try:
            records = ArchiveIterator(io.BufferedReader(member, _CHUNK) if member else io.BytesIO(whole),
                                      no_record_parse=True)
            for record in records:
                item = _record_item(record, name, start, snapshot, stats, max_record_bytes, index)
                index += 1
                yield _PARSED
                if item is not None:
                    yield item
            if member:
                member.drain()
        except _Damaged as damage:
            yield BadRecord(name, start, damage.reason, f"{damage} ({index} records of this member read before it)")
            source.skip_to(GZIP_MAGIC, start + 1)
        except _UNPARSEABLE as error:
            yield BadRecord(name, start, "unparseable_record", f"{type(error).__name__}: {str(error)[:200]}")
            try:
                if member:
                    member.drain()
            except _Damaged:
                source.skip_to(GZIP_MAGIC, start + 1)


def _whole_member(source: _Source, limit: int) -> bytes | None:
    """One gzip member decompressed whole, when it is intact and at most `limit` bytes; else
    None with every byte given back, so that the streaming reader takes it from its start (and
    reports the damage or the size as it would have)."""
    decompressor = zlib.decompressobj(wbits=31)
    taken: list[bytes] = []
    out: list[bytes] = []
    size = 0
    try:
        while size <= limit and (chunk := source.take()):
            taken.append(chunk)
            pending = chunk
            while pending and size <= limit:
                data = decompressor.decompress(pending, limit + 1 - size)
                out.append(data)
                size += len(data)
                if decompressor.eof:
                    source.give_back(decompressor.unused_data)
                    return b"".join(out)
                pending = decompressor.unconsumed_tail
    except zlib.error:
        pass
    source.give_back(b"".join(taken))
    return None


def _plain_items(stream: BinaryIO, name: str, snapshot: str, stats: WarcFileStats, max_record_bytes: int):
    """Items of an uncompressed .warc, with the same record limit; after bytes that are not a
    record, reading resumes at the next line that starts a WARC record."""
    position = 0
    while True:
        stream.seek(position)
        records = ArchiveIterator(stream, no_record_parse=True)
        offset = position
        try:
            for record in records:
                offset = records.offset
                item = _record_item(record, name, offset, snapshot, stats, max_record_bytes, 0)
                yield _PARSED
                if item is not None:
                    yield item
            return
        except _UNPARSEABLE as error:
            yield BadRecord(name, offset, "unparseable_record", f"{type(error).__name__}: {str(error)[:200]}")
        stream.seek(offset + 1)
        source = _Source(stream)
        source.offset = offset + 1
        source.skip_to(b"\n" + WARC_MAGIC, offset + 1)
        if not source.peek(1):
            return
        position = source.offset + 1


def iter_warc_records(url: str, snapshot: str, stats: WarcFileStats | None = None,
                      storage_options: dict[str, Any] | None = None, max_record_bytes: int = MAX_RECORD_BYTES,
                      name: str | None = None) -> Iterator[dict[str, Any] | BadRecord]:
    """Rows (WARC_RECORD_SCHEMA) for the response records of one WARC file (.warc.gz, gzip
    members of one or many records, or plain .warc), and a `BadRecord` for each record that
    cannot be read. A file from which no WARC record can be read raises `WarcReadError` naming
    it. `name`: the file's path within its snapshot (default: its base name)."""
    stats = stats if stats is not None else WarcFileStats()
    fs, path = filesystem(url, storage_options)
    name = name or path.rsplit("/", 1)[-1]
    early: list[BadRecord] = []  # damage before the first record: the file may not be WARC at all
    parsed = False
    try:
        with fs.open(path, "rb") as stream:
            head = stream.read(len(GZIP_MAGIC))
            if not head:
                raise WarcReadError(f"{url}: empty file (0 bytes)")
            stream.seek(0)
            items = (_gzip_items if head == GZIP_MAGIC else _plain_items)(stream, name, snapshot, stats,
                                                                         max_record_bytes)
            for item in items:
                if item is _PARSED:
                    if not parsed:
                        parsed = True
                        for bad in early:
                            stats.bad_records_by_reason[bad.reason] += 1
                            yield bad
                    continue
                if isinstance(item, BadRecord) and not parsed:
                    early.append(item)
                    continue
                if isinstance(item, BadRecord):
                    stats.bad_records_by_reason[item.reason] += 1
                yield item
    except OSError as error:
        raise WarcReadError(f"{url}: not readable ({type(error).__name__}: {error})") from error
    if not parsed:
        why = early[0].error if early else "no WARC record in it"
        raise WarcReadError(f"{url}: not a readable WARC file ({why})")


def probe_warc(url: str, storage_options: dict[str, Any] | None = None) -> str | None:
    """None when the file starts like a WARC file (gzip, or a WARC/ line), else why not."""
    fs, path = filesystem(url, storage_options)
    try:
        with fs.open(path, "rb") as stream:
            head = stream.read(len(WARC_MAGIC))
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    if not head:
        return "empty file (0 bytes)"
    return None if head.startswith(GZIP_MAGIC) or head == WARC_MAGIC else "neither gzip nor WARC"


def is_html(content_type: str | None) -> bool:
    """HTML or XHTML; a missing Content-Type is given the benefit of the doubt."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"text/html", "application/xhtml+xml"}


def relative_name(url: str, root: str | None) -> str:
    """A WARC file's path within its snapshot folder `root` (its base name without a root)."""
    if root:
        prefix = root.rstrip("/") + "/"
        if url.startswith(prefix):
            return url[len(prefix):]
    return url.rstrip("/").rsplit("/", 1)[-1]


class _Batcher:
    """Rows and BadRecords of one snapshot into (records, rejects, stats) batches of
    `batch_rows` items; a bad record's reject id is its file, offset and how many bad records
    this batcher saw there before."""

    def __init__(self, snapshot: str, batch_rows: int = WARC_BATCH_ROWS) -> None:
        self.snapshot, self.batch_rows = snapshot, batch_rows
        self.rows: list[dict] = []
        self.bad: list[BadRecord] = []
        self.seen: Counter = Counter()  # bad records per (file, offset): their ids stay distinct

    def add(self, item: dict | BadRecord) -> tuple[pa.Table, pa.Table, BatchStats] | None:
        (self.bad if isinstance(item, BadRecord) else self.rows).append(item)
        return self.flush() if len(self.rows) + len(self.bad) >= self.batch_rows else None

    def pending(self) -> bool:
        return bool(self.rows or self.bad)

    def flush(self) -> tuple[pa.Table, pa.Table, BatchStats]:
        snapshot, bad = self.snapshot, self.bad
        kept = pa.Table.from_pylist(self.rows, schema=WARC_RECORD_SCHEMA)
        ids = []
        for b in bad:
            self.seen[(b.warc_file, b.offset)] += 1
            ids.append(document_id("web", snapshot, f"{b.warc_file}@{b.offset}!{self.seen[(b.warc_file, b.offset)]}"))
        rejected = rejects_table(pa.table({"id": pa.array(ids, pa.string()),
                                           "snapshot": pa.array([snapshot] * len(bad), pa.string()),
                                           "source": pa.array(["web"] * len(bad), pa.string())}),
                                 WARC_READER_STAGE, [b.reason for b in bad],
                                 [details_json({"warc_file": b.warc_file, "offset": b.offset, "error": b.error})
                                  for b in bad])
        self.rows, self.bad = [], []
        return kept, rejected, BatchStats.of(kept.num_rows + rejected.num_rows, kept, rejected)


def record_batches(files: list[str], snapshot: str, stats: WarcFileStats, root: str | None = None,
                   batch_rows: int = WARC_BATCH_ROWS,
                   storage_options: dict[str, Any] | None = None) -> Iterator[tuple[pa.Table, pa.Table, BatchStats]]:
    """(records, rejects, stats) batches of a snapshot's WARC files (`root`: the snapshot
    folder, so that files keep their relative path). A record that cannot be read becomes a
    reject with its file, offset and reason, and the file's other records are still read; a
    file from which nothing can be read is quarantined: one `unreadable_file` reject naming it
    and why (also listed in `stats.quarantined_files`), and the other files are curated."""
    batcher = _Batcher(snapshot, batch_rows)
    for url in files:
        name = relative_name(url, root)
        try:
            for item in iter_warc_records(url, snapshot, stats, storage_options=storage_options, name=name):
                if (batch := batcher.add(item)) is not None:
                    yield batch
        except WarcReadError as error:
            # Records read before the file turned out unreadable stay counted; the file is one row.
            reason = str(error).split(": ", 1)[-1]
            stats.quarantined_files.append({"warc_file": name, "reason": reason})
            stats.bad_records_by_reason["unreadable_file"] += 1
            batcher.bad.append(BadRecord(name, 0, "unreadable_file", reason))
    if batcher.pending():
        yield batcher.flush()


def range_items(data: bytes, name: str, offset: int, snapshot: str, stats: WarcFileStats,
                max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[dict[str, Any] | BadRecord]:
    """Rows and BadRecords of one record's byte range (a gzip member) of WARC file `name` at
    `offset`: the same rows, ids included, as reading the whole file would give there."""
    for item in _gzip_items(io.BytesIO(data), name, snapshot, stats, max_record_bytes, offset_base=offset):
        if item is _PARSED:
            continue
        if isinstance(item, BadRecord):
            stats.bad_records_by_reason[item.reason] += 1
        yield item
