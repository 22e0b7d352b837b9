"""The stage assets of every source, built from the specs of `curation/catalog.py` by one
factory, so the UI shows parallel lineages (web, personas, synthetic) through the same stage
code. A spec's parameters become the asset's run config (`config_class`), its models the
asset's model dependencies, its fed_by the upstream asset of the same source.

Consecutive per-document stages of a source are one subsettable multi-asset (a fused chain):
one Dagster step reads the first stage's upstream once and passes every batch through all the
selected stages in one task (`curation.parallel.chain_batches`), on the Dask cluster of the
`dask` resource if it has one. Each stage is still its own asset, with its own partition,
metadata, checks and code version, and can be materialised alone: the step then runs only the
selected stages, each contiguous run of them fused, reading their upstream from the store.
"""

from collections.abc import Sequence

import dagster as dg
import pydantic

from assets.checks import check_specs
from assets.config import config_class, config_values
from assets.dedup import dedup_asset
from assets.stage_runner import ChainMember, stage_key, write_chain
from curation.spec import StageSpec
from resources.corpus_store import CorpusStore


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["models", name])


def chain_op_name(source: str, specs: Sequence[StageSpec]) -> str:
    """The step of a fused chain, e.g. web__extracted_text_to_heuristic_filtered."""
    names = [spec.name for spec in specs]
    return f"{source}__{names[0]}" if len(names) == 1 else f"{source}__{names[0]}_to_{names[-1]}"


def _chain_config(specs: Sequence[StageSpec]) -> type[dg.Config]:
    """One field per stage, named after it, holding that stage's own config class."""
    fields = {spec.name: (config_class(spec), pydantic.Field(default_factory=config_class(spec),
                                                              description=spec.description)) for spec in specs}
    name = "".join(part.title() for part in specs[0].name.split("_")) + f"Chain{len(specs)}Config"
    return pydantic.create_model(name, __base__=dg.Config, **fields)


def contiguous_runs(members: Sequence[ChainMember], selected: set[dg.AssetKey]) -> list[list[int]]:
    """Positions of the selected members, cut where an unselected one lies between: each run
    is fused, and reads its first member's upstream from the store."""
    runs: list[list[int]] = []
    for position, member in enumerate(members):
        if member.key not in selected:
            continue
        if runs and runs[-1][-1] == position - 1:
            runs[-1].append(position)
        else:
            runs.append([position])
    return runs


def document_chain_asset(source: str, specs: Sequence[StageSpec], upstream: dg.AssetKey,
                         partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Consecutive per-document stages of one source as one subsettable multi-asset: upstream's
    kept documents in, each stage's kept documents and rejects out."""
    members, feed = [], upstream
    for spec in specs:
        members.append(ChainMember(dg.AssetKey([source, spec.name]), spec, feed))
        feed = members[-1].key
    Config = _chain_config(specs)
    models = sorted({name for spec in specs for name in spec.models})
    # Resources by key rather than typed parameters: the model store only where a stage loads
    # models (Dagster allows one way or the other, not both).
    resources = {"corpus_store", "dask", *(["model_store"] if models else [])}
    asset_specs = [
        dg.AssetSpec(member.key, deps=[member.upstream, *map(model_key, member.spec.models)], group_name=source,
                     kinds={"python", "parquet"}, code_version=member.spec.code_version(),
                     description=member.spec.description, partitions_def=partitions_def)
        for member in members]

    @dg.multi_asset(name=chain_op_name(source, specs), specs=asset_specs, can_subset=True,
                    check_specs=[check for member in members for check in check_specs(member.key, member.spec)],
                    required_resource_keys=resources)
    def stage_chain(context: dg.AssetExecutionContext, config: Config):
        store: CorpusStore = context.resources.corpus_store
        folders = {name: str(context.resources.model_store.folder(name)) for name in models}
        for run in contiguous_runs(members, set(context.selected_asset_keys)):
            chosen = [members[position] for position in run]
            stages = [member.spec.stage(config_values(getattr(config, member.spec.name)), folders)
                      for member in chosen]
            if len(chosen) > 1:
                context.log.info(f"fused: {', '.join(stage_key(member.key) for member in chosen)}")
            results = write_chain(context, store, chosen, stages, dask=context.resources.dask)
            yield from results
            if len(results) < len(chosen):  # a blocking check failed: the step fails on it
                return

    return stage_chain


def stage_run_config(assets: Sequence[dg.AssetsDefinition], key: dg.AssetKey, **values) -> dict:
    """Run config that sets `values` on the stage of asset `key` (in the step of its fused
    chain), e.g. stage_run_config(defs_assets, AssetKey(["web", "language_filtered"]), threshold=0.5)."""
    for assets_def in assets:
        if key in assets_def.keys:
            return {"ops": {assets_def.node_def.name: {"config": {key.path[-1]: values}}}}
    raise ValueError(f"no asset {key.to_user_string()} among these assets")


def stage_assets(source: str, specs: Sequence[StageSpec], partitions_def: dg.PartitionsDefinition,
                 documents: dg.AssetKey | None = None) -> list[dg.AssetsDefinition]:
    """The assets of `specs` for one source, in order. A spec fed by None reads `documents`
    (the source's documents asset); the others read their fed_by stage of the same source.
    Each run of consecutive per-document specs, each fed by the one before, becomes one fused
    chain (`document_chain_asset`)."""
    built: list[dg.AssetsDefinition] = []
    chain: list[StageSpec] = []
    chain_upstream = None

    def close_chain() -> None:
        if chain:
            built.append(document_chain_asset(source, list(chain), chain_upstream, partitions_def))
            chain.clear()

    for spec in specs:
        if spec.fed_by is None and documents is None:
            raise ValueError(f"{source}/{spec.name} is the first stage of a chain: pass the documents asset")
        upstream = documents if spec.fed_by is None else dg.AssetKey([source, spec.fed_by])
        if spec.kind == "document":
            if not (chain and upstream == dg.AssetKey([source, chain[-1].name])):
                close_chain()
                chain_upstream = upstream
            chain.append(spec)
            continue
        close_chain()
        if spec.kind != "dedup":
            raise ValueError(f"{spec.name}: no asset factory for stages of kind {spec.kind!r}")
        built.append(dedup_asset(source, spec, upstream, partitions_def))
    close_chain()
    return built
