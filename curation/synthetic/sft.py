"""One generation round, as tables: prompts -> responses (and dialogues) -> curated -> scored ->
SFT conversations and preference pairs. Each step is a function of tables (and a client), so the
assets (assets/instruct.py) and the CLI run the same code; every dropped item is a reject row
with the step and the reason.

Conversations travel as `messages`: the JSON of a chat-format list [{"role", "content"}, ...].
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from curation.documents import details_json, rejects_table
from curation.heuristics import HeuristicFilter
from curation.langid import LanguageFilter
from curation.llm import LLMClient
from curation.pii import redact
from curation.stage import BatchStats
from curation.synthetic.instruct import (
    TaskMix,
    check_response,
    check_user_turn,
    generate_prompts,
    prompt_tasks,
    response_tasks,
    user_turn_tasks,
)
from curation.synthetic.reward import (
    ATTRIBUTES,
    DEFAULT_WEIGHTS,
    AttributeThresholds,
    RewardScorer,
    preference_pairs,
    weighted_score,
)
from curation.synthetic.tasks import Outcome, outcome_tables, run_tasks

PROMPT_STAGE, RESPONSE_STAGE, CURATED_STAGE = "instruct_prompts", "instruct_responses", "instruct_curated"
SCORED_STAGE, SFT_STAGE, PAIR_STAGE = "instruct_scored", "sft_conversations", "preference_pairs"
_META = [pa.field("source", pa.string()), pa.field("snapshot", pa.string()), pa.field("model", pa.string()),
         pa.field("prompt_tokens", pa.int64()), pa.field("completion_tokens", pa.int64())]
PROMPT_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("task_type", pa.string()),
    pa.field("macro_topic", pa.string()), pa.field("subtopic", pa.string()), pa.field("template", pa.int64()),
    pa.field("revised", pa.bool_()), pa.field("original", pa.string()), pa.field("context_id", pa.string()),
    pa.field("context", pa.string()), *_META])
RESPONSE_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("prompt_id", pa.string()), pa.field("response_index", pa.int64()),
    pa.field("task_type", pa.string()), pa.field("macro_topic", pa.string()), pa.field("subtopic", pa.string()),
    pa.field("persona", pa.string()), pa.field("messages", pa.string()), pa.field("text", pa.string()), *_META])
SCORE_FIELDS = [pa.field(name, pa.float64()) for name in ATTRIBUTES] + [pa.field("weighted_score", pa.float64()),
                                                                        pa.field("reward_model", pa.string())]
PAIR_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("prompt", pa.string()), pa.field("chosen", pa.string()),
    pa.field("rejected", pa.string()), pa.field("chosen_scores", pa.string()),
    pa.field("rejected_scores", pa.string()),
    pa.field("margin", pa.float64()), pa.field("task_type", pa.string()), pa.field("macro_topic", pa.string()),
    pa.field("subtopic", pa.string()), pa.field("source", pa.string()), pa.field("snapshot", pa.string())])


@dataclass(frozen=True)
class RoundSettings:
    mix: TaskMix = field(default_factory=TaskMix)
    revise: bool = True
    responses: int = 2  # per prompt: >= 2 for preference pairs
    temperature: float = 0.7
    dialogues: int = 4  # persona dialogues
    dialogue_turns: int = 2  # user turns of each
    seed: int = 0


def _tag(table: pa.Table, round_name: str) -> pa.Table:
    for name, value in (("source", "synthetic"), ("snapshot", round_name)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array([value] * table.num_rows,
                                                                                    pa.string()))
    return table


def prompts(client: LLMClient, topics: Mapping[str, Sequence[str]], round_name: str, settings: RoundSettings,
            documents: Sequence[Mapping[str, str]] = ()) -> tuple[pa.Table, pa.Table]:
    """(prompts, rejects) of a round."""
    outcomes = generate_prompts(client, prompt_tasks(topics, settings.mix, round_name, documents, settings.seed),
                                revise=settings.revise)
    for outcome in outcomes:
        outcome.task.row.setdefault("revised", False)
        outcome.task.row.setdefault("original", None)
    kept, rejected = outcome_tables(outcomes, PROMPT_SCHEMA, PROMPT_STAGE)
    return _tag(kept, round_name), rejected


def _first_user_turn(row: Mapping) -> str:
    if row["task_type"] == "closed_qa":
        return f"다음 글을 읽고 질문에 답하세요.\n\n글:\n{row['context']}\n\n질문: {row['text']}"
    return row["text"]


Conversation = tuple[str, list[dict], dict]  # id, messages so far, the row carried along


def conversations(client: LLMClient, prompt_rows: Sequence[Mapping], personas: Sequence[Mapping[str, str]],
                  settings: RoundSettings, round_name: str) -> tuple[list[Conversation], list[Outcome]]:
    """The conversations to answer: one per prompt (a two-turn prompt first gets an answer and a
    follow-up question written by the LLM as the user), and persona dialogues of
    `dialogue_turns` user turns, the persona playing the user. Also the failed steps."""
    failed: list[Outcome] = []
    base = {"persona": None, "source": "synthetic", "snapshot": round_name}
    plain = [(row["id"], [{"role": "user", "content": _first_user_turn(row)}],
              {**base, **{k: row[k] for k in ("task_type", "macro_topic", "subtopic")}}) for row in prompt_rows]
    growing = [c for c in plain if c[2]["task_type"] == "two_turn"]
    ready = [c for c in plain if c[2]["task_type"] != "two_turn"]
    for number, persona in enumerate(personas[:settings.dialogues]):
        growing.append((f"{round_name}-dialogue-{number}-{persona['id']}", [], {
            **base, "task_type": "dialogue", "macro_topic": "대화", "subtopic": "", "persona": persona["text"],
            "turns": settings.dialogue_turns}))
    while growing:
        # users speak (a dialogue's first turn too), then the assistant answers, until each has its turns
        needs_user = [c for c in growing if c[1] == [] or c[1][-1]["role"] == "assistant"]
        for outcome in run_tasks(client, user_turn_tasks(needs_user), check=check_user_turn):
            conversation = next(c for c in needs_user if c[0] == outcome.task.id)
            if outcome.reason is not None:
                failed.append(outcome)
                growing.remove(conversation)
            else:
                conversation[1].append({"role": "user", "content": outcome.text})
        done = [c for c in growing if sum(m["role"] == "user" for m in c[1]) >= c[2].get("turns", 2)]
        ready += done
        growing = [c for c in growing if c not in done]
        if not growing:
            break
        for outcome in run_tasks(client, response_tasks(growing, 1, settings.temperature), check=check_response):
            conversation = next(c for c in growing if f"{c[0]}-r0" == outcome.task.id)
            if outcome.reason is not None:
                failed.append(outcome)
                growing.remove(conversation)
            else:
                conversation[1].append({"role": "assistant", "content": outcome.text})
    return ready, failed


def responses(client: LLMClient, ready: Sequence[Conversation], settings: RoundSettings
              ) -> tuple[pa.Table, pa.Table]:
    """(responses, rejects): `settings.responses` answers to the last user turn of each conversation."""
    outcomes = run_tasks(client, response_tasks(ready, settings.responses, settings.temperature),
                         check=check_response)
    by_id = {c[0]: c for c in ready}
    for outcome in outcomes:
        messages = by_id[outcome.task.row["prompt_id"]][1]
        full = [*messages, {"role": "assistant", "content": outcome.text or ""}]
        outcome.task.row["messages"] = json.dumps(full, ensure_ascii=False)
    kept, rejected = outcome_tables(outcomes, RESPONSE_SCHEMA, RESPONSE_STAGE)
    # `text`: the whole conversation, what curation and dedup read
    texts = ["\n".join(m["content"] for m in json.loads(row)) for row in kept.column("messages").to_pylist()]
    return kept.set_column(kept.schema.get_field_index("text"), "text", pa.array(texts, pa.string())), rejected


def curate(table: pa.Table) -> tuple[pa.Table, pa.Table, BatchStats]:
    """Generated conversations through the curation chain: PII redacted in every message, then
    language ID on the conversation's text and the heuristics on what the assistant wrote (the
    prompts' own layout, such as a closed-QA context block, is not web boilerplate)."""
    redacted_messages, texts, answers = [], [], []
    for value in table.column("messages").to_pylist():
        messages = [{**m, "content": redact(m["content"])[0]} for m in json.loads(value)]
        redacted_messages.append(json.dumps(messages, ensure_ascii=False))
        texts.append("\n".join(m["content"] for m in messages))
        answers.append("\n".join(m["content"] for m in messages if m["role"] == "assistant"))
    table = table.set_column(table.schema.get_field_index("messages"), "messages", pa.array(redacted_messages))
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
    kept, rejected_language, _ = LanguageFilter().process(table.append_column("answer", pa.array(answers)))
    full_text = kept.column("text")
    answers_only = kept.set_column(kept.schema.get_field_index("text"), "text", kept.column("answer"))
    kept_answers, rejected_heuristics, _ = HeuristicFilter().process(answers_only)
    # the rejects and the kept rows carry the whole conversation again
    by_id = dict(zip(kept.column("id").to_pylist(), full_text.to_pylist()))
    rejected_heuristics = rejected_heuristics.set_column(
        rejected_heuristics.schema.get_field_index("text"), "text",
        pa.array([by_id[i] for i in rejected_heuristics.column("id").to_pylist()], pa.string()))
    kept = kept_answers.set_column(kept_answers.schema.get_field_index("text"), "text",
                                   pa.array([by_id[i] for i in kept_answers.column("id").to_pylist()], pa.string()))
    rejected = pa.concat_tables([rejected_language, rejected_heuristics])
    kept = kept.select(RESPONSE_SCHEMA.names)
    return kept, rejected, BatchStats.of(table.num_rows, kept, rejected)


