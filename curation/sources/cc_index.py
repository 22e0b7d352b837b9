"""Select the records of a crawl from Common Crawl's columnar index, before any WARC is read.

The index (`s3://commoncrawl/cc-index/table/cc-main/warc/crawl=CC-MAIN-.../subset=warc/*.parquet`,
also over https://data.commoncrawl.org/) has one row per capture: url, fetch_status,
content_mime_detected, content_languages (CLD2's guess, up to three ISO 639-3 codes by share,
e.g. "kor,eng"), warc_filename, warc_record_offset and warc_record_length. Korean is under 1 %
of a snapshot, so selecting its rows here and fetching only their byte ranges
(`curation.sources.cc_fetch`) reads about 1 % of the bytes that downloading whole WARC files
would.

Reading pushes the work down to Parquet: only the columns below are read, and the status and
MIME conditions are a dataset filter, so row groups whose statistics exclude them are skipped
unread. The language condition (a token of a comma list) is evaluated on the projected column.
One index file is selected at a time and its rows are sorted by (warc_filename, offset), so
memory is bounded by the largest file's selection (a Korean share of one of the ~300 files of a
snapshot: about 10^5 rows) and the fetcher finds each WARC file's ranges together.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow.fs import FSSpecHandler, PyFileSystem

from curation.io import filesystem

INDEX_COLUMNS = ("url", "fetch_status", "content_mime_detected", "content_languages", "warc_filename",
                 "warc_record_offset", "warc_record_length")
SELECTION_SCHEMA = pa.schema([
    pa.field("warc_filename", pa.string()),  # relative, as in the index (to the crawl's bucket root)
    pa.field("warc_record_offset", pa.int64()),
    pa.field("warc_record_length", pa.int64()),
    pa.field("url", pa.string()),
    pa.field("content_languages", pa.string()),
    pa.field("content_mime_detected", pa.string()),
])
DEFAULT_LANGUAGES = ("kor",)
DEFAULT_MIME = "text/html"


class CrawlIndexError(ValueError):
    """An index path that holds no index files, or a file without the index columns."""


@dataclass
class SelectionStats:
    """What a selection read and kept, for metadata and the CLI summary."""

    index_files: list[str] = field(default_factory=list)
    rows_selected: int = 0
    bytes_to_fetch: int = 0  # the sum of the selected records' lengths
    index_bytes: int = 0  # the index files' sizes (what reading them whole would cost)

    def as_dict(self) -> dict[str, Any]:
        return {"index_files": len(self.index_files), "rows_selected": self.rows_selected,
                "bytes_to_fetch": self.bytes_to_fetch, "index_bytes": self.index_bytes}


def index_files(paths: Iterable[str], storage_options: dict[str, Any] | None = None) -> list[str]:
    """The Parquet files of `paths`: files, folders (searched recursively) or glob patterns."""
    found: list[str] = []
    for path in paths:
        fs, inner = filesystem(path, storage_options)
        protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
        if any(char in inner for char in "*?["):
            matches = fs.glob(inner)
        elif fs.isdir(inner):
            matches = [p for p in fs.find(inner) if p.endswith(".parquet")]
        else:
            matches = [inner] if fs.exists(inner) else []
        if not matches:
            raise CrawlIndexError(f"{path}: no index Parquet files there")
        # fsspec's HTTP filesystem keeps whole URLs as paths; the others drop the protocol
        found += [m if protocol == "file" or "://" in m else f"{protocol}://{m}" for m in sorted(matches)]
    return found


def language_condition(column: pa.Array, languages: Sequence[str], primary_only: bool) -> pa.Array:
    """True where `content_languages` (a comma list) holds one of `languages`, or, with
    `primary_only`, where its first language is one of them."""
    wanted = "|".join(sorted(set(languages)))
    pattern = f"^(?:{wanted})(?:,|$)" if primary_only else f"(?:^|,)(?:{wanted})(?:,|$)"
    return pc.fill_null(pc.match_substring_regex(column, pattern), False)


def _dataset(path: str, storage_options: dict[str, Any] | None) -> ds.Dataset:
    fs, inner = filesystem(path, storage_options)
    return ds.dataset(inner, format="parquet", filesystem=PyFileSystem(FSSpecHandler(fs)))


def select_file(path: str, languages: Sequence[str] = DEFAULT_LANGUAGES, primary_only: bool = False,
                mime: str | None = DEFAULT_MIME, statuses: Sequence[int] = (200,),
                storage_options: dict[str, Any] | None = None) -> pa.Table:
    """The selected rows of one index file (SELECTION_SCHEMA), sorted by WARC file and offset."""
    dataset = _dataset(path, storage_options)
    missing = [name for name in INDEX_COLUMNS if name not in dataset.schema.names]
    if missing:
        raise CrawlIndexError(f"{path}: not a Common Crawl index file (no column {', '.join(missing)})")
    condition = ds.field("fetch_status").isin(list(statuses))
    if mime:
        condition &= ds.field("content_mime_detected") == mime
    pieces = []
    for batch in dataset.to_batches(columns=list(INDEX_COLUMNS), filter=condition):
        keep = language_condition(batch.column("content_languages"), languages, primary_only)
        if pc.any(keep).as_py():
            pieces.append(pa.Table.from_batches([batch]).filter(keep))
    if not pieces:
        return SELECTION_SCHEMA.empty_table()
    table = pa.concat_tables(pieces)
    table = pa.table({name: table.column(name).cast(SELECTION_SCHEMA.field(name).type)
                      for name in SELECTION_SCHEMA.names}, schema=SELECTION_SCHEMA)
    return table.sort_by([("warc_filename", "ascending"), ("warc_record_offset", "ascending")])


def select_records(paths: Iterable[str], languages: Sequence[str] = DEFAULT_LANGUAGES, primary_only: bool = False,
                   mime: str | None = DEFAULT_MIME, statuses: Sequence[int] = (200,),
                   storage_options: dict[str, Any] | None = None,
                   stats: SelectionStats | None = None) -> Iterator[pa.Table]:
    """The selection of every index file of `paths`, one table per file (see `select_file`)."""
    stats = stats if stats is not None else SelectionStats()
    for path in index_files(paths, storage_options):
        fs, inner = filesystem(path, storage_options)
        stats.index_files.append(path)
        stats.index_bytes += fs.size(inner)
        table = select_file(path, languages, primary_only, mime, statuses, storage_options)
        stats.rows_selected += table.num_rows
        stats.bytes_to_fetch += pc.sum(table.column("warc_record_length")).as_py() or 0
        yield table


def snapshot_index_path(root: str, snapshot: str) -> str:
    """Where a snapshot's index files are under the index root, as Common Crawl lays them out."""
    return posixpath.join(root.rstrip("/"), f"crawl={snapshot}", "subset=warc")


def indexed_snapshots(root: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Snapshots that have an index folder under `root` (crawl=NAME/subset=warc with files)."""
    fs, inner = filesystem(root, storage_options)
    if not fs.exists(inner):
        return []
    names = []
    for entry in fs.ls(inner, detail=False):
        name = posixpath.basename(entry.rstrip("/"))
        if name.startswith("crawl=") and fs.exists(posixpath.join(entry, "subset=warc")):
            if any(p.endswith(".parquet") for p in fs.find(posixpath.join(entry, "subset=warc"))):
                names.append(name.removeprefix("crawl="))
    return sorted(names)
