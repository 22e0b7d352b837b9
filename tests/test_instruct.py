"""Instruction data the Nemotron-4 way, against a real local HTTP server speaking chat/completions
and the NIM reward format: prompts of every task type, responses and persona dialogues, reward
scoring by both backends, thresholds, pairs, collapse guards, cache resumption, accounting."""

import hashlib
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curation.llm import LLMClient, LLMConfig
from curation.synthetic.diversity import coverage, distinct_n, near_duplicate_rate
from curation.synthetic.instruct import TASK_TYPES, TEMPLATES, TaskMix, parse_list, prompt_tasks, topic_hierarchy
from curation.synthetic.reward import (
    ATTRIBUTES,
    DEFAULT_WEIGHTS,
    AttributeThresholds,
    RewardParseError,
    RewardScorer,
    parse_bounds,
    parse_judgement,
    preference_pairs,
    weighted_score,
)
from curation.synthetic.sft import (
    RoundSettings,
    conversations,
    curate,
    pairs,
    prompts,
    responses,
    score,
    sft_conversations,
)

from openai_server import FakeOpenAI

TOPICS = {"건강과 의료": ["운동과 재활", "정신 건강"], "경제와 금융": ["가계 예산 관리", "세금 신고"]}
DOCUMENTS = [{"id": f"doc{i}", "text": f"서울시는 올해 하반기부터 대중교통 요금 체계를 개편한다고 밝혔다. "
                                       f"문서 {i}번의 내용은 시민들의 이동 편의를 높이는 데 초점을 맞추고 있다."}
             for i in range(3)]
PERSONAS = [{"id": "p1", "text": "부산에 사는 40대 회사원으로 주말마다 등산을 한다."},
            {"id": "p2", "text": "서울에 사는 20대 대학생으로 자취를 시작했다."}]


def _variant(*parts) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


WORDS = ["먼저", "기본", "원칙을", "이해하고", "꾸준히", "실천하는", "것이", "중요합니다", "예를", "들어", "하루에",
         "조금씩", "시간을", "정해", "기록해", "보세요", "전문가와", "상담하면", "도움이", "됩니다"]


def korean_answer(seed: int, key: str) -> str:
    """Korean-looking sentences, varied per prompt and seed (two-syllable words drawn by hash,
    each sentence closed with a common ending), so that distinct-n behaves as for real answers."""
    words = []
    for i in range(40 + seed * 25):
        h = _variant(seed, key, i)
        word = chr(0xAC00 + h % 11172) + chr(0xAC00 + (h // 11172) % 11172) if i % 3 else WORDS[h % len(WORDS)]
        words.append(word + ("합니다." if i % 8 == 7 else ""))
    return " ".join(words) + "입니다."


def respond(messages, params) -> str:
    content = messages[-1]["content"]
    if "요청 문장만" in content:
        return f"{content[:12]}에 관해 초보자가 가장 먼저 알아야 할 점은 무엇인가요? ({_variant(content) % 997})"
    if "고쳐 쓰세요" in content:
        return "구체적으로, " + content.split(": ", 1)[-1] + " 예산이 한정된 경우에는 어떻게 해야 하나요?"
    if "당신은 다음 사람입니다" in content:
        return f"그렇군요. 그러면 제 상황에서는 무엇을 더 조심해야 할까요? ({_variant(content) % 991})"
    return korean_answer(int(params.get("seed") or 0), content)


def reward(messages, body):
    if body.get("model") != "reward-model":
        return None
    answer = messages[-1]["content"]
    # longer answers are more helpful here, and more verbose
    return {"helpfulness": min(4.0, len(answer) / 80), "correctness": 3.0, "coherence": 3.5, "complexity": 1.0,
            "verbosity": min(4.0, len(answer) / 100)}


def client(server, tmp_path, model="gen-model", **config) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.base_url, model=model, max_concurrency=4, backoff_base_s=0.01,
                               cache_dir=str(tmp_path / "cache"), **config))


def test_every_task_type_has_templates_and_the_mix_is_kept():
    tasks = prompt_tasks(TOPICS, TaskMix(2, 2, 2, 2, 2, 2), "r1", DOCUMENTS)
    assert {t.row["task_type"] for t in tasks} == set(TASK_TYPES) == set(TEMPLATES)
    assert all(t.row["macro_topic"] and t.row["template"] in range(len(TEMPLATES[t.row["task_type"]]))
               for t in tasks)
    closed = [t for t in tasks if t.row["task_type"] == "closed_qa"]
    assert [t.row["context_id"] for t in closed] == ["doc0", "doc1"] and DOCUMENTS[0]["text"] in closed[0].messages[0][
        "content"]
    assert prompt_tasks(TOPICS, TaskMix(2, 2, 2, 2, 2, 2), "r1", DOCUMENTS)[3].messages == tasks[3].messages
    assert not [t for t in prompt_tasks(TOPICS, TaskMix(), "r1", []) if t.row["task_type"] == "closed_qa"]
    assert parse_list("1. 건강\n2) 금융\n- 교육\n\n") == ["건강", "금융", "교육"]


