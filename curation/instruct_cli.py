"""`reward` and `generate-sft`: reward scoring and the Nemotron-4 generation round from the
command line, through the same library code as the instruct assets.

    python -m curation reward IN OUT --base-url URL --model M [--judge] [--min ATTR=V ...] [--max ATTR=V ...]
    python -m curation generate-sft OUT_DIR --base-url URL --model M (--reward-base-url URL --reward-model M
                                    | --judge) [--round r1] [--topics FILE] [--generate-topics] ...
"""

from __future__ import annotations

import argparse
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

from curation.documents import REJECT_SCHEMA, details_json, rejects_table
from curation.io import AtomicTableWriter, default_rejects_path
from curation.llm import API_KEY_ENV, LLMClient, LLMConfig
from curation.synthetic.instruct import TASK_TYPES, TaskMix, topic_hierarchy
from curation.synthetic.reward import DEFAULT_WEIGHTS, AttributeThresholds, RewardScorer, parse_bounds
from curation.synthetic.sft import (
    RESPONSE_SCHEMA,
    RoundSettings,
    conversations,
    curate,
    dataset_card,
    messages_problem,
    pairs,
    prompts,
    responses,
    score,
    sft_conversations,
)
from curation.synthetic.tasks import outcome_tables


def _endpoint(parser: argparse.ArgumentParser, prefix: str = "", required: bool = True) -> None:
    dash = f"--{prefix}-" if prefix else "--"
    parser.add_argument(f"{dash}base-url", required=required, help="OpenAI-compatible endpoint, e.g. "
                        "http://127.0.0.1:8000/v1 (vLLM) or https://integrate.api.nvidia.com/v1 (NIM)")
    parser.add_argument(f"{dash}model", required=required, help="model name on that endpoint")


def _bounds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min", nargs="+", default=[], metavar="ATTR=V", help="minimum per attribute "
                        "(helpfulness correctness coherence complexity verbosity, or weighted)")
    parser.add_argument("--max", nargs="+", default=[], metavar="ATTR=V", help="maximum per attribute")
    parser.add_argument("--weights", nargs="+", default=[], metavar="ATTR=W",
                        help=f"weights of the weighted score (default {DEFAULT_WEIGHTS})")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--cache", default=None, help="response cache folder (a re-run asks nothing twice)")
    parser.add_argument("--no-structured-output", dest="structured_output", action="store_false",
                        help="judge: do not send response_format (servers without structured output)")


def add_commands(commands) -> None:
    reward = commands.add_parser("reward", help="score conversations on the five HelpSteer2 attributes (NIM reward "
                                                "model, or --judge with any instruct model) and filter them")
    reward.add_argument("input", metavar="IN", help="JSONL or Parquet with id and messages (chat format)")
    reward.add_argument("output", metavar="OUT", help="kept conversations with the score columns (.parquet/.jsonl)")
    reward.add_argument("--rejects", default=None, help="rejects file (default: OUT's name + .rejects)")
    reward.add_argument("--judge", action="store_true", help="LLM-as-judge (Korean HelpSteer2 rubric, JSON answer)")
    _endpoint(reward)
    _bounds(reward)
    reward.set_defaults(train=run_reward)

    generate = commands.add_parser("generate-sft", help="one Nemotron-4 generation round: prompts, responses, "
                                                        "dialogues, reward scores, SFT conversations and pairs")
    generate.add_argument("out_dir", metavar="OUT_DIR")
    _endpoint(generate)
    _endpoint(generate, "reward", required=False)
    generate.add_argument("--judge", action="store_true", help="score with the instruct model as judge")
    generate.add_argument("--round", default="r1", help="name of the generation round")
    generate.add_argument("--topics", default="", help="JSON topic file {macro: [subtopic, ...]}")
    generate.add_argument("--generate-topics", action="store_true", help="let the model write the hierarchy too")
    generate.add_argument("--mix", nargs="+", default=[], metavar="TASK=N",
                          help=f"prompts per task type ({', '.join(TASK_TYPES)}; default 4 each)")
    generate.add_argument("--documents", default="", help="JSONL/Parquet of curated documents (id, text) for "
                                                          "closed QA")
    generate.add_argument("--personas", default="", help="JSONL/Parquet of personas (id, text) for dialogues")
    generate.add_argument("--responses", type=int, default=2)
    generate.add_argument("--dialogues", type=int, default=4)
    generate.add_argument("--turns", type=int, default=2)
    generate.add_argument("--min-margin", type=float, default=0.5)
    _bounds(generate)
    generate.set_defaults(train=run_generate)


def _client(base_url: str, model: str, args: argparse.Namespace) -> LLMClient:
    return LLMClient(LLMConfig(base_url=base_url, model=model, max_concurrency=args.concurrency,
                               cache_dir=args.cache, api_key_env=API_KEY_ENV))


def _thresholds(args: argparse.Namespace) -> AttributeThresholds:
    weights = {**DEFAULT_WEIGHTS, **parse_bounds(args.weights)}
    return AttributeThresholds(parse_bounds(args.min), parse_bounds(args.max), weights)


def _read_rows(path: str) -> list[dict]:
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    rows.append({"id": f"{os.path.basename(path)}:{number}", "_error": "line is not JSON"})
    return rows


def _text_rows(path: str) -> list[dict]:
    """Rows with an id and a text (documents, personas); an input with any other row is an error
    naming it, not a silent skip."""
    if not path:
        return []
    rows = _read_rows(path)
    bad = [r.get("id") for r in rows if r.get("_error") or r.get("id") is None or not isinstance(r.get("text"), str)]
    if bad:
        raise ValueError(f"{path}: {len(bad)} row(s) without an id and a text, e.g. {bad[:3]}")
    return [{**r, "id": str(r["id"])} for r in rows]


