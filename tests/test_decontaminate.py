"""Decontamination against benchmark-like files written here (the real Korean suites' licences
forbid shipping them): planted copies (exact, respaced, inside other text, partial) are found,
shared stems and unrelated prose are not, and cut mode removes the span."""

import json
import subprocess
import sys

import pyarrow as pa
import pytest

from curation.decontaminate import BenchmarkIndex, Decontaminator, find_matches, items_from, normalize

from hostile import PROSE

STEM = "다음 중 위 글의 내용과 일치하지 않는 것을 고르시오."
TOPICS = ["조선 후기 실학자들은 토지 제도의 개혁을 주장하며 농민의 삶을 개선하고자 하였다",
          "광합성은 엽록체에서 빛 에너지를 이용해 이산화탄소와 물로 포도당을 만드는 과정이다",
          "지방자치단체는 주민의 복리를 위하여 조례를 제정하고 자치 사무를 처리할 수 있다",
          "한국 전쟁 이후 정부는 경제 개발 5개년 계획을 세워 수출 중심의 산업화를 추진하였다",
          "판소리는 한 명의 소리꾼이 고수의 북장단에 맞추어 긴 이야기를 노래와 말로 풀어내는 예술이다",
          "상대성 이론에 따르면 빛의 속도는 관찰자의 운동 상태와 관계없이 항상 일정하다"]
ROWS = [{"id": f"q{i}", "question": f"{topic}. {STEM}", "choices": ["① 첫째 보기", "② 둘째 보기", "③ 셋째 보기"],
         "answer": 2} for i, topic in enumerate(TOPICS)]
OTHER = ("서울시는 올해 하반기부터 대중교통 요금 체계를 개편한다고 밝혔다. 시민들은 변화를 환영했다. "
         "새로운 요금제는 거리 비례제를 강화하고 환승 할인을 넓히는 내용을 담고 있다. ") * 3


@pytest.fixture(scope="module")
def index():
    return BenchmarkIndex.build(items_from(ROWS, "toy"))


def documents():
    item = ROWS[1]["question"]
    respaced = item.replace(" ", "")[:30] + " " + item.replace(" ", "")[30:]
    return {
        "exact": item,
        "inside": OTHER + item + " " + OTHER,
        "respaced": OTHER + respaced,
        "spaced_more": OTHER + " ".join(item.replace(" ", "")),  # a space between every syllable
        "full_width_punct": OTHER + item.replace(".", "。").replace(",", "，"),
        "stem_only": OTHER + STEM + " 다음 보기를 읽고 답하시오. " + OTHER,
        "unrelated": PROSE * 4,
        "other_item_topic": "광합성은 식물이 하는 일이다. " + OTHER,
    }


def test_copies_are_found_and_stems_and_prose_are_not(index):
    docs = documents()
    found = dict(zip(docs, find_matches(index, list(docs.values()))))
    for name in ("exact", "inside", "respaced", "spaced_more", "full_width_punct"):
        assert found[name] is not None and found[name].item.item == "q1", name
        assert found[name].overlap >= 0.5
    for name in ("stem_only", "unrelated", "other_item_topic"):
        assert found[name] is None, name
    assert index.stats["stem_ngrams"] > 0  # the shared stem's n-grams were left out


LONG_STEM = "다음 글을 읽고 물음에 답하시오. 글쓴이의 주장으로 가장 적절한 것을 아래 보기에서 하나만 고르시오."
SHORT_ITEMS = [{"id": f"s{i}", "question": f"{LONG_STEM} ({i}) {topic[:14]}"} for i, topic in enumerate(TOPICS)]


def test_without_stem_weighting_a_long_shared_stem_alone_would_flag():
    # Items that are mostly a shared instruction: the stem alone covers most of each item.
    stem_doc = OTHER + LONG_STEM + " " + OTHER
    loose = BenchmarkIndex.build(items_from(SHORT_ITEMS, "toy"), max_items_per_ngram=100)
    assert find_matches(loose, [stem_doc])[0] is not None  # what the weighting prevents
    weighted = BenchmarkIndex.build(items_from(SHORT_ITEMS, "toy"))
    assert find_matches(weighted, [stem_doc])[0] is None
    copy = OTHER + SHORT_ITEMS[2]["question"]
    assert find_matches(weighted, [copy])[0].item.item == "s2"  # the item itself is still found


def benchmark_file(tmp_path):
    path = tmp_path / "toy_bench.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n")
    return path


def test_stage_rejects_with_details_and_counts_per_benchmark(tmp_path):
    docs = documents()
    batch = pa.table({"id": list(docs), "text": list(docs.values())})
    kept, rejected, stats = Decontaminator([str(benchmark_file(tmp_path))]).process(batch)
    assert set(rejected.column("id").to_pylist()) == {"exact", "inside", "respaced", "spaced_more",
                                                       "full_width_punct"}
    details = json.loads(rejected.column("details")[0].as_py())
    assert details["benchmark"] == "toy_bench" and details["item"] == "q1" and details["matched_span"]
    assert set(rejected.column("reason").to_pylist()) == {"benchmark_overlap"}
    assert stats.extra == {"matches.toy_bench": 5}
    assert kept.column("benchmark_match").null_count == kept.num_rows


def test_cut_mode_removes_the_span_and_rejects_what_is_left_too_short(tmp_path):
    long_doc = OTHER * 2 + ROWS[3]["question"] + " " + OTHER * 2
    batch = pa.table({"id": ["long", "short", "clean"], "text": [long_doc, ROWS[3]["question"], None]})
    kept, rejected, _ = Decontaminator([str(benchmark_file(tmp_path))], mode="cut", cut_margin=20).process(batch)
    assert rejected.column("id").to_pylist() == ["short"]
    assert rejected.column("reason").to_pylist() == ["benchmark_overlap_cut"]
    by_id = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    assert by_id["clean"] is None  # untouched, null stays null
    assert "경제 개발" not in by_id["long"] and len(by_id["long"]) > 400
    assert normalize(ROWS[3]["question"]) not in normalize(by_id["long"])


def test_cli_decontaminates_a_file(tmp_path):
    docs = documents()
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(json.dumps({"id": k, "text": v}, ensure_ascii=False) for k, v in docs.items()))
    done = subprocess.run([sys.executable, "-m", "curation", "decontaminate", str(source), str(tmp_path / "out.jsonl"),
                           "--benchmark", str(benchmark_file(tmp_path))], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"decontaminated: {len(docs)} in, 3 kept, 5 rejected (benchmark_overlap=5)" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "curation", "decontaminate", str(source),
                              str(tmp_path / "out2.jsonl")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no benchmark given" in missing.stderr
