"""The instruct assets of one generation round: skipped with a clear message without endpoints,
and with a generation and a reward endpoint (a local server) every asset materialises, is
accounted for, and its collapse guards judge the round."""

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from test_instruct import DOCUMENTS, PERSONAS, respond, reward

from assets.instruct import instruct_assets
from curation.io import PartitionWriter, read_manifest, shard_paths
from resources.llm import LLMResource

from openai_server import FakeOpenAI

ROUND = "r1"
SMALL = {"ops": {"instruct__prompts": {"config": {"mix": {"open_qa": 2, "writing": 2, "closed_qa": 2, "math": 1,
                                                          "python": 1, "two_turn": 1}}},
                 "instruct__responses": {"config": {"dialogues": 2}},
                 "instruct__sft_conversations": {"config": {"minimum": {"correctness": 2.0}, "min_margin": 0.01}},
                 "instruct__preference_pairs": {"config": {"min_margin": 0.01}}}}


def seed_store(store: str) -> None:
    for stage, rows in (("web/quality_filtered", DOCUMENTS), ("personas/persona_documents", PERSONAS)):
        writer = PartitionWriter(store, stage, "P1")
        writer.write_kept(pa.Table.from_pylist(rows))
        writer.commit(rows_in=len(rows))


def read(store: str, stage: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in shard_paths(store, read_manifest(store, stage, ROUND))])


def test_without_endpoints_every_instruct_asset_is_skipped_with_the_reason(materialise):
    result = materialise(instruct_assets, ROUND)
    assert result.success
    assert result.get_asset_materialization_events() == []
    checks = result.get_asset_check_evaluations()
    assert checks and all("no LLM endpoint configured" in c.metadata["not_evaluated"].value for c in checks)


def test_a_round_materialises_sft_and_pairs_accounted_and_guarded(tmp_path, materialise):
    seed_store(materialise.store)
    with FakeOpenAI(respond, reward=reward) as server:
        resources = {"llm": LLMResource(base_url=server.base_url, model="gen-model", backoff_base_s=0.01),
                     "reward_llm": LLMResource(base_url=server.base_url, model="reward-model", backoff_base_s=0.01)}
        result = materialise(instruct_assets, ROUND, run_config=SMALL, **resources)
    assert result.success
    evaluations = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert all(e.passed for e in evaluations.values()), [k for k, e in evaluations.items() if not e.passed]
    assert {("prompts", "prompt_near_duplicates"), ("prompts", "topic_coverage"),
            ("responses", "distinct_ngrams")} <= set(evaluations)
    store = materialise.store
    prompts = read_manifest(store, "instruct/prompts", ROUND)
    assert prompts.rows_kept == 9 and prompts.extra["task_types_missing"] == []
    assert prompts.extra["topics_from"] == "built-in"
    prompt_rows = read(store, "instruct/prompts")
    closed = prompt_rows.filter(pc.equal(prompt_rows.column("task_type"), "closed_qa"))
    assert closed.column("context_id").to_pylist() == ["doc0", "doc1"]
    responses = read_manifest(store, "instruct/responses", ROUND)
    scored = read_manifest(store, "instruct/scored", ROUND)
    assert scored.rows_in == responses.rows_kept == scored.rows_kept + scored.rows_rejected
    sft = read_manifest(store, "instruct/sft_conversations", ROUND)
    assert sft.rows_in == scored.rows_kept and sft.rows_kept > 0
    sft_rows = read(store, "instruct/sft_conversations")
    assert {"dialogue", "two_turn", "closed_qa"} <= set(sft_rows.column("task_type").to_pylist())
    assert all(json.loads(m)[-1]["role"] == "assistant" for m in sft_rows.column("messages").to_pylist())
    pairs = read_manifest(store, "instruct/preference_pairs", ROUND)
    assert pairs.rows_kept > 0 and pairs.rows_kept + pairs.rows_rejected == pairs.extra["prompts"]
    card = (tmp_path / "store" / "instruct" / "sft_conversations" / ROUND / "README.md").read_text()
    assert "acceptance" in card and "| dialogue |" in card


def test_collapsed_prompts_fail_the_collapse_guards(tmp_path, materialise):
    def same(messages, params):
        content = messages[-1]["content"]
        if "파이썬" in content:  # every coding prompt comes back in English: the task type drops out
            return "Write a Python function that sorts a list."
        if "요청 문장만" in content or "고쳐 쓰세요" in content:
            return "건강을 지키려면 매일 무엇을 해야 하나요? 자세히 알려 주세요."
        return respond(messages, params)

    with FakeOpenAI(same, reward=reward) as server:
        resources = {"llm": LLMResource(base_url=server.base_url, model="gen-model", backoff_base_s=0.01),
                     "reward_llm": LLMResource(base_url=server.base_url, model="reward-model", backoff_base_s=0.01)}
        only_qa = {"ops": {"instruct__prompts": {"config": {"mix": {"open_qa": 6, "writing": 0, "closed_qa": 0,
                                                                    "math": 0, "python": 2, "two_turn": 0}}}}}
        result = materialise(instruct_assets[:1], ROUND, run_config=only_qa, **resources)
    assert result.success  # warnings, not failures: the round is there to inspect
    [near] = [e for e in result.get_asset_check_evaluations() if e.check_name == "prompt_near_duplicates"]
    assert not near.passed and near.metadata["near_duplicate_rate"].value > 0.8
    [cover] = [e for e in result.get_asset_check_evaluations() if e.check_name == "topic_coverage"]
    assert not cover.passed and cover.metadata["task_types_missing"].value == ["python"]
