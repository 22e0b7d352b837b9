"""Web source assets: a snapshot's index selection (Common Crawl's columnar index, when the
snapshot comes from there), its WARC response records, then (assets/stages.py) their main text."""


import dagster as dg

from assets.partitions import web_snapshots
from assets.stage_runner import partition_asset, stage_key, write_split
from curation.catalog import EXTRACTED_TEXT as EXTRACTED_TEXT_SPEC
from curation.sources.cc_fetch import FetchProgress, fetched_record_batches
from curation.sources.cc_index import SELECTION_SCHEMA, SelectionStats, select_records
from curation.sources.warc import (
    WARC_READER_STAGE,
    WARC_RECORD_SCHEMA,
    WarcFileStats,
    record_batches,
    relative_name,
)
from curation.spec import StageSpec
from curation.stage import BatchStats, all_kept
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource
from resources.sources import CrawlIndex, WebInbox

CC_SELECTION_SPEC = StageSpec(
    name="cc_selection", kind="source",
    description="The snapshot's records selected from Common Crawl's columnar index (language, MIME type, status), "
                "as WARC file, offset and length: what web/warc_records fetches by byte range. Empty when the "
                "snapshot comes from an inbox folder of whole WARC files.",
    preview=("url", "content_languages", "warc_filename", "warc_record_offset"),
    required_columns=tuple(SELECTION_SCHEMA.names),
)
WARC_RECORDS_SPEC = StageSpec(
    name=WARC_READER_STAGE, kind="source",
    description="HTTP response records of one crawl snapshot (whole WARC files of its inbox folder, or the byte "
                "ranges of its index selection): URL, status, headers, raw payload; records that cannot be read "
                "or fetched are rejects with file, offset and reason.",
    preview=("id", "url", "http_status", "content_type"), required_columns=tuple(WARC_RECORD_SCHEMA.names),
    checks=frozenset({"quarantined_files"}),
)
CC_SELECTION = dg.AssetKey(["web", CC_SELECTION_SPEC.name])
WARC_RECORDS = dg.AssetKey(["web", WARC_RECORDS_SPEC.name])
EXTRACTED_TEXT = dg.AssetKey(["web", EXTRACTED_TEXT_SPEC.name])
INDEX_MODE, FOLDER_MODE = "index", "folder"


@partition_asset(CC_SELECTION, web_snapshots, CC_SELECTION_SPEC)
def cc_selection(context: dg.AssetExecutionContext, corpus_store: CorpusStore,
                 crawl_index: CrawlIndex) -> dg.MaterializeResult:
    snapshot = context.partition_key
    path = crawl_index.snapshot_path(snapshot) if crawl_index.enabled else None
    if path is None or not crawl_index.has_snapshot(snapshot):
        why = "no index configured ($CURATION_CC_INDEX)" if path is None else f"no index files under {path}"
        context.log.info(f"{snapshot}: {why}; web/warc_records reads the inbox folder")
        return write_split(context, CC_SELECTION_SPEC, corpus_store, iter(()), lambda: 0,
                           extra=lambda: {"mode": FOLDER_MODE, "reason": why})
    stats = SelectionStats()
    selected = select_records([path], crawl_index.languages, crawl_index.primary_only, crawl_index.mime or None,
                              storage_options=crawl_index.storage_options or None, stats=stats)
    return write_split(
        context, CC_SELECTION_SPEC, corpus_store, (all_kept(table) for table in selected),
        lambda: stats.rows_selected,
        extra=lambda: {"mode": INDEX_MODE, "index": path, "languages": list(crawl_index.languages),
                       "primary_only": crawl_index.primary_only, "mime": crawl_index.mime, **stats.as_dict()})


@partition_asset(WARC_RECORDS, web_snapshots, WARC_RECORDS_SPEC, deps=[CC_SELECTION])
def warc_records(context: dg.AssetExecutionContext, corpus_store: CorpusStore, web_inbox: WebInbox,
                 crawl_index: CrawlIndex, dask: DaskResource) -> dg.MaterializeResult:
    try:
        selection = corpus_store.manifest(stage_key(CC_SELECTION), context.partition_key)
    except FileNotFoundError:  # never selected: a snapshot of whole WARC files
        selection = None
    if selection is not None and selection.extra.get("mode") == INDEX_MODE:
        return _fetched_records(context, corpus_store, crawl_index, dask, selection)
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
        return {"mode": FOLDER_MODE, "warc_files": [relative_name(f, root) for f in files],
                "warc_records_by_type": dict(stats.records_by_type),
                "warc_bad_records_by_reason": dict(stats.bad_records_by_reason),
                "quarantined_files": stats.quarantined_files}

    return write_split(context, WARC_RECORDS_SPEC, corpus_store, split(), lambda: read.rows_in, extra=extra)


def _fetched_records(context: dg.AssetExecutionContext, store: CorpusStore, crawl_index: CrawlIndex,
                     dask: DaskResource, selection) -> dg.MaterializeResult:
    """The selected records fetched by byte range (on the Dask cluster if the resource has one)
    and read where they were fetched: one row, or one reject, per selected record."""
    stats = WarcFileStats()
    settings = crawl_index.fetch_settings()
    progress = FetchProgress(total=selection.rows_kept, report=context.log.info, every_s=30.0)
    context.log.info(f"fetching {selection.rows_kept:,} selected records from {settings.base}")
    with dask.client() as client:
        return write_split(
            context, WARC_RECORDS_SPEC, store,
            fetched_record_batches(store.iter_batches(selection), context.partition_key, stats, settings, client,
                                   progress),
            lambda: progress.records + progress.failed, upstream=CC_SELECTION,
            extra=lambda: {"mode": INDEX_MODE, "base": settings.base,
                           "warc_records_by_type": dict(stats.records_by_type),
                           "warc_bad_records_by_reason": dict(stats.bad_records_by_reason),
                           "fetched": progress.records, "fetch_failed": progress.failed,
                           "bytes_fetched": progress.bytes, "from_cache": progress.cached,
                           "quarantined_files": []},
            run_metadata=lambda: {"fetch_progress": progress.line()})