def test_topics_from_a_file_the_llm_or_the_built_in_list(tmp_path):
    path = tmp_path / "topics.json"
    path.write_text(json.dumps({"요리": ["김치 담그기"]}, ensure_ascii=False))
    assert topic_hierarchy(path=str(path)) == ({"요리": ["김치 담그기"]}, "file")
    built_in, origin = topic_hierarchy()
    assert origin == "built-in" and len(built_in) >= 8

    def lists(messages, params):
        content = messages[-1]["content"]
        return "1. 여행\n2. 음식" if "주제 분야를" in content else "1. 제주도 일정\n2. 맛집 찾기"

    with FakeOpenAI(lists) as server, client(server, tmp_path) as llm:
        both, origin = topic_hierarchy(llm, str(path), generate=True, macros=2, subtopics=2)
    assert origin == "file+llm" and both == {"요리": ["김치 담그기"], "여행": ["제주도 일정", "맛집 찾기"],
                                             "음식": ["제주도 일정", "맛집 찾기"]}


SMALL_ROUND = RoundSettings(mix=TaskMix(2, 2, 2, 2, 2, 2), dialogues=2)


def run_round(server, tmp_path, settings=SMALL_ROUND):
    with client(server, tmp_path) as llm:
        kept_prompts, prompt_rejects = prompts(llm, TOPICS, "r1", settings, DOCUMENTS)
        ready, failed = conversations(llm, kept_prompts.to_pylist(), PERSONAS, settings, "r1")
        generated, response_rejects = responses(llm, ready, settings)
        usage = llm.usage.as_dict()
    return kept_prompts, prompt_rejects, ready, failed, generated, response_rejects, usage


def test_a_round_generates_prompts_responses_and_dialogues_and_resumes_from_the_cache(tmp_path):
    with FakeOpenAI(respond) as server:
        server.fail_next("429", times=2, retry_after="0")
        kept_prompts, prompt_rejects, ready, failed, generated, response_rejects, usage = run_round(server, tmp_path)
        first = len(server.chat_requests)
        again = run_round(server, tmp_path)
        assert len(server.chat_requests) == first  # resumed entirely from the cache
        assert again[4].equals(generated)
    assert kept_prompts.num_rows == 12 and prompt_rejects.num_rows == 0
    assert set(kept_prompts.column("task_type").to_pylist()) == set(TASK_TYPES)
    revised = kept_prompts.filter(pc.is_in(kept_prompts.column("task_type"), pa.array(["open_qa", "writing"])))
    assert all(revised.column("revised").to_pylist()) and all(revised.column("original").to_pylist())
    assert not failed
    by_type = {}
    for _, messages, row in ready:
        by_type.setdefault(row["task_type"], []).append(messages)
    assert all(len(m) == 3 and [x["role"] for x in m] == ["user", "assistant", "user"] for m in by_type["two_turn"])
    assert len(by_type["dialogue"]) == 2 and all(len(m) == 3 for m in by_type["dialogue"])  # user, assistant, user
    # two responses per conversation, each ending with the assistant, differing by seed
    assert generated.num_rows == 2 * len(ready) and response_rejects.num_rows == 0
    for row in generated.to_pylist():
        messages = json.loads(row["messages"])
        assert messages[-1]["role"] == "assistant" and row["text"].endswith(messages[-1]["content"])
    answers = {json.loads(r["messages"])[-1]["content"] for r in generated.to_pylist()}
    assert len(answers) > len(ready)
    assert usage["retries"] == 2


def scored_round(tmp_path, backend="nim", judge=None, faults=()):
    with FakeOpenAI(judge or respond, reward=reward if backend == "nim" else None) as server:
        _, _, _, _, generated, _, _ = run_round(server, tmp_path)
        curated, curation_rejects, stats = curate(generated)
        for kind, times in faults:
            server.fail_next(kind, times=times)
        with client(server, tmp_path, model="reward-model" if backend == "nim" else "judge-model") as llm:
            scored, rejects = score(RewardScorer(llm, backend), curated)
        requests = len(server.chat_requests)
    return generated, curated, curation_rejects, scored, rejects, requests