def score(scorer: RewardScorer, table: pa.Table, weights: Mapping[str, float] | None = None
          ) -> tuple[pa.Table, pa.Table]:
    """(scored, rejects): the five attribute columns, the weighted score and the reward model."""
    weights = weights or DEFAULT_WEIGHTS
    results = scorer.score([json.loads(m) for m in table.column("messages").to_pylist()])
    good = [i for i, r in enumerate(results) if r.scores is not None]
    bad = [i for i, r in enumerate(results) if r.scores is None]
    kept = table.take(pa.array(good, pa.int64()))
    for name in ATTRIBUTES:
        kept = kept.append_column(name, pa.array([results[i].scores[name] for i in good], pa.float64()))
    kept = kept.append_column("weighted_score", pa.array([round(weighted_score(results[i].scores, weights), 6)
                                                          for i in good], pa.float64()))
    kept = kept.append_column("reward_model", pa.array([results[i].model for i in good], pa.string()))
    rejected = rejects_table(table.take(pa.array(bad, pa.int64())), SCORED_STAGE, [results[i].reason for i in bad],
                             [details_json(results[i].details) for i in bad])
    return kept, rejected


def _scores_json(row: Mapping) -> str:
    return json.dumps({name: row[name] for name in (*ATTRIBUTES, "weighted_score")})


