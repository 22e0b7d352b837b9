"""Instruction, dialogue and preference data the Nemotron-4 340B way, one partition per
generation round (`generation_rounds`: r1, r2, ... as the user names them):

    instruct/prompts -> instruct/responses -> instruct/scored -> instruct/sft_conversations
                                                              -> instruct/preference_pairs

Prompts come from the topic hierarchy (a file, the LLM, or the built-in list) and six task types;
closed QA reads curated documents (web or persona quality_filtered), dialogues read personas.
Responses pass PII redaction, language ID and the heuristics; the reward endpoint (NIM) or the
instruct model as judge scores every response on the five HelpSteer2 attributes. Without an
endpoint every asset is skipped with the message the other synthetic assets give; its checks
report "not evaluated" with the reason.
"""


import json

import dagster as dg
import pyarrow as pa
from pydantic import Field

from assets.checks import skipped_results
from assets.partitions import generation_rounds
from assets.stage_runner import partition_asset, stage_key, write_split
from assets.synthetic import skip_reason
from curation.io import atomic_write_bytes, filesystem
from curation.spec import ScoreColumn, StageSpec
from curation.stage import BatchStats, with_stats
from curation.synthetic.diversity import coverage, distinct_n, near_duplicate_rate
from curation.synthetic.instruct import TASK_TYPES, TaskMix, topic_hierarchy
from curation.synthetic.reward import ATTRIBUTES, DEFAULT_WEIGHTS, AttributeThresholds, RewardScorer
from curation.synthetic.sft import (
    PAIR_SCHEMA,
    PROMPT_SCHEMA,
    RESPONSE_SCHEMA,
    RoundSettings,
    conversations,
    curate,
    dataset_card,
    pairs,
    prompts,
    responses,
    score,
    sft_conversations,
)
from curation.synthetic.tasks import outcome_tables
from resources.corpus_store import CorpusStore
from resources.llm import LLMResource

SCORES = tuple(ScoreColumn(name) for name in (*ATTRIBUTES, "weighted_score"))
PROMPTS_SPEC = StageSpec(name="prompts", kind="source", preview=("id", "task_type", "macro_topic", "subtopic", "text"),
                         description="Generated Korean prompts of six task types (open QA and writing revised), each "
                                     "with its task type, topic path and template.",
                         required_columns=tuple(PROMPT_SCHEMA.names),
                         checks=frozenset({"prompt_near_duplicates", "topic_coverage"}))
RESPONSES_SPEC = StageSpec(name="responses", kind="source", preview=("id", "task_type", "messages"),
                           description="Responses (N per prompt), two-turn prompts and persona dialogues as chat "
                                       "messages, after PII redaction, language ID and the heuristics.",
                           required_columns=tuple(RESPONSE_SCHEMA.names), checks=frozenset({"distinct_ngrams"}))
SCORED_SPEC = StageSpec(name="scored", kind="source", preview=("id", "task_type", *ATTRIBUTES, "weighted_score"),
                        description="Every response scored on the five HelpSteer2 attributes (NIM reward model, or "
                                    "an instruct model as judge).", scores=SCORES,
                        required_columns=(*RESPONSE_SCHEMA.names, *ATTRIBUTES))
SFT_SPEC = StageSpec(name="sft_conversations", kind="source",
                     preview=("id", "task_type", "weighted_score", "messages"),
                     description="SFT conversations: the best response per prompt within the attribute thresholds, "
                                 "in chat format with task type, topics, scores and model.", scores=SCORES,
                     required_columns=("id", "messages", "task_type", *ATTRIBUTES))
PAIRS_SPEC = StageSpec(name="preference_pairs", kind="source", preview=("id", "task_type", "margin", "chosen"),
                       description="Preference pairs: the best and worst response of a prompt by weighted score, "
                                   "when the margin is large enough.", required_columns=tuple(PAIR_SCHEMA.names))
KEYS = {spec.name: dg.AssetKey(["instruct", spec.name])
        for spec in (PROMPTS_SPEC, RESPONSES_SPEC, SCORED_SPEC, SFT_SPEC, PAIRS_SPEC)}


def _skip(context: dg.AssetExecutionContext, spec: StageSpec, llm: LLMResource):
    """Check results marking a skip when the endpoint is missing (the synthetic assets' message),
    else None."""
    reason = skip_reason(context, llm)
    return skipped_results(context.asset_key, spec, reason) if reason else None


def _latest_rows(store: CorpusStore, stage: str, partition: str, limit: int, columns: list[str]) -> list[dict]:
    """Up to `limit` kept rows of `stage` (its `partition`, or the latest committed one)."""
    if not stage or limit <= 0:
        return []
    names = [partition] if partition else sorted(store.partitions(stage), reverse=True)
    for name in names:
        try:
            manifest = store.manifest(stage, name)
        except FileNotFoundError:
            continue
        rows = []
        for batch in store.iter_batches(manifest, columns=columns):
            rows += batch.to_pylist()
            if len(rows) >= limit:
                break
        return rows[:limit]
    return []


