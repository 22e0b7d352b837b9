"""The curation chain shared by every source, built by one factory so the UI shows parallel
lineages (web, personas) through the same stage code.

Later stages (heuristics, dedup, quality, perplexity) are added to `curation_chain` in order;
each takes the previous asset's manifest and writes its own.
"""


import dagster as dg

from assets.dedup import dedup_assets
from assets.stage_runner import partition_asset, upstream_batches, write_partition
from assets.models import PERPLEXITY_MODEL, QUALITY_MODEL
from curation.heuristics import HeuristicFilter
from curation.perplexity import PerplexityFilter, PerplexityScorer
from curation.quality import DEFAULT_MIN_BUCKET, QualityFilter, QualityScorer
from curation.langid import LanguageFilter
from curation.pii import PiiRedactor
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource
from resources.models import ModelStore


class LanguageFilterConfig(dg.Config):
    threshold: float = 0.5
    min_letters: int = 1


def language_filtered_asset(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @partition_asset(
        dg.AssetKey([source, "language_filtered"]), partitions_def, deps=[upstream], fed_by=upstream,
        description="Korean documents only: max(fastText lid.176 P(ko), Hangul share of letters) >= threshold.",
    )
    def language_filtered(context: dg.AssetExecutionContext, config: LanguageFilterConfig,
                          corpus_store: CorpusStore, dask: DaskResource) -> dg.MaterializeResult:
        stage = LanguageFilter(threshold=config.threshold, min_letters=config.min_letters)
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, upstream), stage, dask=dask)

    return language_filtered


def heuristic_filtered_asset(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @partition_asset(
        dg.AssetKey([source, "heuristic_filtered"]), partitions_def, deps=[upstream], fed_by=upstream,
        description="Korean heuristic filters (length, digit/symbol/URL ratios, jamo runs, repetition, "
                    "menu/boilerplate lines, eojeol length); scores kept as columns, a reason per drop.",
    )
    def heuristic_filtered(context: dg.AssetExecutionContext, corpus_store: CorpusStore, dask: DaskResource) -> dg.MaterializeResult:
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, upstream),
                               HeuristicFilter(), preview=("id", "url", "syllables", "mean_eojeol_length", "text"),
                               dask=dask)

    return heuristic_filtered


class PiiConfig(dg.Config):
    types: list[str] = []  # empty: every type (RRN, FRN, PHONE, EMAIL, CARD, ACCOUNT, BRN, PASSPORT, IP)


def pii_redacted_asset(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @partition_asset(
        dg.AssetKey([source, "pii_redacted"]), partitions_def, deps=[upstream], fed_by=upstream,
        description="Korean PII (resident/foreigner registration, phone, e-mail, card, account, business "
                    "registration, passport numbers, IPs) replaced by typed placeholders such as <RRN>; "
                    "counts by type, never the values.",
    )
    def pii_redacted(context: dg.AssetExecutionContext, config: PiiConfig, corpus_store: CorpusStore,
                     dask: DaskResource) -> dg.MaterializeResult:
        stage = PiiRedactor(types=config.types or None)
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, upstream), stage,
                               extra=lambda: {"pii_redactions_by_type": dict(sorted(stage.redactions_by_type.items())),
                                              "documents_with_pii": stage.documents_with_pii},
                               preview=("id", "url", "pii_redactions", "text"), dask=dask)

    return pii_redacted


class PerplexityFilterConfig(dg.Config):
    # Buckets to reject (head, middle, tail). None by default: with the small shipped reference
    # (KLUE news/policy sentences) the tail holds ~60 % of the sample's help pages, which is
    # domain shift, not bad text; the cut-offs need a broader reference before they filter.
    reject: list[str] = []


class QualityFilterConfig(dg.Config):
    min_bucket: int = DEFAULT_MIN_BUCKET  # ensemble bucket; lower buckets are rejected as quality_low


def scoring_assets(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Perplexity then quality classifier; both depend on their model asset, so re-training a
    model makes these partitions stale."""
    perplexity_key = dg.AssetKey([source, "perplexity_filtered"])

    @partition_asset(perplexity_key, partitions_def, deps=[upstream, PERPLEXITY_MODEL], fed_by=upstream, description=(
        "KenLM perplexity over SentencePiece pieces and head/middle/tail buckets (annotates; rejects the "
        "buckets named in run config)."))
    def perplexity_filtered(context: dg.AssetExecutionContext, config: PerplexityFilterConfig,
                            corpus_store: CorpusStore, model_store: ModelStore, dask: DaskResource) -> dg.MaterializeResult:
        stage = PerplexityFilter(PerplexityScorer(model_store.folder("perplexity_model")), reject=config.reject)
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, upstream), stage,
                               preview=("id", "url", "perplexity", "perplexity_bucket", "text"), dask=dask)

    @partition_asset(dg.AssetKey([source, "quality_filtered"]), partitions_def, deps=[perplexity_key, QUALITY_MODEL],
                     fed_by=perplexity_key,
                     description="Nemotron-CC buckets (0-19) of two signals, fastText classifier and Moore-Lewis "
                                 "cross-entropy difference, ensembled by the maximum; buckets below min_bucket rejected.")
    def quality_filtered(context: dg.AssetExecutionContext, config: QualityFilterConfig,
                         corpus_store: CorpusStore, model_store: ModelStore, dask: DaskResource) -> dg.MaterializeResult:
        stage = QualityFilter(QualityScorer(model_store.folder("quality_model")), min_bucket=config.min_bucket)
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, perplexity_key), stage,
                               preview=("id", "url", "quality_classifier_bucket", "moore_lewis_bucket", "quality_bucket", "text"),
                               dask=dask)

    return [perplexity_filtered, quality_filtered]


def curation_chain(source: str, documents: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The stage assets after a source's document asset, in order."""
    # Redact first: every later stage, its rejects and its metadata previews see placeholders
    # only, and copies that differ only in a phone number collapse in dedup.
    pii = pii_redacted_asset(source, documents, partitions_def)
    language = language_filtered_asset(source, pii.key, partitions_def)
    heuristics = heuristic_filtered_asset(source, language.key, partitions_def)
    return [pii, language, heuristics, *dedup_assets(source, heuristics.key, partitions_def)]
