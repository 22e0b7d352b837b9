"""Every stage of the curation chain, listed once (see `curation/spec.py` for what a spec holds).

The Dagster layer builds one asset per spec and source from these (`assets/stages.py`), the CLI
one subcommand per per-document spec (`curation/__main__.py`), and checks and plots read them.
Adding a stage is adding its library class and one spec here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from curation.decontaminate import Decontaminator, match_metadata
from curation.dedup.engine import EXACT_STAGE, FUZZY_STAGE, dedup_settings
from curation.extract import HtmlTextExtractor
from curation.heuristics import FILTER_CLASSES, HeuristicFilter, default_filters
from curation.langid import LanguageFilter
from curation.perplexity import PerplexityFilter, PerplexityScorer
from curation.pii import PII_TYPES, PiiRedactor, redaction_metadata
from curation.quality import QualityFilter, QualityScorer
from curation.spec import ScoreColumn, StageSpec, from_class, parameters_of
from curation.stage import DocumentStage

PERPLEXITY_MODEL = "perplexity_model"
QUALITY_MODEL = "quality_model"


def _heuristics(values: dict[str, Any], models: Mapping[str, str]) -> DocumentStage:
    own = {name: values.pop(name) for name in ("skip_column", "skip_at_or_above", "score_prefix_chars")}
    return HeuristicFilter(filters=default_filters(**values), **own)


def _perplexity(values: dict[str, Any], models: Mapping[str, str]) -> DocumentStage:
    return PerplexityFilter(PerplexityScorer(models[PERPLEXITY_MODEL]), **values)


def _quality(values: dict[str, Any], models: Mapping[str, str]) -> DocumentStage:
    return QualityFilter(QualityScorer(models[QUALITY_MODEL]), **values)


def _of(stage_class: type[DocumentStage]):
    return lambda values, models: from_class(stage_class, **values)


EXTRACTED_TEXT = StageSpec(
    name=HtmlTextExtractor.name, fed_by="warc_records", build=_of(HtmlTextExtractor),
    parameters=parameters_of(HtmlTextExtractor, help={
        "extractor": "main-text extractor: justext (Korean-tuned, default), trafilatura or resiliparse"}),
    description="Main text of each HTML response (charset detection incl. EUC-KR/CP949, jusText tuned for Korean).",
    preview=("id", "url", "charset", "charset_source", "text"), cli_aliases=("extract",),
    cli_help="WARC files (or records with a payload) to main text; adds text, charset",
    extra={"warc_inputs": True},
)

PII_REDACTED = StageSpec(
    name=PiiRedactor.name, build=_of(PiiRedactor),
    parameters=parameters_of(PiiRedactor, help={"types": f"types to redact (default all: {' '.join(PII_TYPES)})"}),
    description="Korean PII (resident/foreigner registration, phone, e-mail, card, account, business registration, "
                "passport numbers, IPs) replaced by typed placeholders such as <RRN>; counts by type, never the "
                "values.",
    preview=("id", "url", "pii_redactions", "text"), extra_metadata=redaction_metadata, cli_aliases=("pii",),
    cli_help="redact PII with typed placeholders (<RRN>, <PHONE>...); keeps every document, adds pii_redactions",
)

LANGUAGE_FILTERED = StageSpec(
    name=LanguageFilter.name, fed_by=PiiRedactor.name, build=_of(LanguageFilter),
    parameters=parameters_of(LanguageFilter, exclude=("identifier",),
                             help={"threshold": "minimum Korean score (0-1)"}),
    description="Korean documents only: max(fastText lid.176 P(ko), Hangul share of letters) >= threshold.",
    scores=(ScoreColumn("language_score", details_key="korean_score"), ScoreColumn("hangul_ratio")),
    checks=frozenset({"language_purity"}), cli_aliases=("langid",),
    cli_help="keep Korean documents; adds language, language_score",
)

HEURISTIC_FILTERED = StageSpec(
    name=HeuristicFilter.name, fed_by=LanguageFilter.name, build=_heuristics,
    parameters=parameters_of(*FILTER_CLASSES, HeuristicFilter, exclude=("filters",), help={
        "skip_column": "column of a quality bucket (e.g. quality_bucket)",
        "skip_at_or_above": "documents at or above this bucket skip the filters"}),
    description="Korean heuristic filters (length, digit/symbol/URL ratios, jamo runs, repetition, menu/boilerplate "
                "lines, eojeol length); scores kept as columns, a reason per drop.",
    preview=("id", "url", "syllables", "mean_eojeol_length", "text"),
    scores=(ScoreColumn("mean_eojeol_length"), ScoreColumn("syllables", log_scale=True), ScoreColumn("symbol_ratio")),
    cli_aliases=("heuristics",), cli_help="Korean heuristic filters; adds their scores",
)

_DEDUP_PARAMETERS = parameters_of(dedup_settings, exclude=("exact", "fuzzy"))

EXACT_DEDUPLICATED = StageSpec(
    name=EXACT_STAGE, kind="dedup", version="2", fed_by=HeuristicFilter.name, parameters=_DEDUP_PARAMETERS,
    description="Exact duplicates (same NFKC/lower-cased/space-collapsed text) removed, against this partition and "
                "every earlier one (the source's dedup index); rejects name duplicate_of.",
    rate="duplicate", extra={"exact": True},
)

FUZZY_DEDUPLICATED = StageSpec(
    name=FUZZY_STAGE, kind="dedup", version="2", fed_by=EXACT_STAGE, parameters=_DEDUP_PARAMETERS,
    description="Near duplicates removed: MinHash LSH candidates against this partition and the source's dedup "
                "index, verified at the Jaccard threshold, connected components, the earliest document (partition "
                "order, then row) kept; adds the kept documents to the index.",
    scores=(ScoreColumn("similarity"),), rate="duplicate", extra={"exact": False},
)

PERPLEXITY_FILTERED = StageSpec(
    name=PerplexityFilter.name, fed_by=FUZZY_STAGE, build=_perplexity, models=(PERPLEXITY_MODEL,),
    parameters=parameters_of(PerplexityFilter, exclude=("scorer",)),
    description="KenLM perplexity over SentencePiece pieces and head/middle/tail buckets (annotates; rejects the "
                "buckets named in run config).",
    preview=("id", "url", "perplexity", "perplexity_bucket", "text"),
    scores=(ScoreColumn("perplexity", log_scale=True),), cli_aliases=("perplexity",),
    cli_help="adds perplexity, perplexity_bucket",
)

QUALITY_FILTERED = StageSpec(
    name=QualityFilter.name, fed_by=PerplexityFilter.name, build=_quality, models=(QUALITY_MODEL,),
    parameters=parameters_of(QualityFilter, exclude=("scorer",), help={"min_bucket": "reject buckets below (0-19)"}),
    description="Nemotron-CC buckets (0-19) of two signals, fastText classifier and Moore-Lewis cross-entropy "
                "difference, ensembled by the maximum; buckets below min_bucket rejected.",
    preview=("id", "url", "quality_classifier_bucket", "moore_lewis_bucket", "quality_bucket", "text"),
    scores=(ScoreColumn("quality_bucket"), ScoreColumn("quality_score"), ScoreColumn("moore_lewis_score")),
    checks=frozenset({"language_purity"}), cli_aliases=("quality",), cli_help="adds quality_score, quality_bucket",
)

DECONTAMINATED = StageSpec(
    name=Decontaminator.name, build=_of(Decontaminator),
    parameters=parameters_of(Decontaminator, help={
        "benchmark": "benchmark files (JSONL, Parquet or hf:// datasets; Korean suites: curation.decontaminate."
                     "KOREAN_SUITES)",
        "fields": "row fields that are benchmark text (default: every string field)",
        "mode": "reject: drop the document; cut: remove the matched span and cut_margin around it"}),
    description="Documents that contain benchmark text (character n-grams of normalised text, stems shared by many "
                "items ignored) are rejected as benchmark_overlap, or have the span cut out.",
    preview=("id", "benchmark_match", "text"), extra_metadata=match_metadata, cli_aliases=("decontaminate",),
    cli_help="drop or cut documents that contain benchmark text; adds benchmark_match",
)

# The chain after a source's documents, in order, then the scoring stages that need models.
CURATION_CHAIN = (PII_REDACTED, LANGUAGE_FILTERED, HEURISTIC_FILTERED, EXACT_DEDUPLICATED, FUZZY_DEDUPLICATED)
SCORING_CHAIN = (PERPLEXITY_FILTERED, QUALITY_FILTERED)
STAGES = (EXTRACTED_TEXT, *CURATION_CHAIN, *SCORING_CHAIN)
# Stages run from the CLI (and by the release) rather than in every source's chain.
STANDALONE = (DECONTAMINATED,)
DOCUMENT_STAGES = (*(spec for spec in STAGES if spec.kind == "document"), *STANDALONE)


def spec_named(name: str) -> StageSpec:
    for spec in (*STAGES, *STANDALONE):
        if name == spec.name or name in spec.cli_aliases:
            return spec
    raise KeyError(f"no stage named {name!r}; stages: {[s.name for s in STAGES]}")
