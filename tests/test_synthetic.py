"""Synthetic data: style routing by bucket, chunking, validation, persona QA, and the assets
against a real local OpenAI-compatible server with injected faults (retries, caching,
resumability), plus the skip when no endpoint is configured."""

import json
import re
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.definitions import synthetic_persona_assets
from assets.synthetic import rephrased
from curation.documents import rejects_table
from curation.io import PartitionWriter, read_manifest, shard_paths
from curation.synthetic.chunking import chunk_text
from curation.synthetic.persona_qa import subtopics_for
from curation.synthetic.rephrase import rephrase_tasks
from curation.synthetic.styles import HIGH_QUALITY_STYLES, styles_for
from curation.synthetic.validate import check_output
from resources.corpus_store import CorpusStore
from resources.llm import LLMResource

from conftest import Materialiser
from openai_server import FakeOpenAI

SNAPSHOT, RELEASE = "CC-SYN", "sample-100"
PROSE = "서울시는 올해 하반기부터 대중교통 요금 체계를 개편한다고 밝혔다. 시민들은 변화를 대체로 환영했다. "


def test_routing_follows_nemotron_cc_buckets():
    assert [s.name for s in styles_for(3)] == ["wikipedia"]
    assert [s.name for s in styles_for(9)] == ["wikipedia"]
    assert styles_for(14) == []  # medium: used as it is
    assert [s.name for s in styles_for(19)] == HIGH_QUALITY_STYLES
    assert [s.name for s in styles_for(14, {"medium": ["distill"]})] == ["distill"]
    with pytest.raises(ValueError, match="unknown rephrasing style"):
        styles_for(3, {"low": ["poetry"]})


def test_long_documents_are_chunked_without_losing_text():
    text = (PROSE * 40 + "\n") * 3 + "가" * 2500
    chunks = chunk_text(text, 1000)
    assert max(len(c) for c in chunks) <= 1000 and len(chunks) >= 8
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    batch = pa.table({"id": ["low", "high"], "text": [text, PROSE]})
    tasks = rephrase_tasks(batch, [2, 19], max_chunk_chars=1000)
    assert len(tasks) == len(chunks) + 4 and len({t.id for t in tasks}) == len(tasks)
    assert all(t.row["style"] == "wikipedia" for t in tasks if t.row["source_id"] == "low")
    assert chunks[1] in tasks[1].messages[-1]["content"]


@pytest.mark.parametrize("text, finish, structure, reason", [
    ("다음은 질문과 답변입니다:\n질문: 요금은 언제 바뀌나요?\n답변: 올해 하반기부터 바뀝니다.\n\n"
     "질문: 시민 반응은 어떤가요?\n답변: 대체로 환영했습니다.", "stop", "qa", None),
    ("서울시는 요금 체계를 바꾼다. 질문 없이 쓴 글이라 형식이 맞지 않습니다. 그래서 거절됩니다.", "stop", "qa",
     "missing_qa_pairs"),
    ("- 서울시는 올해 하반기부터 대중교통 요금 체계를 개편한다.\n- 시민들은 변화를 대체로 환영했다.", "stop", "list",
     None),
    ("서울시는 요금 체계를 개편한다. 시민들은 변화를 환영했다. 목록이 아닌 글입니다.", "stop", "list",
     "missing_list_items"),
    ("The city will reorganise its public transport fares from the second half of this year.", "stop", None,
     "not_korean"),
    (PROSE, "length", None, "truncated"),
    ("짧다.", "stop", None, "too_short"),
    (PROSE * 60, "stop", None, "too_long"),
    ("", "stop", None, "empty_output"),
])
def test_outputs_are_validated_with_reasons(text, finish, structure, reason):
    checked = check_output(text, finish, source_chars=len(PROSE) * 2, structure=structure)
    assert checked.reason == reason
    if reason is None and structure == "qa":
        assert checked.text.startswith("질문: 요금은") and checked.details["qa_pairs"] == 2


def test_persona_subtopics_are_stable_and_vary_by_persona():
    assert subtopics_for("a", 2) == subtopics_for("a", 2)
    assert len({tuple(subtopics_for(u, 2)) for u in "abcdefgh"}) > 1


