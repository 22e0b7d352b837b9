"""Fetch the records of a selection (`curation.sources.cc_index`) as byte ranges of their WARC
files: `base + warc_filename`, bytes `warc_record_offset` .. `+ warc_record_length - 1`.

Each range is one complete gzip member (Common Crawl compresses every record on its own), so
ranges can be read as records directly (`fetched_record_batches`, what `web/warc_records` does:
the rows and ids are those a whole-file read gives) or concatenated into `.warc.gz` files
that hold exactly the selected records (`write_fetched`, the `cc-fetch` CLI).

- Bases: https:// and http:// (requests, one session per thread; Common Crawl's public
  endpoint by default), s3:// and anything else fsspec opens (`cat_file` of the range), file://.
- Bounded: at most `concurrency` requests in flight per task; a selection is cut into chunks
  of up to `chunk_rows` ranges (each chunk one task, the ranges of one WARC file together, as
  the selection is sorted), and chunks run in order here or spread over Dask workers.
- Retried with exponential backoff (and jitter) on 5xx, 429/503 SlowDown, timeouts, broken
  connections and short or damaged bodies; a 4xx other than 429 is final.
- Cached: each fetched range is kept under `cache` (keyed by file, offset and length, so a
  mirror gives the same key), written atomically; a re-run reads it from there.
- A range that still fails is a reject with its location and the reason, never a gap: the
  selection's rows = records fetched + fetch rejects.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curation.io import AtomicTableWriter, atomic_write_bytes, filesystem
from curation.parallel import run_tasks
from curation.progress import Progress
from curation.sources.warc import BadRecord, WarcFileStats, _Batcher, range_items
from curation.stage import BatchStats

COMMON_CRAWL_HTTPS = "https://data.commoncrawl.org/"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
FETCH_STAGE = "cc_fetch"
FETCH_REJECT_SCHEMA = pa.schema([
    pa.field("warc_filename", pa.string()), pa.field("warc_record_offset", pa.int64()),
    pa.field("warc_record_length", pa.int64()), pa.field("url", pa.string()), pa.field("stage", pa.string()),
    pa.field("reason", pa.string()), pa.field("details", pa.string()),
])


@dataclass(frozen=True)
class FetchSettings:
    """Where ranges come from and how hard to try. `cache`: a local folder, or None."""

    base: str = COMMON_CRAWL_HTTPS
    cache: str | None = None
    concurrency: int = 16
    retries: int = 5  # attempts after the first
    backoff_s: float = 0.5  # first wait; doubled per attempt, up to max_backoff_s, with jitter
    max_backoff_s: float = 20.0
    timeout_s: float = 60.0
    chunk_rows: int = 1_000
    storage_options: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def url(self, warc_filename: str) -> str:
        return self.base.rstrip("/") + "/" + warc_filename.lstrip("/")


class FetchError(Exception):
    """A range that could not be fetched; `final`: retrying cannot help (e.g. 404)."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


@dataclass
class Fetched:
    """One selected range: its bytes, or why not."""

    warc_filename: str
    offset: int
    length: int
    url: str | None
    data: bytes | None = None
    error: str | None = None
    attempts: int = 0
    cached: bool = False


def check_member(data: bytes, length: int) -> None:
    """The range must be `length` bytes holding one whole gzip member that starts a WARC record."""
    if len(data) != length:
        raise FetchError(f"short body: {len(data)} of {length} bytes")
    decompressor = zlib.decompressobj(wbits=31)
    try:
        head = decompressor.decompress(data, 16)
        while decompressor.unconsumed_tail:
            decompressor.decompress(decompressor.unconsumed_tail, 1 << 16)
    except zlib.error as error:
        raise FetchError(f"not one gzip member: {error}") from error
    if not decompressor.eof or decompressor.unused_data:
        raise FetchError("not one complete gzip member (truncated, or more than one member)")
    if not head.startswith(b"WARC/"):
        raise FetchError("the range does not start a WARC record")


