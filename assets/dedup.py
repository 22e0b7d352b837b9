"""Dedup assets of one source: exact_deduplicated -> fuzzy_deduplicated.

Both call the library's one entry point (`curation.dedup.engine.deduplicate_partition`): a
partition is deduplicated against itself and against the source's persistent index
(`{store}/{source}/dedup_index`) restricted to the partitions ordered before it
(`partitions_in_keep_order`); fuzzy_deduplicated then adds its kept documents to the index. No
earlier text is read. A partition ordered before this one that is not in the index (never
materialised) is an error, not a silent gap: results must not depend on materialisation order.
"""

import posixpath

import dagster as dg

from assets.partitions import partitions_in_keep_order
from assets.stage_runner import partition_asset, stage_key, upstream_batches, write_split
from curation.dedup.engine import DEFAULT_MEMORY_BUDGET_MB, EXACT_STAGE, FUZZY_STAGE, DedupSettings, deduplicate_partition
from curation.dedup.index import DEFAULT_SHARDS, DedupIndex, DedupIndexError
from curation.dedup.minhash import MinHashConfig
from curation.dedup.sketch import DEFAULT_SKETCH_SIZE
from curation.stage import StageCounts
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource


class DedupConfig(dg.Config):
    threshold: float = 0.8
    verify: bool = True  # keep an LSH pair only when its Jaccard (from sketches) reaches threshold
    ngram: int = MinHashConfig.ngram
    num_perm: int = MinHashConfig.num_perm
    bands: int = MinHashConfig.bands
    strip_spaces: bool = MinHashConfig.strip_spaces
    sketch_size: int = DEFAULT_SKETCH_SIZE
    shards: int = DEFAULT_SHARDS  # of a new index; an existing index keeps its own
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB  # per task
    backend: str = "cpu"  # cpu | gpu | auto; gpu falls back to cpu with a warning

    def settings(self, exact: bool) -> DedupSettings:
        minhash = MinHashConfig(ngram=self.ngram, num_perm=self.num_perm, bands=self.bands,
                                strip_spaces=self.strip_spaces)
        return DedupSettings(minhash=minhash, threshold=self.threshold if self.verify else None, exact=exact,
                             fuzzy=not exact, sketch_size=self.sketch_size, shards=self.shards,
                             memory_budget_mb=self.memory_budget_mb, backend=self.backend)


def index_url(store: CorpusStore, source: str) -> str:
    return posixpath.join(store.root.rstrip("/"), source, "dedup_index")


def dedup_assets(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    exact_key = dg.AssetKey([source, "exact_deduplicated"])
    fuzzy_key = dg.AssetKey([source, "fuzzy_deduplicated"])

    def run(context: dg.AssetExecutionContext, config: DedupConfig, store: CorpusStore, dask: DaskResource,
            fed_by: dg.AssetKey, exact: bool) -> dg.MaterializeResult:
        settings = config.settings(exact)
        try:
            index = DedupIndex.open(index_url(store, source), settings.layout(), store.storage_options or None)
        except DedupIndexError as error:
            raise dg.Failure(str(error)) from error
        earlier = _earlier_partitions(context, index, fuzzy_key)

        def read():
            return upstream_batches(context, store, fed_by)

        with dask.client() as client:
            result = deduplicate_partition(read, context.partition_key, settings, index=index, earlier=earlier,
                                           client=client, add=not exact, stage=EXACT_STAGE if exact else FUZZY_STAGE,
                                           progress=context.log.info)
        stats = result.stats
        counts = StageCounts()
        return write_split(
            context, store, result.split(read(), counts), lambda: result.rows,
            extra=lambda: {"earlier_partitions": earlier, "threshold": settings.threshold,
                           "candidate_pairs": stats.candidate_pairs, "cross_partition_matches": stats.cross_partition_matches,
                           "minhash": settings.minhash.as_dict(), "index": index.root},
            run_metadata=lambda: {"index_bytes_read": stats.index_bytes_read, "bytes_read": stats.bytes_read,
                                  "hash_ranges": stats.hash_ranges, "pass_seconds": stats.as_dict()["seconds"]},
        )

    @partition_asset(exact_key, partitions_def, deps=[upstream], fed_by=upstream, code_version="2", description=(
        "Exact duplicates (same NFKC/lower-cased/space-collapsed text) removed, against this "
        "partition and every earlier one (the source's dedup index); rejects name duplicate_of."))
    def exact_deduplicated(context: dg.AssetExecutionContext, config: DedupConfig, corpus_store: CorpusStore,
                           dask: DaskResource) -> dg.MaterializeResult:
        return run(context, config, corpus_store, dask, upstream, exact=True)

    @partition_asset(fuzzy_key, partitions_def, deps=[exact_key], fed_by=exact_key, code_version="2", description=(
        "Near duplicates removed: MinHash LSH candidates against this partition and the source's "
        "dedup index, verified at the Jaccard threshold, connected components, the earliest "
        "document (partition order, then row) kept; adds the kept documents to the index."))
    def fuzzy_deduplicated(context: dg.AssetExecutionContext, config: DedupConfig, corpus_store: CorpusStore,
                           dask: DaskResource) -> dg.MaterializeResult:
        return run(context, config, corpus_store, dask, exact_key, exact=False)

    return [exact_deduplicated, fuzzy_deduplicated]


def _earlier_partitions(context: dg.AssetExecutionContext, index: DedupIndex, fuzzy_key: dg.AssetKey) -> list[str]:
    """Every partition ordered before this one; each must be in the index already."""
    keys = partitions_in_keep_order(context.assets_def.partitions_def, context.instance)
    current = context.partition_key
    earlier = keys[: keys.index(current)] if current in keys else []
    for key in earlier:
        if index.entry(key) is None:
            raise dg.Failure(
                f"{stage_key(context.asset_key)} [{current}] is deduplicated against every partition before "
                f"it, but {stage_key(fuzzy_key)} [{key}] was never materialised (it is not in the dedup "
                f"index {index.root}): materialise it first (e.g. backfill the earlier partitions in order)")
    return earlier