def test_nim_reward_scores_come_from_logprobs_and_malformed_answers_are_rejects(tmp_path):
    generated, curated, curation_rejects, scored, rejects, _ = scored_round(
        tmp_path, faults=[("malformed_logprobs", 1), ("500", 1)])
    assert curated.num_rows + curation_rejects.num_rows == generated.num_rows  # accounting through curation
    assert scored.num_rows + rejects.num_rows == curated.num_rows
    assert rejects.column("reason").to_pylist() == ["reward_malformed"]  # the 500 was retried
    assert "lacks" in rejects.column("details")[0].as_py()
    row = scored.to_pylist()[0]
    assert all(0 <= row[name] <= 4 for name in ATTRIBUTES) and row["reward_model"] == "reward-model"
    assert row["weighted_score"] == pytest.approx(weighted_score({n: row[n] for n in ATTRIBUTES}), abs=1e-6)


def judge_responder(state):
    def judge(messages, params):
        if "HelpSteer2" not in messages[-1]["content"]:
            return respond(messages, params)
        state["judged"] += 1
        assert params["response_format"]["type"] == "json_schema"
        if state["judged"] == 1:
            return "평가: 좋은 답변입니다."  # not JSON: asked again
        if state["judged"] == 2:
            return '{"helpfulness": 9, "correctness": 3, "coherence": 3, "complexity": 1, "verbosity": 1}'
        return '```json\n{"helpfulness": 3, "correctness": 3, "coherence": 4, "complexity": 1, "verbosity": 2}\n```'
    return judge


def test_a_judge_answers_json_malformed_ones_are_asked_again(tmp_path):
    state = {"judged": 0}
    generated, curated, _, scored, rejects, _ = scored_round(tmp_path, backend="judge", judge=judge_responder(state))
    assert rejects.num_rows == 0 and scored.num_rows == curated.num_rows  # both malformed ones retried, then valid
    assert state["judged"] == curated.num_rows + 2
    with pytest.raises(RewardParseError, match="not JSON"):
        parse_judgement("좋아요")
    with pytest.raises(RewardParseError, match="helpfulness"):
        parse_judgement('{"helpfulness": 4.5, "correctness": 1, "coherence": 1, "complexity": 1, "verbosity": 1}')


def test_a_judge_that_never_answers_json_gives_judge_malformed_rejects(tmp_path):
    def never(messages, params):
        return "JSON은 못 드려요" if "HelpSteer2" in messages[-1]["content"] else respond(messages, params)

    _, curated, _, scored, rejects, _ = scored_round(tmp_path, backend="judge", judge=never)
    assert scored.num_rows == 0 and rejects.num_rows == curated.num_rows
    assert set(rejects.column("reason").to_pylist()) == {"judge_malformed"}
    assert all(json.loads(d)["attempts"] == 3 for d in rejects.column("details").to_pylist())


def test_thresholds_weights_and_pairs(tmp_path):
    assert DEFAULT_WEIGHTS == {"helpfulness": 0.3, "correctness": 0.74, "coherence": 0.46, "complexity": 0.47,
                               "verbosity": -0.33}
    assert parse_bounds(["correctness=3", "weighted=2.5"]) == {"correctness": 3.0, "weighted": 2.5}
    with pytest.raises(ValueError, match="ATTRIBUTE=VALUE"):
        parse_bounds(["kindness=3"])
    _, _, _, scored, _, _ = scored_round(tmp_path)
    strict = AttributeThresholds(minimum={"helpfulness": 3.0}, maximum={"verbosity": 3.5})
    sft, sft_rejects = sft_conversations(scored, strict)
    assert sft.num_rows + sft_rejects.num_rows == scored.num_rows
    assert set(sft_rejects.column("reason").to_pylist()) <= {"below_threshold", "above_threshold", "not_best"}
    assert sft.num_rows and all(r["helpfulness"] >= 3.0 and r["verbosity"] <= 3.5 for r in sft.to_pylist())
    assert len(set(sft.column("prompt_id").to_pylist())) == sft.num_rows  # the best response per prompt
    below = [json.loads(d) for d, r in zip(sft_rejects.column("details").to_pylist(),
                                           sft_rejects.column("reason").to_pylist()) if r == "below_threshold"]
    assert below and all(d["attribute"] == "helpfulness" for d in below)
    found, dropped = pairs(scored, min_margin=0.05)
    prompts_seen = len(set(scored.column("prompt_id").to_pylist()))
    assert found.num_rows + dropped.num_rows == prompts_seen
    for row in found.to_pylist():
        assert json.loads(row["chosen_scores"])["weighted_score"] - json.loads(row["rejected_scores"])[
            "weighted_score"] == pytest.approx(row["margin"], abs=1e-6) and row["margin"] >= 0.05
        assert json.loads(row["prompt"])[-1]["role"] == "user"
    none, all_dropped = pairs(scored, min_margin=100.0)
    assert none.num_rows == 0 and "small_margin" in set(all_dropped.column("reason").to_pylist())
    assert preference_pairs([("p", "a", 1.0)], 0.1)[1] == [("p", "single_response", {"responses": 1})]


