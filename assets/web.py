"""Web source assets: WARC response records of a crawl snapshot, then their main text."""


from typing import Iterator

import dagster as dg
import pyarrow as pa

from assets.partitions import web_snapshots
from assets.stage_runner import partition_asset, upstream_batches, write_partition
from curation.extract import HtmlTextExtractor
from curation.sources.warc import WARC_RECORD_SCHEMA, WarcFileStats, iter_warc_records
from resources.corpus_store import CorpusStore
from resources.sources import WebInbox

WARC_BATCH_ROWS = 256  # rows carry raw payloads (tens of KB each): keep batches small

WARC_RECORDS = dg.AssetKey(["web", "warc_records"])
EXTRACTED_TEXT = dg.AssetKey(["web", "extracted_text"])


def _record_batches(files: list[str], snapshot: str, stats: WarcFileStats) -> Iterator[pa.Table]:
    rows: list[dict] = []
    for url in files:
        for row in iter_warc_records(url, snapshot, stats):
            rows.append(row)
            if len(rows) >= WARC_BATCH_ROWS:
                yield pa.Table.from_pylist(rows, schema=WARC_RECORD_SCHEMA)
                rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=WARC_RECORD_SCHEMA)


@partition_asset(
    WARC_RECORDS, web_snapshots,
    description="HTTP response records of one crawl snapshot's WARC files (URL, status, headers, raw payload).",
)
def warc_records(context: dg.AssetExecutionContext, corpus_store: CorpusStore, web_inbox: WebInbox) -> dg.MaterializeResult:
    files = web_inbox.snapshot_files(context.partition_key)
    stats = WarcFileStats()
    result = write_partition(
        context, corpus_store, _record_batches(files, context.partition_key, stats),
        extra=lambda: {"warc_files": [f.rsplit("/", 1)[-1] for f in files],
                       "warc_records_by_type": dict(stats.records_by_type)},
        preview=("id", "url", "http_status", "content_type"),
    )
    return result


class ExtractionConfig(dg.Config):
    min_chars: int = 1
    max_replaced_ratio: float = 0.01


@partition_asset(
    EXTRACTED_TEXT, web_snapshots, deps=[WARC_RECORDS],
    description="Main text of each HTML response (charset detection incl. EUC-KR/CP949, jusText tuned for Korean).",
)
def extracted_text(context: dg.AssetExecutionContext, config: ExtractionConfig, corpus_store: CorpusStore) -> dg.MaterializeResult:
    stage = HtmlTextExtractor(min_chars=config.min_chars, max_replaced_ratio=config.max_replaced_ratio)
    result = write_partition(context, corpus_store, upstream_batches(context, corpus_store, WARC_RECORDS), stage,
                             preview=("id", "url", "charset", "charset_source", "text"))
    return result