class PromptsConfig(dg.Config):
    topics_file: str = Field(default="", description="JSON {macro topic: [subtopic, ...]}; empty: none")
    generate_topics: bool = Field(default=False, description="let the model write (more of) the hierarchy")
    macro_topics: int = 8
    subtopics: int = 4
    mix: dict[str, int] = Field(default_factory=lambda: TaskMix().counts(),
                                description=f"prompts per task type ({', '.join(TASK_TYPES)})")
    revise: bool = True
    seed: int = 0
    documents_stage: str = Field(default="web/quality_filtered", description="curated documents for closed QA")
    documents_partition: str = Field(default="", description="empty: the latest materialised partition")


@partition_asset(KEYS["prompts"], generation_rounds, PROMPTS_SPEC, output_required=False, checks_when_skipped=True)
def instruct_prompts(context: dg.AssetExecutionContext, config: PromptsConfig, corpus_store: CorpusStore,
                     llm: LLMResource):
    if (skipped := _skip(context, PROMPTS_SPEC, llm)) is not None:
        yield from skipped
        return
    mix = TaskMix(**{**TaskMix().counts(), **config.mix})
    settings = RoundSettings(mix=mix, revise=config.revise, seed=config.seed)
    documents = _latest_rows(corpus_store, config.documents_stage, config.documents_partition, mix.closed_qa,
                             ["id", "text"])
    with llm.client() as client:
        topics, origin = topic_hierarchy(client, config.topics_file, config.generate_topics, config.macro_topics,
                                         config.subtopics)
        kept, rejected = prompts(client, topics, context.partition_key, settings, documents)
        usage = client.usage.as_dict()
    rows = kept.to_pylist()
    wanted = [t for t, n in mix.counts().items() if n and (t != "closed_qa" or documents)]
    extra = {"topics_from": origin, "topics": topics, "task_mix": mix.counts(), "llm_usage": usage,
             "near_duplicate_rate": round(near_duplicate_rate(kept.column("id").to_pylist(),
                                                              kept.column("text").to_pylist()), 4),
             **coverage(topics, [(r["macro_topic"], r["subtopic"]) for r in rows if r["task_type"] != "closed_qa"],
                        wanted, [r["task_type"] for r in rows])}
    yield write_split(context, PROMPTS_SPEC, corpus_store, with_stats([(kept, rejected)]),
                      lambda: kept.num_rows + rejected.num_rows, extra=lambda: extra)


class ResponsesConfig(dg.Config):
    responses: int = Field(default=2, description="per prompt (>= 2 for preference pairs)")
    temperature: float = 0.7
    dialogues: int = Field(default=4, description="persona dialogues")
    dialogue_turns: int = Field(default=2, description="user turns per dialogue")
    personas_stage: str = "personas/persona_documents"
    personas_partition: str = ""


@partition_asset(KEYS["responses"], generation_rounds, RESPONSES_SPEC, deps=[KEYS["prompts"]], output_required=False,
                 checks_when_skipped=True)
def instruct_responses(context: dg.AssetExecutionContext, config: ResponsesConfig, corpus_store: CorpusStore,
                       llm: LLMResource):
    if (skipped := _skip(context, RESPONSES_SPEC, llm)) is not None:
        yield from skipped
        return
    settings = RoundSettings(responses=config.responses, temperature=config.temperature, dialogues=config.dialogues,
                             dialogue_turns=config.dialogue_turns)
    manifest = corpus_store.manifest(stage_key(KEYS["prompts"]), context.partition_key)
    prompt_rows = [row for batch in corpus_store.iter_batches(manifest) for row in batch.to_pylist()]
    personas = _latest_rows(corpus_store, config.personas_stage, config.personas_partition, config.dialogues,
                            ["id", "text"])
    with llm.client() as client:
        ready, failed = conversations(client, prompt_rows, personas, settings, context.partition_key)
        generated, generation_rejects = responses(client, ready, settings)
        usage = client.usage.as_dict()
    curated, curation_rejects, _ = curate(generated)
    _, turn_rejects = outcome_tables(failed, RESPONSE_SCHEMA, "instruct_turns")
    rejected = pa.concat_tables([turn_rejects, generation_rejects, curation_rejects])
    # the responses' own words: the last assistant turn, not the prompt or context they share
    answers = [json.loads(m)[-1]["content"] for m in curated.column("messages").to_pylist()]
    extra = {"llm_usage": usage, "conversations": len(ready), "distinct_2": round(distinct_n(answers, 2), 4),
             "distinct_3": round(distinct_n(answers, 3), 4)}
    stats = BatchStats.of(curated.num_rows + rejected.num_rows, curated, rejected)
    yield write_split(context, RESPONSES_SPEC, corpus_store, [(curated, rejected, stats)],
                      lambda: stats.rows_in, extra=lambda: extra)


