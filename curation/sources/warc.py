"""Common Crawl WARC files (gzip per record, as Common Crawl ships them) to document rows.

Only `response` records are documents; `warcinfo`, `request` and `metadata` records describe
the crawl and are counted, not kept. Each response becomes one row with its URL, WARC ids, HTTP
status and Content-Type and the raw payload; decoding and extraction happen in the next stage so
a fixed extractor can be re-run without re-reading the WARC files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from curation.documents import document_id
from curation.io import filesystem

WARC_RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("snapshot", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("warc_file", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("warc_date", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("payload", pa.binary()),
    ]
)


class WarcReadError(RuntimeError):
    """A WARC file that cannot be read at all, or breaks off mid-file; names the file."""


@dataclass
class WarcFileStats:
    records_by_type: Counter = field(default_factory=Counter)


def iter_warc_records(url: str, snapshot: str, stats: WarcFileStats | None = None,
                      storage_options: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Rows (WARC_RECORD_SCHEMA) for the response records of one WARC file (.warc or .warc.gz)."""
    stats = stats if stats is not None else WarcFileStats()
    fs, path = filesystem(url, storage_options)
    name = path.rsplit("/", 1)[-1]
    try:
        with fs.open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                # warcio reads any text line as a legacy ARC header; a file that is not WARC
                # would otherwise turn into junk "records" instead of an error.
                if record.format != "warc":
                    raise ArchiveLoadFailed(f"record in {record.format!r} format, expected WARC")
                stats.records_by_type[record.rec_type] += 1
                if record.rec_type != "response":
                    continue
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
    except (ArchiveLoadFailed, OSError, EOFError, ValueError) as error:
        raise WarcReadError(f"{url}: not a readable WARC file ({type(error).__name__}: {error})") from error


def is_html(content_type: str | None) -> bool:
    """HTML or XHTML; a missing Content-Type is given the benefit of the doubt."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"text/html", "application/xhtml+xml"}
