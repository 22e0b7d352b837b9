"""Run one library stage over one partition: upstream manifest in, shards + manifest out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext

import dagster as dg
import pyarrow as pa

from assets.checks import check_results, check_specs, observer_for
from assets.metadata import stage_metadata
from assets.partitions import partitions_in_keep_order
from assets.plots import ScoreHistograms
from curation.io import Manifest
from curation.parallel import Split, process_batches
from curation.spec import StageSpec
from curation.stage import BatchStats, DocumentStage, all_kept
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource


def partition_asset(key: dg.AssetKey, partitions_def: dg.PartitionsDefinition, spec: StageSpec,
                    deps: list[dg.AssetKey] | None = None, output_required: bool = True, **asset_args):
    """The decorator of every corpus asset: grouped by source (the key's first part), one
    partitions definition per source, Parquet shards in the CorpusStore, and the checks its
    spec names (assets/checks.py). Description and code_version come from the spec, so a
    changed default of the stage marks its partitions stale. With `output_required=False` the
    asset may yield nothing, and is then skipped with its downstream assets instead of failing
    the run."""
    return dg.asset(key=key, deps=deps, group_name=key.path[0], partitions_def=partitions_def,
                    kinds={"python", "parquet"}, code_version=spec.code_version(), description=spec.description,
                    output_required=output_required,
                    # An asset that may be skipped cannot promise check results (Dagster requires them).
                    check_specs=check_specs(key, spec) if output_required else None, **asset_args)


def stage_key(asset_key: dg.AssetKey) -> str:
    """Storage folder of an asset: its key path, e.g. web/language_filtered."""
    return "/".join(asset_key.path)


class _Previews:
    """Keeps the first few kept and rejected rows for metadata, nothing more (memory bound)."""

    def __init__(self, rows: int = 5) -> None:
        self.rows = rows
        self.kept: pa.Table | None = None
        self.rejected: pa.Table | None = None

    def kept_sink(self, write):
        def sink(table: pa.Table) -> None:
            if self.kept is None or self.kept.num_rows < self.rows:
                self.kept = table.slice(0, self.rows) if self.kept is None else pa.concat_tables(
                    [self.kept, table.slice(0, self.rows)], promote_options="permissive")
            write(table)
        return sink

    def rejected_sink(self, write):
        def sink(table: pa.Table) -> None:
            if table.num_rows and (self.rejected is None or self.rejected.num_rows < self.rows):
                self.rejected = table.slice(0, self.rows) if self.rejected is None else pa.concat_tables(
                    [self.rejected, table.slice(0, self.rows)])
            write(table)
        return sink


def write_partition(context: dg.AssetExecutionContext, spec: StageSpec, store: CorpusStore,
                    batches: Iterable[pa.Table], stage: DocumentStage | None = None,
                    upstream: dg.AssetKey | None = None, extra: Callable[[], dict] | None = None,
                    dask: DaskResource | None = None) -> dg.MaterializeResult:
    """Stream batches (through `stage` when given, else all kept) into this asset's partition,
    on the Dask cluster of `dask` when it has one (the same bytes either way).

    `upstream`: the asset whose kept documents are exactly these batches (accounting check).
    `extra` is called once the batches are consumed, so it can report what reading them counted.
    """
    seen = [0]

    def counted() -> Iterable[pa.Table]:
        for batch in batches:
            seen[0] += batch.num_rows
            yield batch

    if stage is None:
        return write_split(context, spec, store, (all_kept(batch) for batch in counted()), lambda: seen[0],
                           upstream=upstream, extra=extra)
    with (dask.client() if dask is not None else nullcontext()) as client:
        return write_split(context, spec, store, process_batches(stage, counted(), client), lambda: seen[0],
                           upstream=upstream, extra=extra)


def write_split(context: dg.AssetExecutionContext, spec: StageSpec, store: CorpusStore, split: Iterable[Split],
                rows_in: Callable[[], int], upstream: dg.AssetKey | None = None,
                extra: Callable[[], dict] | None = None,
                run_metadata: Callable[[], dict] | None = None) -> dg.MaterializeResult:
    """Write (kept, rejected, stats) triples into this asset's partition. `rows_in` counts the
    input independently of the split, for the commit's accounting check. The summed stats'
    `extra` counters become metadata through the spec; `extra` goes into the manifest and the
    metadata, `run_metadata` (what differs between runs of the same input, such as timings)
    into the metadata only."""
    start = time.perf_counter()
    previews = _Previews()
    key = context.asset_key
    observer = observer_for(spec)
    histograms = ScoreHistograms(spec.scores)
    totals = BatchStats()

    def observed_write(table: pa.Table) -> None:
        observer(table)
        histograms.kept(table)
        writer.write_kept(table)

    def observed_rejects(table: pa.Table) -> None:
        histograms.rejected(table)
        writer.write_rejects(table)

    with store.writer(stage_key(context.asset_key), context.partition_key) as writer:
        write_kept = previews.kept_sink(observed_write)
        write_rejects = previews.rejected_sink(observed_rejects)
        for kept, rejected, stats in split:
            write_kept(kept)
            write_rejects(rejected)
            totals += stats
        extra_values = {**spec.metadata(totals.extra), **(extra() if extra is not None else {})}
        manifest = writer.commit(rows_in(), extra=extra_values)
    seconds = time.perf_counter() - start
    context.log.info(
        f"{manifest.stage} [{manifest.partition}]: {manifest.rows_in} in, {manifest.rows_kept} kept, "
        f"{manifest.rows_rejected} rejected {manifest.rejects_by_reason}"
    )
    metadata = stage_metadata(manifest, store.partition_url(manifest.stage, manifest.partition),
                              previews.kept, previews.rejected, seconds, list(spec.preview))
    plot = histograms.markdown()
    if plot is not None:
        metadata["score_histograms"] = dg.MetadataValue.md(plot)
    for name, value in {**extra_values, **(run_metadata() if run_metadata is not None else {})}.items():
        metadata.setdefault(name, dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value)
    upstream_manifest = store.manifest(stage_key(upstream), context.partition_key) if upstream is not None else None
    results = (check_results(key, spec, manifest, upstream_manifest, _previous_manifest(context, store), observer)
               if context.assets_def.check_specs_by_output_name else [])
    return dg.MaterializeResult(metadata=metadata, check_results=results)


def _previous_manifest(context: dg.AssetExecutionContext, store: CorpusStore) -> Manifest | None:
    """This stage's manifest of the nearest earlier partition that has one."""
    order = partitions_in_keep_order(context.assets_def.partitions_def, context.instance)
    if context.partition_key not in order:
        return None
    for partition in reversed(order[:order.index(context.partition_key)]):
        try:
            return store.manifest(stage_key(context.asset_key), partition)
        except FileNotFoundError:
            continue
    return None


def upstream_batches(context: dg.AssetExecutionContext, store: CorpusStore,
                     upstream: dg.AssetKey) -> Iterable[pa.Table]:
    manifest = store.manifest(stage_key(upstream), context.partition_key)
    return store.iter_batches(manifest)