def respond(messages, params):
    """A scripted model: the output each prompt asks for, in Korean; English for one marked
    document (to be rejected as not_korean)."""
    prompt = messages[-1]["content"]
    if "ENGLISH-PLEASE" in prompt:
        return "This output is in English, which the validator must reject as not Korean at all."
    if "질문과 답변" in prompt:
        return ("질문: 무엇이 바뀌나요?\n답변: 대중교통 요금 체계가 바뀝니다.\n\n"
                "질문: 언제부터인가요?\n답변: 올해 하반기부터입니다.")
    if "목록으로" in prompt:
        return "- 서울시는 대중교통 요금 체계를 개편한다.\n- 시민들은 변화를 대체로 환영했다."
    if "질문 하나" in prompt:
        return "요즘 건강검진 결과표를 받았는데 수치를 어떻게 읽어야 할지 잘 모르겠어요. 어떻게 보면 되나요?"
    if "다음 질문에" in prompt:
        return "건강검진 결과표는 항목별 정상 범위와 비교해 읽으면 됩니다. 수치가 범위를 벗어나면 의사와 상담하세요."
    body = prompt.split("글:\n", 1)[-1]
    return "위키백과 문체로 다시 쓴 글: " + body[:300]


def write_quality_partition(store: str) -> None:
    """web/quality_filtered as the quality stage leaves it: kept documents with buckets, and a
    quality_low reject whose bucket sits in the details."""
    kept = pa.table({"id": ["hi", "mid", "eng"], "text": [PROSE * 3, PROSE * 2, PROSE + " ENGLISH-PLEASE"],
                     "source": ["web"] * 3, "snapshot": [SNAPSHOT] * 3, "url": ["u1", "u2", "u3"],
                     "quality_bucket": [19, 14, 5]})
    low = rejects_table(pa.table({"id": ["low"], "text": [PROSE * 2], "source": ["web"], "snapshot": [SNAPSHOT],
                                  "url": ["u4"]}), "quality_filtered", ["quality_low"],
                        [json.dumps({"quality_bucket": 4})])
    writer = PartitionWriter(store, "web/quality_filtered", SNAPSHOT)
    writer.write_kept(kept)
    writer.write_rejects(low)
    writer.commit(rows_in=4)


def llm_resource(server, tmp_path, **options) -> LLMResource:
    return LLMResource(base_url=server.base_url, model="test-model", cache_dir=str(tmp_path / "llm_cache"),
                       backoff_base_s=0.01, timeout_s=1.0, **options)


def materialise_rephrased(store, llm):
    """A run of web/rephrased in a fresh instance, over the quality partition in `store`."""
    with dg.instance_for_test() as instance:
        return Materialiser(Path(store).parent, instance)([rephrased], SNAPSHOT, corpus_store=CorpusStore(root=store),
                                                          llm=llm)


def read(store, stage, partition, kind="kept"):
    manifest = read_manifest(store, stage, partition)
    paths = shard_paths(store, manifest, kind)
    return manifest, (pa.concat_tables([pq.read_table(p) for p in paths]).to_pylist() if paths else [])


def test_rephrasing_routes_validates_retries_and_never_pays_twice(tmp_path):
    store = str(tmp_path / "store")
    write_quality_partition(store)
    with FakeOpenAI(respond, timeout_sleep_s=3.0) as server:
        for kind in ("429", "500", "timeout", "malformed"):
            server.fail_next(kind, retry_after="0")
        result = materialise_rephrased(store, llm_resource(server, tmp_path))
        assert result.success
        manifest, outputs = read(store, "web/rephrased", SNAPSHOT)
        _, rejected = read(store, "web/rephrased", SNAPSHOT, "rejects")
        # hi (19): four styles; mid (14): none; eng (5): wikipedia, rejected; low reject (4): wikipedia.
        assert sorted(r["id"] for r in outputs) == sorted(
            [f"hi#{s}#0" for s in HIGH_QUALITY_STYLES] + ["low#wikipedia#0"])
        assert [(r["id"], r["reason"]) for r in rejected] == [("eng#wikipedia#0", "not_korean")]
        assert manifest.rows_in == 6 == manifest.rows_kept + manifest.rows_rejected
        qa = next(r for r in outputs if r["style"] == "diverse_qa")
        assert re.match(r"질문: .+\n답변: .+", qa["text"]) and qa["model"] == "test-model"
        usage = manifest.extra["llm_usage"]
        assert usage["retries"] == 4 and usage["failures"] == 0 and usage["completion_tokens"] > 0
        sent = len(server.chat_requests)
        assert sent == 6 + 4  # every task once, plus one repeat per injected fault

        # Re-materialising pays for nothing again: every completion comes from the cache.
        files_before = {p: p.read_bytes() for p in (tmp_path / "store" / "web" / "rephrased").rglob("*")
                        if p.is_file()}
        assert materialise_rephrased(store, llm_resource(server, tmp_path)).success
        assert len(server.chat_requests) == sent
        assert read_manifest(store, "web/rephrased", SNAPSHOT).extra["llm_usage"]["cache_hits"] == 6
        files_after = {p: p.read_bytes() for p in (tmp_path / "store" / "web" / "rephrased").rglob("*") if p.is_file()}
        assert {k: v for k, v in files_after.items() if k.name != "manifest.json"} == {
            k: v for k, v in files_before.items() if k.name != "manifest.json"}


