"""Dedup assets of one source: exact_deduplicated -> minhash_signatures -> fuzzy_deduplicated.

Each partition is deduplicated against itself and every partition ordered before it
(`partitions_in_keep_order`), through what those partitions left in the store: the exact
stage's `text_hashes` side table, the signature shards, and the fuzzy stage's `clusters`
side table. No earlier text is read. A partition ordered before this one that was never
materialised is an error, not a silent gap: results must not depend on materialisation order.
"""

from typing import Iterator

import dagster as dg
import numpy as np
import pyarrow as pa

from assets.partitions import partitions_in_keep_order
from assets.stage_runner import partition_asset, stage_key, upstream_batches, write_split
from curation.dedup.backend import make_hasher
from curation.dedup.exact import deduplicate_exact
from curation.dedup.fuzzy import IndexedBatch, deduplicate
from curation.dedup.minhash import MinHashConfig
from curation.dedup.verify import exact_similarity
from curation.dedup.stage import (
    EXACT_STAGE,
    FUZZY_STAGE,
    hash_batches,
    load_signatures,
    signature_batches,
    signatures_of,
    split_duplicates,
)
from curation.io import Manifest
from curation.stage import StageCounts
from resources.corpus_store import CorpusStore

SIDE_ROWS = 100_000


class SignatureConfig(dg.Config):
    ngram: int = MinHashConfig.ngram
    num_perm: int = MinHashConfig.num_perm
    bands: int = MinHashConfig.bands
    strip_spaces: bool = MinHashConfig.strip_spaces
    backend: str = "cpu"  # cpu | gpu | auto; gpu falls back to cpu with a warning


class FuzzyConfig(dg.Config):
    threshold: float = 0.8
    verify: bool = True  # keep an LSH pair only when its estimated Jaccard reaches threshold


def earlier_manifests(context: dg.AssetExecutionContext, store: CorpusStore, asset_key: dg.AssetKey) -> list[tuple[int, Manifest]]:
    """(order, manifest) of `asset_key` for every partition ordered before this one."""
    keys = partitions_in_keep_order(context.assets_def.partitions_def, context.instance)
    current = context.partition_key
    earlier = keys[: keys.index(current)] if current in keys else []
    found = []
    for order, key in enumerate(earlier):
        try:
            found.append((order, store.manifest(stage_key(asset_key), key)))
        except FileNotFoundError as error:
            raise dg.Failure(
                f"{stage_key(context.asset_key)} [{current}] is deduplicated against every partition "
                f"before it, but {stage_key(asset_key)} [{key}] was never materialised: materialise "
                f"it first (e.g. backfill the earlier partitions in order)",
            ) from error
    return found


def _in_chunks(table: pa.Table) -> Iterator[pa.Table]:
    for offset in range(0, table.num_rows, SIDE_ROWS):
        yield table.slice(offset, SIDE_ROWS)


