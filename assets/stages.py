"""The curation chain shared by every source, built by one factory so the UI shows parallel
lineages (web, personas) through the same stage code.

Later stages (heuristics, dedup, quality, perplexity) are added to `curation_chain` in order;
each takes the previous asset's manifest and writes its own.
"""


import dagster as dg

from assets.dedup import dedup_assets
from assets.stage_runner import partition_asset, upstream_batches, write_partition
from curation.heuristics import HeuristicFilter
from curation.langid import LanguageFilter
from resources.corpus_store import CorpusStore


class LanguageFilterConfig(dg.Config):
    threshold: float = 0.5
    min_letters: int = 1


def language_filtered_asset(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @partition_asset(
        dg.AssetKey([source, "language_filtered"]), partitions_def, deps=[upstream],
        description="Korean documents only: max(fastText lid.176 P(ko), Hangul share of letters) >= threshold.",
    )
    def language_filtered(context: dg.AssetExecutionContext, config: LanguageFilterConfig,
                          corpus_store: CorpusStore) -> dg.MaterializeResult:
        stage = LanguageFilter(threshold=config.threshold, min_letters=config.min_letters)
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, upstream), stage)

    return language_filtered


def heuristic_filtered_asset(source: str, upstream: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @partition_asset(
        dg.AssetKey([source, "heuristic_filtered"]), partitions_def, deps=[upstream],
        description="Korean heuristic filters (length, digit/symbol/URL ratios, jamo runs, repetition, "
                    "menu/boilerplate lines, eojeol length); scores kept as columns, a reason per drop.",
    )
    def heuristic_filtered(context: dg.AssetExecutionContext, corpus_store: CorpusStore) -> dg.MaterializeResult:
        return write_partition(context, corpus_store, upstream_batches(context, corpus_store, upstream),
                               HeuristicFilter(), preview=("id", "url", "syllables", "mean_eojeol_length", "text"))

    return heuristic_filtered


def curation_chain(source: str, documents: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The stage assets after a source's document asset, in order."""
    language = language_filtered_asset(source, documents, partitions_def)
    heuristics = heuristic_filtered_asset(source, language.key, partitions_def)
    return [language, heuristics, *dedup_assets(source, heuristics.key, partitions_def)]