def test_collapse_guards_fail_on_collapsed_data():
    varied = [f"질문 {i}: {' '.join(WORDS[i:i + 8])} 그리고 {i * 7}번째 이야기" for i in range(12)]
    collapsed = ["운동을 시작하려면 무엇부터 해야 하나요? 알려 주세요."] * 12
    assert near_duplicate_rate([str(i) for i in range(12)], varied) == 0.0
    assert near_duplicate_rate([str(i) for i in range(12)], collapsed) == pytest.approx(11 / 12)
    assert distinct_n(collapsed, 2) < 0.1 < 0.5 < distinct_n(varied, 2)
    full = coverage(TOPICS, [(m, s) for m, subs in TOPICS.items() for s in subs], TASK_TYPES, TASK_TYPES)
    assert full["subtopic_coverage"] == 1.0 and full["task_types_missing"] == []
    narrow = coverage(TOPICS, [("건강과 의료", "정신 건강")], TASK_TYPES, ["open_qa"])
    assert narrow["subtopic_coverage"] == 0.25 and "python" in narrow["task_types_missing"]


def run_cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True)


def test_reward_cli_scores_filters_and_rejects_bad_input(tmp_path):
    good = [{"id": f"c{i}", "messages": [{"role": "user", "content": "운동은 어떻게 시작하나요?"},
                                          {"role": "assistant", "content": korean_answer(i % 2, "x")}]}
            for i in range(6)]
    bad = [{"id": "b1", "messages": [{"role": "user", "content": "질문만 있어요"}]}, {"messages": "[]"}]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in good + bad) + "\nnot json\n")
    with FakeOpenAI(respond, reward=reward) as server:
        done = run_cli("reward", str(source), str(tmp_path / "out.parquet"), "--base-url", server.base_url,
                       "--model", "reward-model", "--min", "helpfulness=3", "--max", "verbosity=3.9")
    assert done.returncode == 0, done.stderr
    kept = pq.read_table(tmp_path / "out.parquet")
    rejects = pq.read_table(tmp_path / "out.rejects.parquet")
    assert kept.num_rows + rejects.num_rows == len(good) + len(bad) + 1  # every input line accounted for
    assert set(ATTRIBUTES) <= set(kept.column_names) and kept.num_rows > 0
    reasons = rejects.column("reason").to_pylist()
    assert reasons.count("bad_input") == 3 and "below_threshold" in reasons
    assert f"{len(good) + len(bad) + 1} in, {kept.num_rows} kept" in done.stdout


def test_generate_sft_cli_writes_sft_pairs_rejects_and_a_dataset_card(tmp_path):
    personas = tmp_path / "personas.jsonl"
    personas.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in PERSONAS))
    with FakeOpenAI(respond, reward=reward) as server:
        done = run_cli("generate-sft", str(tmp_path / "out"), "--base-url", server.base_url, "--model", "gen-model",
                       "--reward-base-url", server.base_url, "--reward-model", "reward-model", "--mix", "open_qa=2",
                       "math=1", "python=1", "writing=1", "closed_qa=0", "two_turn=1", "--personas", str(personas),
                       "--dialogues", "1", "--min-margin", "0.01")
    assert done.returncode == 0, done.stderr
    sft = pq.read_table(tmp_path / "out" / "sft.parquet")
    pair_table = pq.read_table(tmp_path / "out" / "preference_pairs.parquet")
    assert sft.num_rows > 0 and pair_table.num_rows > 0
    assert json.loads(sft.column("messages")[0].as_py())[-1]["role"] == "assistant"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "acceptance" in card and "| dialogue |" in card and "reward `reward-model`" in card


def test_a_python_answer_is_korean_outside_its_code_and_a_short_user_turn_passes():
    from curation.llm import Completion
    from curation.synthetic.instruct import check_response, check_user_turn

    code = ("다음 함수는 리스트를 정렬해 돌려줍니다. 입력이 비어 있으면 빈 리스트를 돌려줍니다.\n```python\n"
            "def sort_items(items):\n    result = sorted(items)\n    return result\n```")
    done = check_response(None, Completion(code, "stop", 0, 0, False, "m"))
    assert done.reason is None and "def sort_items" in done.text
    english = "Here is the function.\n```python\ndef f(x):\n    return sorted(x)\n```"
    assert check_response(None, Completion(english, "stop", 0, 0, False, "m")).reason == "not_korean"
    assert check_user_turn(None, Completion("그럼 예시를 들어 줄래요?", "stop", 0, 0, False, "m")).reason is None