def _write(path: str, table: pa.Table, empty_schema: pa.Schema | None = None) -> None:
    writer = AtomicTableWriter(path)
    try:
        if table.num_rows:
            writer.write(table)
        writer.close(empty_schema=empty_schema or table.schema)
    except BaseException:
        writer.abort()
        raise


def run_reward(args: argparse.Namespace) -> str:
    thresholds = _thresholds(args)
    rows = _read_rows(args.input)
    good, bad = [], []
    for row in rows:
        messages = row.get("messages")
        value = json.dumps(messages, ensure_ascii=False) if isinstance(messages, list) else messages
        problem = row.get("_error") or ("no id" if row.get("id") is None else messages_problem(value))
        if problem:
            bad.append((row, problem))
        else:
            good.append({**{k: v for k, v in row.items() if k != "messages"}, "id": str(row["id"]), "messages": value})
    table = pa.Table.from_pylist(good) if good else pa.table({"id": pa.array([], pa.string()),
                                                              "messages": pa.array([], pa.string())})
    with _client(args.base_url, args.model, args) as client:
        scorer = RewardScorer(client, "judge" if args.judge else "nim", structured_output=args.structured_output)
        scored, score_rejects = score(scorer, table, thresholds.weights)
    keep, reasons, details = [], [], []
    for position, row in enumerate(scored.to_pylist()):
        reason, detail = thresholds.reason(row)
        if reason is None:
            keep.append(position)
        else:
            reasons.append(reason)
            details.append(details_json(detail))
    dropped = scored.take(pa.array(sorted(set(range(scored.num_rows)) - set(keep)), pa.int64()))
    input_rejects = rejects_table(pa.table({"id": pa.array([str(r.get("id")) for r, _ in bad], pa.string())}),
                                  "reward", ["bad_input"] * len(bad), [details_json({"error": p}) for _, p in bad])
    rejects = pa.concat_tables([input_rejects, score_rejects, rejects_table(dropped, "reward", reasons, details)])
    _write(args.output, scored.take(pa.array(keep, pa.int64())))
    _write(args.rejects or default_rejects_path(args.output), rejects, REJECT_SCHEMA)
    return (f"reward: {len(rows)} in, {len(keep)} kept, {rejects.num_rows} rejected "
            f"({', '.join(f'{k}={v}' for k, v in sorted(_counts(rejects).items()))})")


def _counts(rejects: pa.Table) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in rejects.column("reason").to_pylist():
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def run_generate(args: argparse.Namespace) -> str:
    if not args.judge and not (args.reward_base_url and args.reward_model):
        raise ValueError("give --reward-base-url and --reward-model (a NIM reward endpoint), or --judge")
    counts = {**TaskMix().counts(), **{k: int(v) for k, v in parse_mix(args.mix).items()}}
    settings = RoundSettings(mix=TaskMix(**counts), responses=args.responses, dialogues=args.dialogues,
                             dialogue_turns=args.turns)
    documents = _text_rows(args.documents)
    personas = _text_rows(args.personas)
    thresholds = _thresholds(args)
    with _client(args.base_url, args.model, args) as client:
        topics, origin = topic_hierarchy(client, args.topics, args.generate_topics)
        kept_prompts, prompt_rejects = prompts(client, topics, args.round, settings, documents)
        ready, failed = conversations(client, kept_prompts.to_pylist(), personas, settings, args.round)
        generated, response_rejects = responses(client, ready, settings)
        curated, curation_rejects, _ = curate(generated)
        judge = client if args.judge else _client(args.reward_base_url, args.reward_model, args)
        try:
            scored, score_rejects = score(RewardScorer(judge, "judge" if args.judge else "nim",
                                                       structured_output=args.structured_output), curated,
                                          thresholds.weights)
        finally:
            if judge is not client:
                judge.close()
    sft, sft_rejects = sft_conversations(scored, thresholds)
    pair_table, pair_rejects = pairs(scored, args.min_margin)
    os.makedirs(args.out_dir, exist_ok=True)
    _write(os.path.join(args.out_dir, "sft.parquet"), sft)
    _write(os.path.join(args.out_dir, "preference_pairs.parquet"), pair_table)
    _, turn_rejects = outcome_tables(failed, RESPONSE_SCHEMA, "instruct_turns")
    rejects = pa.concat_tables([prompt_rejects, turn_rejects, response_rejects, curation_rejects, score_rejects,
                                sft_rejects, pair_rejects])
    _write(os.path.join(args.out_dir, "rejects.parquet"), rejects, REJECT_SCHEMA)
    models = {"generator": args.model, "reward": args.model if args.judge else args.reward_model}
    with open(os.path.join(args.out_dir, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(dataset_card(args.round, sft, pair_table, generated.num_rows, kept_prompts.num_rows, models,
                                  thresholds, args.min_margin))
    return (f"generate-sft [{args.round}]: topics from {origin}; {kept_prompts.num_rows} prompts, "
            f"{generated.num_rows} responses, {sft.num_rows} SFT conversations, {pair_table.num_rows} pairs, "
            f"{rejects.num_rows} rejects")


def parse_mix(items: list[str]) -> dict[str, int]:
    mix = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in TASK_TYPES or not value.isdigit():
            raise ValueError(f"{item!r}: expected TASK=N with TASK one of {', '.join(TASK_TYPES)}")
        mix[name] = int(value)
    return mix
