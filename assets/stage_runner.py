"""Run one library stage over one partition: upstream manifest in, shards + manifest out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from assets.checks import check_results, check_specs, failed_blocking, observer_for
from assets.metadata import stage_metadata
from assets.partitions import partitions_in_keep_order
from assets.plots import ScoreHistograms
from curation.io import Manifest, PartitionWriter
from curation.parallel import Split, chain_batches
from curation.progress import Progress
from curation.spec import StageSpec
from curation.stage import BatchStats, DocumentStage, all_kept
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource

PROGRESS_EVERY_S = 30.0  # a log line per running asset at most this often


def partition_asset(key: dg.AssetKey, partitions_def: dg.PartitionsDefinition, spec: StageSpec,
                    deps: list[dg.AssetKey] | None = None, output_required: bool = True,
                    checks_when_skipped: bool = False, **asset_args):
    """The decorator of every corpus asset: grouped by source (the key's first part), one
    partitions definition per source, Parquet shards in the CorpusStore, and the checks its
    spec names (assets/checks.py). Description and code_version come from the spec, so a
    changed default of the stage marks its partitions stale. With `output_required=False` the
    asset may yield nothing, and is then skipped with its downstream assets instead of failing
    the run; `checks_when_skipped` keeps its checks, and a skip then yields
    `checks.skipped_results`."""
    return dg.asset(key=key, deps=deps, group_name=key.path[0], partitions_def=partitions_def,
                    kinds={"python", "parquet"}, code_version=spec.code_version(), description=spec.description,
                    output_required=output_required,
                    # An asset that may be skipped cannot promise check results (Dagster requires them).
                    check_specs=check_specs(key, spec) if output_required or checks_when_skipped else None,
                    **asset_args)


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


class PartitionSink:
    """One asset's partition as it is written: kept and rejected shards, previews, score
    histograms, what the checks observe, and the summed stats. `add` takes triples, `commit`
    writes the manifest, `result` gives the materialisation with its checks."""

    def __init__(self, key: dg.AssetKey, spec: StageSpec, store: CorpusStore, writer: PartitionWriter) -> None:
        self.key, self.spec, self.store, self.writer = key, spec, store, writer
        self.previews = _Previews()
        self.observer = observer_for(spec)
        self.histograms = ScoreHistograms(spec.scores)
        self.totals = BatchStats()
        self.seconds = 0.0  # the stage's own compute seconds, where a fused chain measures them
        self._write_kept = self.previews.kept_sink(self._observed_kept)
        self._write_rejects = self.previews.rejected_sink(self._observed_rejects)

    def _observed_kept(self, table: pa.Table) -> None:
        self.observer(table)
        self.histograms.kept(table)
        self.writer.write_kept(table)

    def _observed_rejects(self, table: pa.Table) -> None:
        self.histograms.rejected(table)
        self.writer.write_rejects(table)

    def add(self, split: Split, seconds: float = 0.0) -> None:
        kept, rejected, stats = split
        self._write_kept(kept)
        self._write_rejects(rejected)
        self.totals += stats
        self.seconds += seconds

    def commit(self, rows_in: int, extra: dict | None = None) -> Manifest:
        """The stage's `extra` counters (through the spec) and `extra` go into the manifest."""
        self.extra_values = {**self.spec.metadata(self.totals.extra), **(extra or {})}
        self.manifest = self.writer.commit(rows_in, extra=self.extra_values)
        return self.manifest

    def result(self, context: dg.AssetExecutionContext, seconds: float, upstream: dg.AssetKey | None = None,
               run_metadata: dict | None = None, checks: bool = True) -> dg.MaterializeResult:
        """`run_metadata`: what differs between runs of the same input (timings), metadata only.
        `checks`: whether this step reports the asset's checks (selected, where it may choose)."""
        manifest = self.manifest
        context.log.info(
            f"{manifest.stage} [{manifest.partition}]: {manifest.rows_in} in, {manifest.rows_kept} kept, "
            f"{manifest.rows_rejected} rejected {manifest.rejects_by_reason}"
        )
        metadata = stage_metadata(manifest, self.store.partition_url(manifest.stage, manifest.partition),
                                  self.previews.kept, self.previews.rejected, seconds, list(self.spec.preview))
        plot = self.histograms.markdown()
        if plot is not None:
            metadata["score_histograms"] = dg.MetadataValue.md(plot)
        for name, value in {**self.extra_values, **(run_metadata or {})}.items():
            metadata.setdefault(name, dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value)
        results = []
        if checks:
            upstream_manifest = (self.store.manifest(stage_key(upstream), context.partition_key)
                                 if upstream is not None else None)
            results = check_results(self.key, self.spec, manifest, upstream_manifest,
                                    _previous_manifest(context, self.key, self.store), self.observer)
        return dg.MaterializeResult(asset_key=self.key, metadata=metadata, check_results=results)


def write_partition(context: dg.AssetExecutionContext, spec: StageSpec, store: CorpusStore,
                    batches: Iterable[pa.Table], upstream: dg.AssetKey | None = None,
                    extra: Callable[[], dict] | None = None) -> dg.MaterializeResult:
    """Stream batches, all kept, into this asset's partition. `upstream`: the asset whose kept
    documents are exactly these batches (accounting check). `extra` is called once the batches
    are consumed, so it can report what reading them counted."""
    seen = [0]

    def counted() -> Iterable[pa.Table]:
        for batch in batches:
            seen[0] += batch.num_rows
            yield all_kept(batch)

    return write_split(context, spec, store, counted(), lambda: seen[0], upstream=upstream, extra=extra)


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
    progress = Progress(f"{stage_key(context.asset_key)} [{context.partition_key}]", report=context.log.info,
                        every_s=PROGRESS_EVERY_S)
    with store.writer(stage_key(context.asset_key), context.partition_key) as writer:
        sink = PartitionSink(context.asset_key, spec, store, writer)
        for triple in split:
            sink.add(triple)
            progress.add(triple[2].rows_in)
        sink.commit(rows_in(), extra() if extra is not None else None)
    return sink.result(context, time.perf_counter() - start, upstream,
                       run_metadata() if run_metadata is not None else None,
                       checks=bool(context.assets_def.check_specs_by_output_name))


@dataclass(frozen=True)
class ChainMember:
    """One stage of a fused chain: its asset, spec, and the asset it reads when run alone."""

    key: dg.AssetKey
    spec: StageSpec
    upstream: dg.AssetKey


def write_chain(context: dg.AssetExecutionContext, store: CorpusStore, members: Sequence[ChainMember],
                stages: Sequence[DocumentStage], dask: DaskResource | None = None) -> list[dg.MaterializeResult]:
    """Fused execution of consecutive stages: the first member's upstream is read once, each
    batch goes through every stage in one task (on the Dask cluster of `dask` if it has one),
    and every member's partition is written as if it had run alone (same shards, manifest,
    metadata and checks). Commits go in chain order; a failed blocking check stops there, like
    a failed step would: the members after it are not written (their previous partition, if
    any, stays), and the step fails on that check."""
    start = time.perf_counter()
    seen = [0]

    def counted() -> Iterable[pa.Table]:
        for batch in upstream_batches(context, store, members[0].upstream):
            seen[0] += batch.num_rows
            yield batch

    writers = [store.writer(stage_key(member.key), context.partition_key) for member in members]
    progress = Progress(f"{' -> '.join(stage_key(m.key) for m in members)} [{context.partition_key}]",
                        report=context.log.info, every_s=PROGRESS_EVERY_S)
    try:
        sinks = [PartitionSink(member.key, member.spec, store, writer) for member, writer in zip(members, writers)]
        with (dask.client() if dask is not None else nullcontext()) as client:
            for chained in chain_batches(stages, counted(), client):
                for sink, split, seconds in zip(sinks, chained.splits, chained.seconds):
                    sink.add(split, seconds)
                    sink.writer.keep_alive()  # every member's lease, rows or not
                progress.add(chained.splits[0][2].rows_in)
        rows_in = seen[0]
        wall = time.perf_counter() - start
        fused = [stage_key(member.key) for member in members]
        results = []
        for member, sink in zip(members, sinks):
            manifest = sink.commit(rows_in)
            rows_in = manifest.rows_kept
            checks = [check for check in context.selected_asset_check_keys if check.asset_key == member.key]
            result = sink.result(context, sink.seconds, member.upstream, checks=bool(checks),
                                 run_metadata={"fused_chain": fused, "fused_chain_seconds": round(wall, 3)})
            results.append(result)
            if failed_blocking(result.check_results or []):
                break  # the members after it stay unwritten: a failed blocking check stops what follows
    finally:
        for writer in writers:
            if not writer.committed:
                writer.abort()
    return results


def _previous_manifest(context: dg.AssetExecutionContext, key: dg.AssetKey, store: CorpusStore) -> Manifest | None:
    """This stage's manifest of the nearest earlier partition that has one."""
    order = partitions_in_keep_order(context.assets_def.partitions_def, context.instance)
    if context.partition_key not in order:
        return None
    for partition in reversed(order[:order.index(context.partition_key)]):
        try:
            return store.manifest(stage_key(key), partition)
        except FileNotFoundError:
            continue
    return None


def upstream_batches(context: dg.AssetExecutionContext, store: CorpusStore,
                     upstream: dg.AssetKey) -> Iterable[pa.Table]:
    manifest = store.manifest(stage_key(upstream), context.partition_key)
    return store.iter_batches(manifest)
