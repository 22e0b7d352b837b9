"""The training release: one partition per release name (`release_names`, set by the user, e.g.
2026-12), assembled by the `assemble_release` job from every committed partition of each
source's last stage. Cross-source dedup, decontamination (when benchmark files are named),
blend, shuffle, fixed-size Parquet shards, token counts and a README.md dataset card beside
the shards (`curation/release.py`)."""

import json
import posixpath

import dagster as dg
from pydantic import Field

from assets.partitions import release_names
from assets.stage_runner import partition_asset, write_split
from curation.decontaminate import Decontaminator
from curation.io import filesystem
from curation.release import (
    ORIGINAL,
    RELEASE_SCHEMA,
    SYNTHETIC,
    BlendSettings,
    ReleaseSource,
    ReleaseStats,
    Tokenizer,
    assemble,
    file_sha256,
    finish_release,
    push_to_hub,
    read_url_licences,
)
from curation.spec import StageSpec
from curation.stage import with_stats
from resources.corpus_store import CorpusStore
from resources.models import ModelStore
from resources.sources import WebInbox

RELEASE_SPEC = StageSpec(name="training_release", kind="source", preview=("id", "source", "tokens", "text"),
                         description="The training release: every source's curated documents, synthetic copies of "
                                     "originals removed, decontaminated, blended by weight, shuffled, in fixed-size "
                                     "Parquet shards with token counts and a dataset card.",
                         required_columns=tuple(RELEASE_SCHEMA.names))
RELEASE = dg.AssetKey(["release", RELEASE_SPEC.name])
# name -> (stage, licence, kind): what a release is made of by default
SOURCES: dict[str, tuple[str, str, str]] = {
    "web": ("web/quality_filtered", "Common Crawl terms of use; page texts stay with their rights holders", ORIGINAL),
    "personas": ("personas/quality_filtered", "CC BY 4.0 (Nemotron-Personas-Korea, NVIDIA)", ORIGINAL),
    "persona_qa": ("synthetic/quality_filtered", "CC BY 4.0 (from Nemotron-Personas-Korea); the generator's terms",
                   SYNTHETIC),
    "rephrased": ("web/rephrased", "as the web source; the generator's terms", SYNTHETIC),
    "sft_conversations": ("instruct/sft_conversations", "the generator's and the reward model's terms", SYNTHETIC),
}


class ReleaseConfig(dg.Config):
    weights: dict[str, float] = Field(default_factory=lambda: {name: 1.0 for name in SOURCES},
                                      description="per source: 1 = each document once, 0.5 = half, 2 = twice")
    weights_as: str = Field(default="documents", description="documents: weights multiply documents; tokens: "
                                                             "weights are shares of the release's tokens")
    seed: int = 0
    buckets: int = Field(default=16, description="shuffle buckets: memory holds one (the release / buckets)")
    keep_synthetic_copies: bool = False
    benchmarks: list[str] = Field(default_factory=list, description="benchmark files to decontaminate against "
                                                                    "(JSONL, Parquet, hf://); empty: not run")
    tokenizer: str = Field(default="", description="SentencePiece model, or a Hugging Face tokenizer.json; empty: "
                                                   "the perplexity model's sp.model")
    jsonl_zst: bool = Field(default=False, description="also write each shard as jsonl.zst (in jsonl/ beside kept/)")
    push_to_hub: str = Field(default="", description="Hub dataset repo id to upload the card and shards to (token "
                                                     "from $HF_TOKEN; needs network); empty: no push")


def _sources(store: CorpusStore, weights: dict[str, float], url_licences: dict[str, str]) -> list[ReleaseSource]:
    chosen = []
    for name, (stage, licence, kind) in SOURCES.items():
        partitions = store.partitions(stage)
        if not partitions or weights.get(name, 1.0) <= 0:
            continue
        manifests = [store.manifest(stage, p) for p in partitions]
        chosen.append(ReleaseSource(name, lambda m=manifests: (b for x in m for b in store.iter_batches(x)), licence,
                                    kind, partitions, url_licences, sum(m.rows_kept for m in manifests)))
    return chosen