class _Http:
    """requests, one session per thread (connections reused within a worker thread)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def get(self, url: str, offset: int, length: int, timeout: float) -> bytes:
        import requests

        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        try:
            with session.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}, timeout=timeout,
                             stream=True) as response:
                if response.status_code == 206:
                    return response.content
                if response.status_code == 200:
                    # the server ignored Range: its body is the whole file (a WARC file is ~1 GB)
                    raise FetchError("the server ignored the Range header (HTTP 200 with the whole file)", final=True)
                raise FetchError(f"HTTP {response.status_code}", final=response.status_code not in RETRYABLE_STATUS)
        except requests.RequestException as error:  # timeouts, resets, bodies cut short mid-stream
            raise FetchError(f"{type(error).__name__}: {str(error)[:200]}") from error


class RangeFetcher:
    """Fetches ranges with retries and the on-disk cache (one per task; thread-safe)."""

    def __init__(self, settings: FetchSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings, self.sleep = settings, sleep
        self.http = _Http()
        self.random = random.Random()

    def _cache_path(self, warc_filename: str, offset: int, length: int) -> str | None:
        if not self.settings.cache:
            return None
        key = hashlib.sha256(f"{warc_filename}\n{offset}\n{length}".encode()).hexdigest()
        return os.path.join(self.settings.cache, key[:2], key + ".warc.gz")

    def _once(self, warc_filename: str, offset: int, length: int) -> bytes:
        url = self.settings.url(warc_filename)
        if url.startswith(("http://", "https://")):
            return self.http.get(url, offset, length, self.settings.timeout_s)
        fs, path = filesystem(url, self.settings.storage_options)
        try:
            return fs.cat_file(path, start=offset, end=offset + length)
        except FileNotFoundError as error:
            raise FetchError(f"no such file: {url}", final=True) from error
        except OSError as error:
            raise FetchError(f"{type(error).__name__}: {str(error)[:200]}") from error

    def fetch(self, warc_filename: str, offset: int, length: int, url: str | None = None) -> Fetched:
        result = Fetched(warc_filename, offset, length, url)
        cached = self._cache_path(warc_filename, offset, length)
        if cached and os.path.exists(cached):
            with open(cached, "rb") as handle:
                data = handle.read()
            try:
                check_member(data, length)
                result.data, result.cached = data, True
                return result
            except FetchError:
                pass  # a damaged cache entry is fetched again
        if length <= 0:
            result.error = f"record length {length}"
            return result
        for attempt in range(self.settings.retries + 1):
            result.attempts = attempt + 1
            try:
                data = self._once(warc_filename, offset, length)
                check_member(data, length)
            except FetchError as error:
                result.error = str(error)
                if error.final or attempt == self.settings.retries:
                    return result
                wait = min(self.settings.max_backoff_s, self.settings.backoff_s * 2 ** attempt)
                self.sleep(wait * (0.5 + self.random.random() / 2))
                continue
            result.data, result.error = data, None
            if cached:
                os.makedirs(os.path.dirname(cached), exist_ok=True)
                temporary = f"{cached}.tmp-{os.getpid()}-{threading.get_ident()}"
                with open(temporary, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, cached)
            return result
        return result

    def fetch_chunk(self, chunk: pa.Table) -> list[Fetched]:
        """Every range of `chunk` (a selection slice), in its order, `concurrency` at a time."""
        rows = zip(chunk.column("warc_filename").to_pylist(), chunk.column("warc_record_offset").to_pylist(),
                   chunk.column("warc_record_length").to_pylist(), chunk.column("url").to_pylist())
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            return list(pool.map(lambda row: self.fetch(*row), rows))


@dataclass
class FetchProgress(Progress):
    """Ranges fetched so far (`documents`: records done, fetched or failed), with bytes, failures
    and cache hits: "cc-fetch: 12,000 of 50,000 records (310 records/s, 4.1 MB/s), 2 failed"."""

    label: str = "cc-fetch"
    records: int = 0
    failed: int = 0
    bytes: int = 0
    cached: int = 0

    def add_fetched(self, fetched: list[Fetched]) -> None:
        for item in fetched:
            if item.data is None:
                self.failed += 1
            else:
                self.records += 1
                self.bytes += item.length  # the bytes may already be dropped (read on a worker)
                self.cached += item.cached
        self.add(len(fetched))

    def line(self) -> str:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        of = f" of {self.total:,}" if self.total else ""
        done = self.records + self.failed
        return (f"{self.label}: {done:,}{of} records ({done / seconds:,.0f} records/s, "
                f"{self.bytes / seconds / 1e6:,.1f} MB/s), {self.failed:,} failed, {self.cached:,} from cache")


def selection_chunks(selection: Iterable[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    """Slices of at most `chunk_rows` rows of each selection table (each sorted by WARC file)."""
    for table in selection:
        for start in range(0, table.num_rows, chunk_rows):
            yield table.slice(start, chunk_rows)


def _fetch_task(settings: FetchSettings, chunk: pa.Table) -> list[Fetched]:
    return RangeFetcher(settings).fetch_chunk(chunk)


def fetch_selection(selection: Iterable[pa.Table], settings: FetchSettings, client=None,
                    progress: FetchProgress | None = None) -> Iterator[list[Fetched]]:
    """The fetched ranges of each chunk of the selection, in selection order; chunks run here
    or as tasks on the Dask cluster of `client` (a bounded window of them in flight)."""
    chunks = ((chunk,) for chunk in selection_chunks(selection, settings.chunk_rows))
    for fetched in run_tasks(_fetch_task, chunks, client, shared=(settings,)):
        if progress is not None:
            progress.add_fetched(fetched)
        yield fetched


def _read_task(settings: FetchSettings, snapshot: str, chunk: pa.Table) -> tuple[list, WarcFileStats, list[Fetched]]:
    """A chunk's ranges fetched and read as records: the rows and BadRecords, the reader's
    counters, and the fetch results without their bytes (for progress)."""
    stats = WarcFileStats()
    items: list = []
    fetched = RangeFetcher(settings).fetch_chunk(chunk)
    for item in fetched:
        if item.data is None:
            stats.bad_records_by_reason["fetch_failed"] += 1
            items.append(BadRecord(item.warc_filename, item.offset, "fetch_failed",
                                   f"{item.error} (after {item.attempts} attempts; {settings.url(item.warc_filename)} "
                                   f"bytes {item.offset}-{item.offset + item.length - 1})"))
        else:
            items.append(_one_item(list(range_items(item.data, item.warc_filename, item.offset, snapshot, stats)),
                                   item, stats))
        item.data = item.data and b""  # only the outcome travels back
    return items, stats, fetched


def _one_item(found: list, fetched: Fetched, stats: WarcFileStats):
    """Exactly one row or reject per selected range, so that the selection accounts for the
    records: its response row if it has one, else its first bad record, else a
    `no_response_record` reject (a range pointing at a request, metadata or revisit record).
    Anything more in the range (junk after the record) is counted, not a document."""
    rows = [x for x in found if not isinstance(x, BadRecord)]
    if len(found) > 1:
        stats.bad_records_by_reason["extra_items_in_range"] += len(found) - 1
    if rows:
        return rows[0]
    if found:
        return found[0]
    stats.bad_records_by_reason["no_response_record"] += 1
    return BadRecord(fetched.warc_filename, fetched.offset, "no_response_record",
                     "the range holds no response record")


def fetched_record_batches(selection: Iterable[pa.Table], snapshot: str, stats: WarcFileStats,
                           settings: FetchSettings, client=None, progress: FetchProgress | None = None,
                           batch_rows: int | None = None) -> Iterator[tuple[pa.Table, pa.Table, BatchStats]]:
    """(records, rejects, stats) batches, as `record_batches` gives for whole files, of the
    selected ranges: each range read where it was fetched (a Dask worker, or here), with the
    ids a whole-file read gives. A range that could not be fetched is a `fetch_failed` reject
    naming the file, offset and error."""
    batcher = _Batcher(snapshot) if batch_rows is None else _Batcher(snapshot, batch_rows)
    chunks = ((snapshot, chunk) for chunk in selection_chunks(selection, settings.chunk_rows))
    for items, chunk_stats, fetched in run_tasks(_read_task, chunks, client, shared=(settings,)):
        stats.records_by_type.update(chunk_stats.records_by_type)
        stats.bad_records_by_reason.update(chunk_stats.bad_records_by_reason)
        if progress is not None:
            progress.add_fetched(fetched)
        for item in items:
            if (batch := batcher.add(item)) is not None:
                yield batch
    if batcher.pending():
        yield batcher.flush()


@dataclass
class FetchSummary:
    selected: int = 0
    fetched: int = 0
    rejected: int = 0
    bytes: int = 0
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"selected": self.selected, "fetched": self.fetched, "rejected": self.rejected, "bytes": self.bytes,
                "files": self.files}


def write_fetched(selection: Iterable[pa.Table], out_dir: str, settings: FetchSettings, client=None,
                  progress: FetchProgress | None = None) -> FetchSummary:
    """Fetch the selection into `out_dir`: part-NNNNN.warc.gz (one per chunk, exactly its
    fetched records, in selection order, each written atomically) and rejects.parquet (the
    ranges that failed, with location and reason). Re-running rewrites the same files from the
    cache."""
    os.makedirs(out_dir, exist_ok=True)
    fs, _ = filesystem(out_dir)
    summary = FetchSummary()
    before = {name for name in os.listdir(out_dir) if name.startswith("part-") and name.endswith(".warc.gz")}
    rejects = AtomicTableWriter(os.path.join(out_dir, "rejects.parquet"))
    try:
        for number, fetched in enumerate(fetch_selection(selection, settings, client, progress)):
            summary.selected += len(fetched)
            good = [item for item in fetched if item.data is not None]
            bad = [item for item in fetched if item.data is None]
            if good:
                buffer = io.BytesIO()
                for item in good:
                    buffer.write(item.data)
                name = f"part-{number:05d}.warc.gz"
                atomic_write_bytes(fs, os.path.join(out_dir, name), buffer.getvalue())
                summary.files.append(name)
                summary.fetched += len(good)
                summary.bytes += buffer.tell()
            summary.rejected += len(bad)
            if not bad:
                continue
            rejects.write(pa.table({
                "warc_filename": [item.warc_filename for item in bad],
                "warc_record_offset": [item.offset for item in bad],
                "warc_record_length": [item.length for item in bad],
                "url": [item.url for item in bad], "stage": [FETCH_STAGE] * len(bad),
                "reason": ["fetch_failed"] * len(bad),
                "details": [json.dumps({"error": item.error, "attempts": item.attempts,
                                        "url": settings.url(item.warc_filename)}, ensure_ascii=False) for item in bad],
            }, schema=FETCH_REJECT_SCHEMA))
        rejects.close(empty_schema=FETCH_REJECT_SCHEMA)
    except BaseException:
        rejects.abort()
        raise
    for stale in sorted(before - set(summary.files)):  # an earlier run's files that this run did not write
        os.remove(os.path.join(out_dir, stale))
    return summary

