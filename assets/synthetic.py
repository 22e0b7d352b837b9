"""Synthetic data assets: Nemotron-CC rephrasing of web documents by quality bucket, and
persona-grounded QA whose output re-enters the curation chain as its own source.

Without a reachable LLM endpoint these assets are skipped (not failed): the run log says why
and how to configure one, downstream synthetic assets are skipped with them, and the rest of
the graph completes.
"""

import json
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from assets.partitions import persona_releases, web_snapshots
from assets.stage_runner import partition_asset, stage_key, write_split
from curation.spec import StageSpec
from curation.stage import with_stats
from curation.synthetic.persona_qa import QA_SCHEMA, answer_tasks, as_qa_documents, check_question, question_tasks
from curation.synthetic.rephrase import REPHRASED_SCHEMA, rephrase_tasks
from curation.synthetic.styles import DEFAULT_ROUTING
from curation.synthetic.tasks import Outcome, outcome_tables, run_tasks
from resources.corpus_store import CorpusStore
from resources.llm import LLMResource

WEB_QUALITY = dg.AssetKey(["web", "quality_filtered"])
PERSONA_QUALITY = dg.AssetKey(["personas", "quality_filtered"])


def skip_reason(context: dg.AssetExecutionContext, llm: LLMResource) -> str | None:
    """Why this asset is skipped (logged with how to set the endpoint up), or None when `llm` answers."""
    reason = llm.unavailable_reason()
    if reason:
        context.log.warning(f"{stage_key(context.asset_key)} [{context.partition_key}] skipped: {reason}")
    return reason


def _usage(client, **extra) -> dict:
    return {"llm_model": client.config.model, "llm_usage": client.usage.as_dict(), **extra}


class RephraseConfig(dg.Config):
    max_chunk_chars: int = 3000  # ~2-3k tokens of Korean on common tokenizers; keep under the context
    routing: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_ROUTING.items()})
    include_quality_rejects: bool = True  # Nemotron-CC rephrases low-quality documents instead of dropping them
    batch_documents: int = 64


def _scored_documents(store: CorpusStore, partition: str, include_rejects: bool,
                      batch_rows: int) -> Iterator[tuple[pa.Table, list[int]]]:
    """(documents, quality buckets): the quality stage's kept documents, then its quality_low
    rejects with the bucket their details recorded."""
    manifest = store.manifest(stage_key(WEB_QUALITY), partition)
    for batch in store.iter_batches(manifest, batch_rows=batch_rows):
        yield batch, batch.column("quality_bucket").to_pylist()
    if include_rejects:
        for batch in store.iter_batches(manifest, kind="rejects", batch_rows=batch_rows):
            low = batch.filter(pc.equal(batch.column("reason"), "quality_low"))
            if low.num_rows:
                yield low, [json.loads(d)["quality_bucket"] for d in low.column("details").to_pylist()]


REPHRASED_SPEC = StageSpec(
    name="rephrased", kind="source", preview=("id", "style", "quality_bucket", "text"),
    description="Nemotron-CC rephrasing in Korean through the LLM endpoint: Wikipedia style for low buckets, diverse "
                "QA / distill / extract knowledge / knowledge list for high ones; one row per (document, style, "
                "chunk), validated, failures as rejects.")
PERSONA_QA_SPEC = StageSpec(
    name="persona_qa", kind="source", preview=("id", "macro_topic", "subtopic", "text"),
    description="Persona-grounded questions and answers: macro-topic -> subtopic -> a question the persona would "
                "ask -> an answer; re-enters language ID, dedup and quality as the 'synthetic' source.")


REPHRASED = dg.AssetKey(["web", REPHRASED_SPEC.name])
PERSONA_QA = dg.AssetKey(["synthetic", PERSONA_QA_SPEC.name])


@partition_asset(REPHRASED, web_snapshots, REPHRASED_SPEC, deps=[WEB_QUALITY], output_required=False)
def rephrased(context: dg.AssetExecutionContext, config: RephraseConfig, corpus_store: CorpusStore,
              llm: LLMResource):
    if skip_reason(context, llm):
        return
    counted = {"tasks": 0, "documents": 0}
    with llm.client() as client:
        def split():
            for documents, buckets in _scored_documents(corpus_store, context.partition_key,
                                                        config.include_quality_rejects, config.batch_documents):
                tasks = rephrase_tasks(documents, buckets, config.max_chunk_chars, config.routing)
                counted["tasks"] += len(tasks)
                counted["documents"] += documents.num_rows
                yield outcome_tables(run_tasks(client, tasks), REPHRASED_SCHEMA, REPHRASED_SPEC.name)

        yield write_split(context, REPHRASED_SPEC, corpus_store, with_stats(split()), lambda: counted["tasks"],
                          extra=lambda: _usage(client, source_documents=counted["documents"]))


class PersonaQAConfig(dg.Config):
    topics_per_persona: int = 2
    max_personas: int = 0  # 0: every persona of the release
    seed: int = 0


def _personas(store: CorpusStore, partition: str, limit: int) -> Iterator[pa.Table]:
    """The short `persona` description of each persona that passed the persona chain."""
    manifest = store.manifest(stage_key(PERSONA_QUALITY), partition)
    taken = 0
    columns = ["uuid", "text", "persona_field", "sex", "age", "province", "occupation"]
    for batch in store.iter_batches(manifest, columns=columns):
        batch = batch.filter(pc.equal(batch.column("persona_field"), "persona"))
        if limit:
            batch = batch.slice(0, max(0, limit - taken))
        taken += batch.num_rows
        if batch.num_rows:
            yield batch


@partition_asset(PERSONA_QA, persona_releases, PERSONA_QA_SPEC, deps=[PERSONA_QUALITY], output_required=False)
def persona_qa(context: dg.AssetExecutionContext, config: PersonaQAConfig, corpus_store: CorpusStore,
               llm: LLMResource):
    if skip_reason(context, llm):
        return
    counted = {"tasks": 0}
    with llm.client() as client:
        def split():
            for personas in _personas(corpus_store, context.partition_key, config.max_personas):
                asked = run_tasks(client, question_tasks(personas, context.partition_key, config.topics_per_persona,
                                                         config.seed), check=check_question)
                counted["tasks"] += len(asked)
                failed: list[Outcome] = [o for o in asked if o.reason is not None]
                answered = as_qa_documents(run_tasks(client, answer_tasks(
                    (o.task, o.text) for o in asked if o.reason is None)))
                for o in failed:
                    o.reason = f"question_{o.reason}"
                yield outcome_tables(failed + answered, QA_SCHEMA, PERSONA_QA_SPEC.name)

        yield write_split(context, PERSONA_QA_SPEC, corpus_store, with_stats(split()), lambda: counted["tasks"],
                          extra=lambda: _usage(client))
