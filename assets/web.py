"""Web source assets: WARC response records of a crawl snapshot, then their main text."""


from typing import Iterator

import dagster as dg
import pyarrow as pa

from assets.partitions import web_snapshots
from assets.stage_runner import partition_asset, upstream_batches, write_partition, write_split
from curation.documents import details_json, document_id, rejects_table
from curation.extract import HtmlTextExtractor
from curation.sources.warc import WARC_RECORD_SCHEMA, BadRecord, WarcFileStats, iter_warc_records
from resources.corpus_store import CorpusStore
from resources.sources import WebInbox

WARC_BATCH_ROWS = 256  # rows carry raw payloads (tens of KB each): keep batches small

WARC_RECORDS = dg.AssetKey(["web", "warc_records"])
EXTRACTED_TEXT = dg.AssetKey(["web", "extracted_text"])


def _record_batches(files: list[str], snapshot: str, stats: WarcFileStats,
                    counted: list[int]) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(records, rejects) batches; a record that cannot be read becomes a reject with its file,
    offset and reason, and the files' other records are still read."""
    rows: list[dict] = []
    bad: list[BadRecord] = []

    def flush() -> tuple[pa.Table, pa.Table]:
        kept = pa.Table.from_pylist(rows, schema=WARC_RECORD_SCHEMA)
        ids = [document_id("web", snapshot, f"{b.warc_file}@{b.offset}") for b in bad]
        rejected = rejects_table(pa.table({"id": pa.array(ids, pa.string()),
                                           "snapshot": pa.array([snapshot] * len(bad), pa.string()),
                                           "source": pa.array(["web"] * len(bad), pa.string())}),
                                 "warc_reader", [b.reason for b in bad],
                                 [details_json({"warc_file": b.warc_file, "offset": b.offset, "error": b.error})
                                  for b in bad])
        counted[0] += len(rows) + len(bad)
        rows.clear()
        bad.clear()
        return kept, rejected

    for url in files:
        for item in iter_warc_records(url, snapshot, stats):
            (bad if isinstance(item, BadRecord) else rows).append(item)
            if len(rows) + len(bad) >= WARC_BATCH_ROWS:
                yield flush()
    if rows or bad:
        yield flush()


@partition_asset(
    WARC_RECORDS, web_snapshots,
    description="HTTP response records of one crawl snapshot's WARC files (URL, status, headers, raw payload); "
                "records that cannot be read are rejects with file, offset and reason.",
)
def warc_records(context: dg.AssetExecutionContext, corpus_store: CorpusStore, web_inbox: WebInbox) -> dg.MaterializeResult:
    files = web_inbox.snapshot_files(context.partition_key)
    stats = WarcFileStats()
    counted = [0]
    return write_split(
        context, corpus_store, _record_batches(files, context.partition_key, stats, counted), lambda: counted[0],
        extra=lambda: {"warc_files": [f.rsplit("/", 1)[-1] for f in files],
                       "warc_records_by_type": dict(stats.records_by_type),
                       "warc_bad_records_by_reason": dict(stats.bad_records_by_reason)},
        preview=("id", "url", "http_status", "content_type"),
    )


class ExtractionConfig(dg.Config):
    min_chars: int = 1
    max_replaced_ratio: float = 0.01
    max_payload_bytes: int = 5 * 1024 * 1024


@partition_asset(
    EXTRACTED_TEXT, web_snapshots, deps=[WARC_RECORDS], fed_by=WARC_RECORDS,
    description="Main text of each HTML response (charset detection incl. EUC-KR/CP949, jusText tuned for Korean).",
)
def extracted_text(context: dg.AssetExecutionContext, config: ExtractionConfig, corpus_store: CorpusStore) -> dg.MaterializeResult:
    stage = HtmlTextExtractor(min_chars=config.min_chars, max_replaced_ratio=config.max_replaced_ratio,
                              max_payload_bytes=config.max_payload_bytes)
    result = write_partition(context, corpus_store, upstream_batches(context, corpus_store, WARC_RECORDS), stage,
                             preview=("id", "url", "charset", "charset_source", "text"))
    return result