# Every partition of each source goes in: the dependency spans all of them.
@partition_asset(RELEASE, release_names, RELEASE_SPEC,
                 deps=[dg.AssetDep(dg.AssetKey(stage.split("/")), partition_mapping=dg.AllPartitionMapping())
                       for stage, _, _ in SOURCES.values()])
def training_release(context: dg.AssetExecutionContext, config: ReleaseConfig, corpus_store: CorpusStore,
                     model_store: ModelStore, web_inbox: WebInbox):
    sources = _sources(corpus_store, config.weights, read_url_licences(web_inbox.licences))
    if not sources:
        raise dg.Failure("no source has a committed partition: materialise the curation chains first")
    tokenizer_path = config.tokenizer or posixpath.join(str(model_store.folder("perplexity_model")), "sp.model")
    tokenizer = Tokenizer(tokenizer_path)
    settings = BlendSettings(config.weights, config.seed, config.buckets, config.keep_synthetic_copies,
                             config.weights_as)
    stats = ReleaseStats()
    decontaminator = Decontaminator(config.benchmarks) if config.benchmarks else None
    pairs = assemble(sources, settings, stats, tokenizer, decontaminator, progress=context.log.info)
    lineage = {"code_versions": _code_versions([SOURCES[s.name][0] for s in sources]),
               "tokenizer_sha256": file_sha256(tokenizer_path)}
    counted = {"in": 0}

    def split():
        for rows, rejects in pairs:
            counted["in"] += rows.num_rows + rejects.num_rows
            yield rows, rejects

    result = write_split(context, RELEASE_SPEC, corpus_store, with_stats(split()), lambda: counted["in"],
                         extra=lambda: {**stats.as_dict(), "weights": config.weights, "seed": config.seed,
                                        "tokenizer": tokenizer_path, "sources": {s.name: s.partitions
                                                                                 for s in sources}})
    manifest = corpus_store.manifest("release/training_release", context.partition_key)
    fs, folder = filesystem(corpus_store.partition_url("release/training_release", context.partition_key),
                            corpus_store.storage_options or None)
    card = finish_release(fs, folder, manifest, context.partition_key, stats, sources, settings, lineage,
                          posixpath.basename(tokenizer_path), _upstream_rejects(corpus_store, sources),
                          config.jsonl_zst)
    if config.push_to_hub:
        if "file" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
            raise dg.Failure("push_to_hub uploads from a local store; this store is remote")
        context.log.info(f"pushed to the Hub: {push_to_hub(folder, config.push_to_hub)}")
    context.log.info(f"release {context.partition_key}: {sum(stats.documents_out.values()):,} documents, "
                     f"{sum(stats.tokens_out.values()):,} tokens; card {folder}/README.md")
    result.metadata["dataset_card"] = dg.MetadataValue.md(card)
    result.metadata["documents_by_source"] = dg.MetadataValue.json(json.loads(json.dumps(dict(stats.documents_out))))
    return result


def _code_versions(stages: list[str]) -> dict[str, str]:
    """The code version of each source stage (its spec's, as its asset declares it)."""
    from assets.instruct import SFT_SPEC
    from assets.synthetic import REPHRASED_SPEC
    from curation.catalog import QUALITY_FILTERED

    specs = {"quality_filtered": QUALITY_FILTERED, "rephrased": REPHRASED_SPEC, "sft_conversations": SFT_SPEC}
    return {stage: specs[stage.rsplit("/", 1)[-1]].code_version() for stage in stages}


def _upstream_rejects(store: CorpusStore, sources: list[ReleaseSource]) -> dict[str, dict[str, int]]:
    """Rejects by reason of every stage of each source (its folder in the store), summed over
    the partitions that went into the release."""
    totals: dict[str, dict[str, int]] = {}
    for source in sources:
        group = SOURCES[source.name][0].split("/")[0]
        fs, root = filesystem(posixpath.join(store.root, group), store.storage_options or None)
        stages = sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(root, detail=False) if fs.isdir(p))
        for stage in stages:
            for partition in source.partitions:
                try:
                    manifest = store.manifest(f"{group}/{stage}", partition)
                except FileNotFoundError:
                    continue
                for reason, count in manifest.rejects_by_reason.items():
                    counts = totals.setdefault(f"{group}/{stage}", {})
                    counts[reason] = counts.get(reason, 0) + count
    return totals


release_assets = [training_release]