def dedup_assets(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    exact_key = dg.AssetKey([source, "exact_deduplicated"])
    signatures_key = dg.AssetKey([source, "minhash_signatures"])
    fuzzy_key = dg.AssetKey([source, "fuzzy_deduplicated"])

    @partition_asset(exact_key, partitions_def, deps=[upstream], fed_by=upstream, description=(
        "Exact duplicates (same NFKC/lower-cased/space-collapsed text) removed, against this "
        "partition and every earlier one; rejects name duplicate_of."))
    def exact_deduplicated(context: dg.AssetExecutionContext, corpus_store: CorpusStore) -> dg.MaterializeResult:
        def read():
            return upstream_batches(context, corpus_store, upstream)

        ids, hashes = hash_batches(read())
        earlier = earlier_manifests(context, corpus_store, exact_key)

        def earlier_hashes():
            for _, manifest in earlier:
                for table in corpus_store.iter_batches(manifest, "text_hashes"):
                    yield table.column("text_hash").to_numpy(), table.column("id").to_pylist()

        duplicate_of = deduplicate_exact(ids, hashes, earlier_hashes())
        counts = StageCounts()

        def side_tables():
            kept = np.array([d is None for d in duplicate_of], dtype=bool)
            table = pa.table({"id": pa.array([i for i, k in zip(ids, kept) if k], pa.string()),
                              "text_hash": pa.array(hashes[kept], pa.int64())})
            return (("text_hashes", chunk) for chunk in _in_chunks(table))

        return write_split(
            context, corpus_store,
            split_duplicates(read(), ids, duplicate_of, EXACT_STAGE, "exact_duplicate", counts),
            lambda: len(ids), side_tables=side_tables,
            extra=lambda: {"earlier_partitions": [m.partition for _, m in earlier]},
        )

    @partition_asset(signatures_key, partitions_def, deps=[exact_key], fed_by=exact_key, description=(
        "MinHash signature (character n-grams, one-permutation hashing) of every document: the "
        "persistent index later partitions are deduplicated against."))
    def minhash_signatures(context: dg.AssetExecutionContext, config: SignatureConfig,
                           corpus_store: CorpusStore) -> dg.MaterializeResult:
        minhash = MinHashConfig(ngram=config.ngram, num_perm=config.num_perm, bands=config.bands,
                                strip_spaces=config.strip_spaces)
        hasher, backend = make_hasher(minhash, config.backend)
        if backend != config.backend and config.backend != "auto":
            context.log.warning(f"MinHash backend {config.backend!r} is not usable here; computed on the CPU")
        empty = pa.table({"id": pa.array([], pa.string())})
        seen = [0]

        def split():
            for batch in upstream_batches(context, corpus_store, exact_key):
                seen[0] += batch.num_rows
                yield next(signature_batches([batch], hasher)), empty

        return write_split(context, corpus_store, split(), lambda: seen[0], preview=("id",),
                           extra=lambda: {"minhash": minhash.as_dict(), "backend": backend})

    @partition_asset(fuzzy_key, partitions_def, deps=[exact_key, signatures_key], fed_by=exact_key, description=(
        "Near duplicates removed: LSH candidates verified at the Jaccard threshold, connected "
        "components, the earliest document (partition order, then id) kept; rejects name duplicate_of."))
    def fuzzy_deduplicated(context: dg.AssetExecutionContext, config: FuzzyConfig,
                           corpus_store: CorpusStore) -> dg.MaterializeResult:
        own = corpus_store.manifest(stage_key(signatures_key), context.partition_key)
        minhash = own.extra["minhash"]
        ids, signatures = load_signatures(corpus_store.iter_batches(own), rows=own.rows_kept)
        earlier_signatures = earlier_manifests(context, corpus_store, signatures_key)
        earlier_clusters = dict(earlier_manifests(context, corpus_store, fuzzy_key))
        order_of = {m.partition: o for o, m in earlier_signatures}
        for _, manifest in earlier_signatures:
            if manifest.extra.get("minhash") != minhash:
                raise dg.Failure(
                    f"signatures of partition {manifest.partition} were computed with "
                    f"{manifest.extra.get('minhash')}, this partition with {minhash}: re-materialise "
                    f"minhash_signatures of every partition with one configuration")
        threshold = config.threshold if config.verify else None

        def index() -> Iterator[IndexedBatch]:
            for order, manifest in earlier_signatures:
                roots = _duplicate_roots(corpus_store, earlier_clusters[order], order_of)
                for table in corpus_store.iter_batches(manifest):
                    batch_ids = table.column("id").to_pylist()
                    root = [roots.get(i, (i, order)) for i in batch_ids]
                    yield IndexedBatch(order, batch_ids, signatures_of(table),
                                       [r[0] for r in root], [r[1] for r in root])

        config_used = MinHashConfig.from_dict(minhash)
        result = deduplicate(
            ids, signatures, config_used.bands, threshold, index(),
            similarity_of=lambda a, b: exact_similarity(upstream_batches(context, corpus_store, exact_key),
                                                        config_used, a, b))
        counts = StageCounts()
        partition_of = {o: key for key, o in order_of.items()}

        def side_tables():
            # Where each duplicate's kept document lives, so that later partitions link to it.
            rows = [(i, d, o) for i, d, o in zip(ids, result.duplicate_of, result.duplicate_order) if d is not None]
            table = pa.table({
                "id": pa.array([i for i, _, _ in rows], pa.string()),
                "duplicate_of": pa.array([d for _, d, _ in rows], pa.string()),
                "duplicate_of_partition": pa.array(
                    [context.partition_key if o is None else partition_of[o] for _, _, o in rows], pa.string()),
            })
            return (("clusters", chunk) for chunk in _in_chunks(table))

        return write_split(
            context, corpus_store,
            split_duplicates(upstream_batches(context, corpus_store, exact_key), ids, result.duplicate_of,
                             FUZZY_STAGE, "fuzzy_duplicate", counts, result.similarity),
            lambda: len(ids), side_tables=side_tables,
            extra=lambda: {"earlier_partitions": [m.partition for _, m in earlier_signatures],
                           "threshold": threshold, "candidate_edges": result.candidate_edges,
                           "cross_partition_matches": result.cross_partition_matches, "minhash": minhash},
        )

    return [exact_deduplicated, minhash_signatures, fuzzy_deduplicated]


def _duplicate_roots(store: CorpusStore, clusters: Manifest, order_of: dict[str, int]) -> dict[str, tuple[str, int]]:
    """id -> (kept document, its partition order) for the duplicates of one earlier partition."""
    roots: dict[str, tuple[str, int]] = {}
    for table in store.iter_batches(clusters, "clusters"):
        for row in table.to_pylist():
            roots[row["id"]] = (row["duplicate_of"], order_of[row["duplicate_of_partition"]])
    return roots
