"""The stage assets of every source, built from the specs of `curation/catalog.py` by one
factory, so the UI shows parallel lineages (web, personas, synthetic) through the same stage
code. A spec's parameters become the asset's run config (`config_class`), its models the
asset's model dependencies, its fed_by the upstream asset of the same source.
"""

from collections.abc import Sequence

import dagster as dg

from assets.config import config_class, config_values
from assets.dedup import dedup_asset
from assets.stage_runner import partition_asset, upstream_batches, write_partition
from curation.spec import StageSpec
from resources.corpus_store import CorpusStore


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["models", name])


def document_stage_asset(source: str, spec: StageSpec, upstream: dg.AssetKey,
                         partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """One per-document stage over one source: upstream's kept documents in, the stage's
    kept documents and rejects out, on the Dask cluster of the `dask` resource if it has one."""
    key = dg.AssetKey([source, spec.name])
    Config = config_class(spec)

    # Resources by key rather than typed parameters: the model store only where the spec loads
    # models (Dagster allows one way or the other, not both).
    resources = {"corpus_store", "dask", *(["model_store"] if spec.models else [])}

    @partition_asset(key, partitions_def, spec, deps=[upstream, *map(model_key, spec.models)],
                     required_resource_keys=resources)
    def stage_asset(context: dg.AssetExecutionContext, config: Config) -> dg.MaterializeResult:
        store: CorpusStore = context.resources.corpus_store
        models = {name: str(context.resources.model_store.folder(name)) for name in spec.models}
        stage = spec.stage(config_values(config), models)
        return write_partition(context, spec, store, upstream_batches(context, store, upstream), stage,
                               upstream=upstream, dask=context.resources.dask)

    return stage_asset


def stage_assets(source: str, specs: Sequence[StageSpec], partitions_def: dg.PartitionsDefinition,
                 documents: dg.AssetKey | None = None) -> list[dg.AssetsDefinition]:
    """The assets of `specs` for one source, in order. A spec fed by None reads `documents`
    (the source's documents asset); the others read their fed_by stage of the same source."""
    built = []
    for spec in specs:
        if spec.fed_by is None and documents is None:
            raise ValueError(f"{source}/{spec.name} is the first stage of a chain: pass the documents asset")
        upstream = documents if spec.fed_by is None else dg.AssetKey([source, spec.fed_by])
        factory = {"document": document_stage_asset, "dedup": dedup_asset}.get(spec.kind)
        if factory is None:
            raise ValueError(f"{spec.name}: no asset factory for stages of kind {spec.kind!r}")
        built.append(factory(source, spec, upstream, partitions_def))
    return built