def sft_conversations(scored: pa.Table, thresholds: AttributeThresholds) -> tuple[pa.Table, pa.Table]:
    """The best response of each prompt among those within the thresholds (the others are
    rejects: below_threshold / above_threshold with the attribute, or not_best)."""
    rows = scored.to_pylist()
    passing, rejected, reasons, details = {}, [], [], []
    for row in rows:
        reason, detail = thresholds.reason(row)
        scores = {name: row[name] for name in (*ATTRIBUTES, "weighted_score")}  # for kept-vs-rejected histograms
        if reason is not None:
            rejected.append(row)
            reasons.append(reason)
            details.append(details_json({**detail, **scores}))
            continue
        best = passing.get(row["prompt_id"])
        if best is None or (row["weighted_score"], -row["response_index"]) > (best["weighted_score"],
                                                                              -best["response_index"]):
            if best is not None:
                rejected.append(best)
                reasons.append("not_best")
                details.append(details_json({"chosen": row["id"], **{name: best[name] for name in scores}}))
            passing[row["prompt_id"]] = row
        else:
            rejected.append(row)
            reasons.append("not_best")
            details.append(details_json({"chosen": best["id"], **scores}))
    kept = pa.Table.from_pylist(list(passing.values()), schema=scored.schema) if passing else scored.slice(0, 0)
    rejects = rejects_table(pa.Table.from_pylist(rejected, schema=scored.schema) if rejected else scored.slice(0, 0),
                            SFT_STAGE, reasons, details)
    return kept, rejects


