"""Web source assets: WARC response records of a crawl snapshot, then their main text."""


import dagster as dg

from assets.partitions import web_snapshots
from assets.stage_runner import partition_asset, write_split
from curation.catalog import EXTRACTED_TEXT as EXTRACTED_TEXT_SPEC
from curation.sources.warc import (
    WARC_READER_STAGE,
    WARC_RECORD_SCHEMA,
    WarcFileStats,
    record_batches,
    relative_name,
)
from curation.spec import StageSpec
from curation.stage import BatchStats
from resources.corpus_store import CorpusStore
from resources.sources import WebInbox

WARC_RECORDS_SPEC = StageSpec(
    name=WARC_READER_STAGE, kind="source",
    description="HTTP response records of one crawl snapshot's WARC files (URL, status, headers, raw payload); "
                "records that cannot be read are rejects with file, offset and reason.",
    preview=("id", "url", "http_status", "content_type"), required_columns=tuple(WARC_RECORD_SCHEMA.names),
    checks=frozenset({"quarantined_files"}),
)
WARC_RECORDS = dg.AssetKey(["web", WARC_RECORDS_SPEC.name])
EXTRACTED_TEXT = dg.AssetKey(["web", EXTRACTED_TEXT_SPEC.name])


@partition_asset(WARC_RECORDS, web_snapshots, WARC_RECORDS_SPEC)
def warc_records(context: dg.AssetExecutionContext, corpus_store: CorpusStore,
                 web_inbox: WebInbox) -> dg.MaterializeResult:
    files = web_inbox.snapshot_files(context.partition_key)
    root = web_inbox.snapshot_folder(context.partition_key)
    stats = WarcFileStats()
    read = BatchStats()

    def split():
        for kept, rejected, batch_stats in record_batches(files, context.partition_key, stats, root=root,
                                                          storage_options=web_inbox.storage_options or None):
            read.rows_in += batch_stats.rows_in
            yield kept, rejected, batch_stats

    def extra() -> dict:
        for quarantined in stats.quarantined_files:
            context.log.warning(f"quarantined {quarantined['warc_file']}: {quarantined['reason']}")
        return {"warc_files": [relative_name(f, root) for f in files],
                "warc_records_by_type": dict(stats.records_by_type),
                "warc_bad_records_by_reason": dict(stats.bad_records_by_reason),
                "quarantined_files": stats.quarantined_files}

    return write_split(context, WARC_RECORDS_SPEC, corpus_store, split(), lambda: read.rows_in, extra=extra)

