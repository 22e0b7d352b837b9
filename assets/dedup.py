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

from assets.config import config_class, config_values
from assets.partitions import partitions_in_keep_order
from assets.stage_runner import partition_asset, stage_key, upstream_batches, write_split
from curation.dedup.engine import FUZZY_STAGE, dedup_settings, deduplicate_partition
from curation.dedup.index import DedupIndex, DedupIndexError
from curation.spec import StageSpec
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource


def index_url(store: CorpusStore, source: str) -> str:
    return posixpath.join(store.root.rstrip("/"), source, "dedup_index")


def dedup_asset(source: str, spec: StageSpec, upstream: dg.AssetKey,
                partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """exact_deduplicated (spec.extra["exact"]) or fuzzy_deduplicated of one source; only the
    fuzzy pass adds the partition's kept documents to the index."""
    key = dg.AssetKey([source, spec.name])
    exact = spec.extra["exact"]
    Config = config_class(spec)

    @partition_asset(key, partitions_def, spec, deps=[upstream])
    def dedup_stage(context: dg.AssetExecutionContext, config: Config, corpus_store: CorpusStore,
                    dask: DaskResource) -> dg.MaterializeResult:
        try:
            settings = dedup_settings(exact=exact, fuzzy=not exact, **config_values(config))
            index = DedupIndex.open(index_url(corpus_store, source), settings.layout(),
                                    corpus_store.storage_options or None)
        except (ValueError, DedupIndexError) as error:
            raise dg.Failure(str(error)) from error
        earlier = _earlier_partitions(context, index, dg.AssetKey([source, FUZZY_STAGE]))

        def read():
            return upstream_batches(context, corpus_store, upstream)

        with dask.client() as client:
            result = deduplicate_partition(read, context.partition_key, settings, index=index, earlier=earlier,
                                           client=client, add=not exact, stage=spec.name, progress=context.log.info)
        stats = result.stats
        return write_split(
            context, spec, corpus_store, result.split(read()), lambda: result.rows, upstream=upstream,
            extra=lambda: {"earlier_partitions": earlier, "threshold": settings.threshold,
                           "candidate_pairs": stats.candidate_pairs,
                           "cross_partition_matches": stats.cross_partition_matches,
                           "minhash": settings.minhash.as_dict(), "index": index.root},
            run_metadata=lambda: {"index_bytes_read": stats.index_bytes_read, "bytes_read": stats.bytes_read,
                                  "hash_ranges": stats.hash_ranges, "pass_seconds": stats.as_dict()["seconds"]},
        )

    return dedup_stage


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