def test_failed_requests_are_recorded_and_a_rerun_sends_only_those(tmp_path):
    store = str(tmp_path / "store")
    write_quality_partition(store)
    with FakeOpenAI(respond) as server:
        server.fail_next("500", times=3)  # the first task's request and both of its retries
        result = materialise_rephrased(store, llm_resource(server, tmp_path, max_retries=2, max_concurrency=1))
        assert result.success
        manifest, _ = read(store, "web/rephrased", SNAPSHOT)
        assert manifest.rejects_by_reason.get("llm_error") == 1
        sent = len(server.chat_requests)
        assert materialise_rephrased(store, llm_resource(server, tmp_path)).success
        assert len(server.chat_requests) == sent + 1  # only the failed task is asked again
        assert "llm_error" not in read_manifest(store, "web/rephrased", SNAPSHOT).rejects_by_reason


def test_without_an_endpoint_the_assets_are_skipped_with_instructions(materialise):
    store = materialise.store
    write_quality_partition(store)
    result = materialise([rephrased], SNAPSHOT)  # the fixture's LLM resource has no endpoint
    assert result.success
    assert result.asset_materializations_for_node("web__rephrased") == []
    messages = " ".join(record.user_message for record in materialise.instance.all_logs(result.run_id))
    assert "skipped: no LLM endpoint configured" in messages and "CURATION_LLM_BASE_URL" in messages
    with pytest.raises(FileNotFoundError):
        read_manifest(store, "web/rephrased", SNAPSHOT)


def test_persona_qa_goes_back_through_the_curation_chain(tmp_path, materialise):
    store = materialise.store
    personas = pa.table({"id": ["p1", "p2", "p3"], "text": ["서울에 사는 40대 회사원으로 건강에 관심이 많다."] * 3,
                         "source": ["personas"] * 3, "snapshot": [RELEASE] * 3, "url": [None] * 3,
                         "uuid": ["u1", "u2", "u3"], "persona_field": ["persona", "persona", "family_persona"],
                         "sex": ["남자", "여자", "남자"], "age": [41, 35, 41], "province": ["서울"] * 3,
                         "occupation": ["회사원"] * 3})
    writer = PartitionWriter(store, "personas/quality_filtered", RELEASE)
    writer.write_kept(personas)
    writer.commit(rows_in=3)
    chain = [a for a in synthetic_persona_assets
             if not {k.path[-1] for k in a.keys} & {"perplexity_filtered", "quality_filtered"}]
    with FakeOpenAI(respond) as server:
        server.fail_next("503")
        result = materialise(chain, RELEASE, llm=llm_resource(server, tmp_path))
        assert result.success
        asked = len(server.chat_requests)
    qa_manifest, generated = read(store, "synthetic/persona_qa", RELEASE)
    assert qa_manifest.rows_in == 4 == qa_manifest.rows_kept  # 2 personas x 2 subtopics
    assert asked == 4 + 4 + 1  # questions, answers, one retry
    assert all(d["text"].startswith("질문: ") and "\n\n답변: " in d["text"] for d in generated)
    assert {d["uuid"] for d in generated} == {"u1", "u2"} and all(d["subtopic"] for d in generated)
    language = read_manifest(store, "synthetic/language_filtered", RELEASE)
    fuzzy = read_manifest(store, "synthetic/fuzzy_deduplicated", RELEASE)
    assert language.rows_in == 4
    # The scripted model answers every question alike: dedup keeps one copy per distinct text.
    exact = read_manifest(store, "synthetic/exact_deduplicated", RELEASE)
    assert exact.rejects_by_reason.get("exact_duplicate", 0) >= 1
    assert fuzzy.rows_kept + sum(exact.rejects_by_reason.values()) <= 4