def pairs(scored: pa.Table, min_margin: float) -> tuple[pa.Table, pa.Table]:
    """Preference pairs: per prompt, chosen = the best weighted score, rejected = the worst,
    when the margin reaches `min_margin`; prompts without a pair are rejects (single_response,
    small_margin)."""
    rows = {row["id"]: row for row in scored.to_pylist()}
    found, dropped = preference_pairs([(r["prompt_id"], r["id"], r["weighted_score"]) for r in rows.values()],
                                      min_margin)
    out = []
    for pair in found:
        chosen, worse = rows[pair.chosen], rows[pair.rejected]
        prompt = json.loads(chosen["messages"])[:-1]
        out.append({"id": pair.prompt_id, "prompt": json.dumps(prompt, ensure_ascii=False),
                    "chosen": json.loads(chosen["messages"])[-1]["content"],
                    "rejected": json.loads(worse["messages"])[-1]["content"],
                    "chosen_scores": _scores_json(chosen), "rejected_scores": _scores_json(worse),
                    "margin": round(pair.margin, 6), "task_type": chosen["task_type"],
                    "macro_topic": chosen["macro_topic"], "subtopic": chosen["subtopic"],
                    "source": chosen["source"], "snapshot": chosen["snapshot"]})
    first = {}
    for row in rows.values():
        first.setdefault(row["prompt_id"], row)
    dropped_rows = [{**first[p], "id": p} for p, _, _ in dropped]
    rejects = rejects_table(pa.Table.from_pylist(dropped_rows, schema=scored.schema) if dropped_rows
                            else scored.slice(0, 0), PAIR_STAGE, [r for _, r, _ in dropped],
                            [details_json(d) for _, _, d in dropped])
    return pa.Table.from_pylist(out, schema=PAIR_SCHEMA), rejects


def messages_problem(value: str) -> str | None:
    """Why a `messages` value is not a chat conversation ending with an assistant turn, if it is not."""
    try:
        messages = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return "messages is not JSON"
    if not isinstance(messages, list) or not messages:
        return "messages is not a non-empty list"
    if not all(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
               and isinstance(m.get("content"), str) for m in messages):
        return "a message lacks a role (system/user/assistant) or a text content"
    if messages[-1]["role"] != "assistant":
        return "the last message is not the assistant's"
    return None



def dataset_card(round_name: str, sft: pa.Table, pair_table: pa.Table, generated: int, prompts_kept: int,
                 models: Mapping[str, str], thresholds: AttributeThresholds, min_margin: float) -> str:
    """A Markdown dataset card: what the round holds per task type, and how much was accepted."""
    per_type: dict[str, list[int]] = {}
    for kind in sft.column("task_type").to_pylist():
        per_type.setdefault(kind, [0, 0])[0] += 1
    for kind in pair_table.column("task_type").to_pylist():
        per_type.setdefault(kind, [0, 0])[1] += 1
    rows = "\n".join(f"| {kind} | {sft_n} | {pair_n} |" for kind, (sft_n, pair_n) in sorted(per_type.items()))
    accepted = sft.num_rows / generated if generated else 0.0
    return (f"# Korean instruction data, round {round_name}\n\n"
            "Generated and judged the Nemotron-4 340B way (prompts from a topic hierarchy, responses by an instruct "
            "model, every response scored on the five HelpSteer2 attributes, only the best kept).\n\n"
            f"- Models: {', '.join(f'{role} `{name}`' for role, name in models.items())}\n"
            f"- Prompts kept: {prompts_kept}; responses generated: {generated}; SFT conversations: {sft.num_rows} "
            f"(acceptance {accepted:.1%}); preference pairs: {pair_table.num_rows} (margin >= {min_margin})\n"
            f"- Thresholds: minimum {dict(thresholds.minimum) or 'none'}, "
            f"maximum {dict(thresholds.maximum) or 'none'}; "
            f"weights {dict(thresholds.weights)}\n\n"
            "| task type | SFT conversations | preference pairs |\n|---|---|---|\n" + rows + "\n\n"
            "Files: `sft` (`messages` in chat format, task type, topics, the five scores, weighted score, model) and "
            "`preference_pairs` (`prompt` as chat messages, `chosen`, `rejected`, both scores, margin), Parquet: "
            "`datasets.load_dataset(\"parquet\", data_files=...)`.\n")
