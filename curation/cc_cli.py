"""`cc-select` and `cc-fetch`: the Common Crawl index path from the command line.

    python -m curation cc-select INDEX... --out SELECTION.parquet [--languages kor] [--primary-only]
                                          [--mime text/html]
    python -m curation cc-fetch SELECTION.parquet --out DIR [--base URL] [--cache DIR]
                                [--concurrency 16] [--retries 5] [--dask local|ADDRESS]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from curation.io import AtomicTableWriter, atomic_write_bytes, filesystem, iter_parquet_batches, parquet_rows
from curation.sources.cc_fetch import COMMON_CRAWL_HTTPS, FetchProgress, FetchSettings, write_fetched
from curation.sources.cc_index import DEFAULT_LANGUAGES, DEFAULT_MIME, SELECTION_SCHEMA, SelectionStats, select_records


def add_commands(commands) -> None:
    select = commands.add_parser("cc-select", help="select records from Common Crawl's columnar index "
                                                   "(Parquet, local, s3:// or https://) by language and MIME type")
    select.add_argument("index", nargs="+", metavar="INDEX", help="index Parquet files, folders or globs")
    select.add_argument("--out", required=True, help="selection Parquet file")
    select.add_argument("--languages", nargs="+", default=list(DEFAULT_LANGUAGES),
                        help="ISO 639-3 codes as in content_languages (default: kor)")
    select.add_argument("--primary-only", action="store_true", help="only rows whose first language is wanted")
    select.add_argument("--mime", default=DEFAULT_MIME, help="content_mime_detected to keep ('' for any)")
    select.set_defaults(train=cc_select)

    fetch = commands.add_parser("cc-fetch", help="fetch a selection's records as byte ranges into .warc.gz files")
    fetch.add_argument("selection", metavar="SELECTION", help="Parquet file written by cc-select")
    fetch.add_argument("--out", required=True, help="folder for part-NNNNN.warc.gz, rejects.parquet, fetch.json")
    fetch.add_argument("--base", default=COMMON_CRAWL_HTTPS, help="URL the index's warc_filename is relative to: "
                       "https://data.commoncrawl.org/ (default), s3://commoncrawl/, file:///mirror/")
    fetch.add_argument("--cache", default=None, help="folder of fetched ranges (default: OUT/.cache)")
    fetch.add_argument("--concurrency", type=int, default=16, help="requests in flight per task")
    fetch.add_argument("--retries", type=int, default=5, help="attempts after the first (5xx, SlowDown, timeouts)")
    fetch.add_argument("--chunk-rows", type=int, default=1_000, help="ranges per task and per output file")
    fetch.add_argument("--dask", default="", help="'local' (a LocalCluster) or a scheduler address")
    fetch.set_defaults(train=cc_fetch)


def cc_select(args: argparse.Namespace) -> str:
    stats = SelectionStats()
    writer = AtomicTableWriter(args.out)
    try:
        for table in select_records(args.index, args.languages, args.primary_only, args.mime or None, stats=stats):
            if table.num_rows:
                writer.write(table)
        writer.close(empty_schema=SELECTION_SCHEMA)
    except BaseException:
        writer.abort()
        raise
    return (f"cc-select: {stats.rows_selected:,} records selected from {len(stats.index_files)} index files "
            f"({stats.bytes_to_fetch:,} bytes of WARC ranges to fetch)")


def cc_fetch(args: argparse.Namespace) -> str:
    from curation.parallel import dask_client

    settings = FetchSettings(base=args.base, cache=args.cache or os.path.join(args.out, ".cache"),
                             concurrency=args.concurrency, retries=args.retries, chunk_rows=args.chunk_rows)
    total = parquet_rows([args.selection])
    if total is None:
        raise ValueError(f"{args.selection}: not a readable Parquet selection (cc-select --out NAME.parquet)")
    progress = FetchProgress(total=total, report=lambda line: print(line, file=sys.stderr, flush=True))
    with dask_client(args.dask) as client:
        summary = write_fetched(iter_parquet_batches([args.selection]), args.out, settings, client, progress)
    if summary.selected != total:
        raise RuntimeError(f"{args.selection}: {total} rows selected but {summary.selected} accounted for")
    fs, _ = filesystem(args.out)
    atomic_write_bytes(fs, os.path.join(args.out, "fetch.json"),
                       json.dumps({**summary.as_dict(), "base": args.base}, indent=2).encode())
    print(progress.line(), file=sys.stderr)
    return (f"cc-fetch: {summary.selected:,} selected, {summary.fetched:,} fetched into {len(summary.files)} files "
            f"({summary.bytes:,} bytes), {summary.rejected:,} rejected (see rejects.parquet)")

