"""Run one library stage over one partition: upstream manifest in, shards + manifest out."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Callable, Iterable

import dagster as dg
import pyarrow as pa

from assets.checks import check_results, check_specs, observer_for
from assets.metadata import stage_metadata
from assets.partitions import partitions_in_keep_order
from assets.plots import ScoreHistograms
from curation.io import Manifest
from curation.parallel import process_batches
from curation.stage import DocumentStage
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource


# Stage -> the upstream whose every kept document is its input (for the accounting check).
_FED_BY: dict[dg.AssetKey, dg.AssetKey] = {}


def partition_asset(key: dg.AssetKey, partitions_def: dg.PartitionsDefinition, description: str,
                    deps: list[dg.AssetKey] | None = None, code_version: str = "1", output_required: bool = True,
                    fed_by: dg.AssetKey | None = None):
    """The decorator of every corpus asset: grouped by source (the key's first part), one
    partitions definition per source, Parquet shards in the CorpusStore, and the stage checks
    (assets/checks.py). `fed_by`: the upstream whose kept documents are exactly this stage's
    input. With `output_required=False` the asset may yield nothing, and is then skipped with
    its downstream assets instead of failing the run."""
    if fed_by is not None:
        _FED_BY[key] = fed_by
    return dg.asset(key=key, deps=deps, group_name=key.path[0], partitions_def=partitions_def,
                    kinds={"python", "parquet"}, code_version=code_version, description=description,
                    output_required=output_required,
                    # An asset that may be skipped cannot promise check results (Dagster requires them).
                    check_specs=check_specs(key) if output_required else None)


DEFAULT_PREVIEW = ("id", "url", "language", "language_score", "text")


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


def write_partition(context: dg.AssetExecutionContext, store: CorpusStore, batches: Iterable[pa.Table],
                    stage: DocumentStage | None = None, extra: Callable[[], dict] | None = None,
                    preview: tuple[str, ...] = DEFAULT_PREVIEW, dask: DaskResource | None = None) -> dg.MaterializeResult:
    """Stream batches (through `stage` when given, else all kept) into this asset's partition,
    on the Dask cluster of `dask` when it has one (the same bytes either way).

    `extra` is called once the batches are consumed, so it can report what reading them counted.
    """
    empty = pa.table({"id": pa.array([], pa.string())})
    seen = [0]

    def counted() -> Iterable[pa.Table]:
        for batch in batches:
            seen[0] += batch.num_rows
            yield batch

    if stage is None:
        return write_split(context, store, ((batch, empty) for batch in counted()), lambda: seen[0],
                           extra=extra, preview=preview)
    with (dask.client() if dask is not None else nullcontext()) as client:
        return write_split(context, store, process_batches(stage, counted(), client), lambda: seen[0],
                           extra=extra, preview=preview)


def write_split(context: dg.AssetExecutionContext, store: CorpusStore, split: Iterable[tuple[pa.Table, pa.Table]],
                rows_in: Callable[[], int], extra: Callable[[], dict] | None = None, preview: tuple[str, ...] = DEFAULT_PREVIEW,
                side_tables: Callable[[], Iterable[tuple[str, pa.Table]]] | None = None,
                run_metadata: Callable[[], dict] | None = None) -> dg.MaterializeResult:
    """Write (kept, rejected) pairs into this asset's partition, then the side tables that a
    stage keeps for later partitions (named tables, produced after the split is consumed).
    `rows_in` counts the input independently of the split, for the commit's accounting check.
    `extra` goes into the manifest and the metadata, `run_metadata` (what differs between runs
    of the same input, such as timings) into the metadata only."""
    start = time.perf_counter()
    previews = _Previews()
    key = context.asset_key
    observer = observer_for(key)

    histograms = ScoreHistograms(key.path[-1])

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
        for kept, rejected in split:
            write_kept(kept)
            write_rejects(rejected)
        for name, table in (side_tables() if side_tables is not None else ()):
            writer.write_side(name, table)
        extra_values = extra() if extra is not None else {}
        manifest = writer.commit(rows_in(), extra=extra_values)
    seconds = time.perf_counter() - start
    context.log.info(
        f"{manifest.stage} [{manifest.partition}]: {manifest.rows_in} in, {manifest.rows_kept} kept, "
        f"{manifest.rows_rejected} rejected {manifest.rejects_by_reason}"
    )
    metadata = stage_metadata(manifest, store.partition_url(manifest.stage, manifest.partition),
                              previews.kept, previews.rejected, seconds, list(preview))
    plot = histograms.markdown()
    if plot is not None:
        metadata["score_histograms"] = dg.MetadataValue.md(plot)
    for name, value in {**extra_values, **(run_metadata() if run_metadata is not None else {})}.items():
        metadata.setdefault(name, dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value)
    upstream = store.manifest(stage_key(_FED_BY[key]), context.partition_key) if key in _FED_BY else None
    results = (check_results(key, manifest, upstream, _previous_manifest(context, store), observer)
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


def upstream_batches(context: dg.AssetExecutionContext, store: CorpusStore, upstream: dg.AssetKey) -> Iterable[pa.Table]:
    manifest = store.manifest(stage_key(upstream), context.partition_key)
    return store.iter_batches(manifest)