class ScoreConfig(dg.Config):
    backend: str = Field(default="nim", description="nim: the reward endpoint (reward_llm); judge: the instruct "
                                                    "model (llm) as judge")
    structured_output: bool = Field(default=True, description="judge: send a JSON-schema response_format")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


@partition_asset(KEYS["scored"], generation_rounds, SCORED_SPEC, deps=[KEYS["responses"]], output_required=False,
                 checks_when_skipped=True)
def instruct_scored(context: dg.AssetExecutionContext, config: ScoreConfig, corpus_store: CorpusStore,
                    llm: LLMResource, reward_llm: LLMResource):
    scorer_resource = llm if config.backend == "judge" else reward_llm
    if (skipped := _skip(context, SCORED_SPEC, scorer_resource)) is not None:
        yield from skipped
        return
    manifest = corpus_store.manifest(stage_key(KEYS["responses"]), context.partition_key)
    table = pa.concat_tables(list(corpus_store.iter_batches(manifest))) if manifest.rows_kept else \
        RESPONSE_SCHEMA.empty_table()
    with scorer_resource.client() as client:
        scored, rejected = score(RewardScorer(client, config.backend, structured_output=config.structured_output),
                                 table, config.weights)
        usage = client.usage.as_dict()
    yield write_split(context, SCORED_SPEC, corpus_store, with_stats([(scored, rejected)]), lambda: table.num_rows,
                      upstream=KEYS["responses"], extra=lambda: {"backend": config.backend, "reward_usage": usage,
                                                                 "weights": config.weights})


class SelectConfig(dg.Config):
    minimum: dict[str, float] = Field(default_factory=lambda: {"correctness": 2.0, "coherence": 2.0},
                                      description="minimum per attribute (or 'weighted')")
    maximum: dict[str, float] = Field(default_factory=dict, description="maximum per attribute")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_margin: float = Field(default=0.5, description="preference pairs: best - worst weighted score")


def _scored(store: CorpusStore, partition: str) -> pa.Table:
    manifest = store.manifest(stage_key(KEYS["scored"]), partition)
    batches = list(store.iter_batches(manifest))
    return pa.concat_tables(batches) if batches else pa.schema(
        [*RESPONSE_SCHEMA, *(pa.field(n, pa.float64()) for n in (*ATTRIBUTES, "weighted_score")),
         pa.field("reward_model", pa.string())]).empty_table()


@partition_asset(KEYS["sft_conversations"], generation_rounds, SFT_SPEC, deps=[KEYS["scored"]])
def instruct_sft(context: dg.AssetExecutionContext, config: SelectConfig, corpus_store: CorpusStore):
    scored = _scored(corpus_store, context.partition_key)
    thresholds = AttributeThresholds(config.minimum, config.maximum, config.weights)
    kept, rejected = sft_conversations(scored, thresholds)
    pair_table, _ = pairs(scored, config.min_margin)
    models = {"reward": (scored.column("reward_model")[0].as_py() if scored.num_rows else "")}
    card = dataset_card(context.partition_key, kept, pair_table, scored.num_rows,
                        len(set(scored.column("prompt_id").to_pylist())), models, thresholds, config.min_margin)
    result = write_split(context, SFT_SPEC, corpus_store, with_stats([(kept, rejected)]), lambda: scored.num_rows,
                         upstream=KEYS["scored"],
                         extra=lambda: {"acceptance_rate": round(kept.num_rows / scored.num_rows, 4)
                                        if scored.num_rows else 0.0, "minimum": config.minimum,
                                        "maximum": config.maximum},
                         run_metadata=lambda: {"dataset_card": dg.MetadataValue.md(card)})
    # The card beside the shards, where `datasets.load_dataset("parquet", ...)` users look for it
    fs, folder = filesystem(corpus_store.partition_url(stage_key(KEYS["sft_conversations"]), context.partition_key),
                            corpus_store.storage_options or None)
    atomic_write_bytes(fs, f"{folder}/README.md", card.encode("utf-8"))
    return result


@partition_asset(KEYS["preference_pairs"], generation_rounds, PAIRS_SPEC, deps=[KEYS["scored"]])
def instruct_pairs(context: dg.AssetExecutionContext, config: SelectConfig, corpus_store: CorpusStore):
    scored = _scored(corpus_store, context.partition_key)
    found, dropped = pairs(scored, config.min_margin)
    prompts_seen = len(set(scored.column("prompt_id").to_pylist()))
    return write_split(context, PAIRS_SPEC, corpus_store, with_stats([(found, dropped)]), lambda: prompts_seen,
                       extra=lambda: {"min_margin": config.min_margin, "prompts": prompts_seen})


instruct_assets = [instruct_prompts, instruct_responses, instruct_scored, instruct_sft, instruct_pairs]
