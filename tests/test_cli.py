import json
import subprocess
import sys

import pyarrow.parquet as pq

KOREAN = "서울은 대한민국의 수도이며 한강을 따라 발전한 큰 도시입니다."
ENGLISH = "This paragraph is written in English and must be rejected."


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True)


def test_langid_jsonl_to_parquet_with_rejects(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False)
                                for i, t in enumerate([KOREAN, ENGLISH, "", KOREAN])) + "\n")
    out = tmp_path / "out.parquet"
    result = run_cli("langid", str(source), str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "language_filtered: 4 in, 2 kept, 2 rejected (no_letters=1, not_korean=1)"
    kept = pq.read_table(out)
    assert kept.column("id").to_pylist() == ["d0", "d3"]
    assert {"language", "language_score"} <= set(kept.column_names)
    rejects = pq.read_table(tmp_path / "out.rejects.parquet")
    assert sorted(rejects.column("id").to_pylist()) == ["d1", "d2"]
    assert set(rejects.column("stage").to_pylist()) == {"language_filtered"}


def test_langid_parquet_to_jsonl(tmp_path):
    import pyarrow as pa

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": [KOREAN, ENGLISH]}), source)
    result = run_cli("langid", str(source), str(tmp_path / "out.jsonl"), "--threshold", "0.9")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a"] and rows[0]["language"] == "ko"


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    missing = run_cli("langid", str(tmp_path / "nope.jsonl"), str(tmp_path / "out.jsonl"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    no_text = tmp_path / "no_text.jsonl"
    no_text.write_text('{"id": "x", "body": "..."}\n')
    result = run_cli("langid", str(no_text), str(tmp_path / "out.jsonl"))
    assert result.returncode == 2 and "required column" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()  # no partial output
    assert run_cli("nosuchstage").returncode == 2


def test_dedup_removes_exact_and_near_copies(tmp_path):
    base = ("리눅스 서버에서 디스크 사용량을 확인하려면 df 명령과 du 명령을 함께 사용하는 것이 좋습니다. "
            "df는 파일 시스템 전체의 남은 공간을, du는 디렉터리별 사용량을 보여 줍니다.")
    near = base.replace("좋습니다.", "좋습니다!").replace("보여 줍니다", "보여줍니다")
    other = "김치찌개를 맛있게 끓이려면 잘 익은 김치와 돼지고기를 먼저 볶은 뒤 물을 붓습니다."
    rows = [("a", base), ("b", base + "  "), ("c", near), ("d", other)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in rows))
    result = run_cli("dedup", str(source), str(tmp_path / "out.parquet"), "--threshold", "0.8", "--backend", "cpu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "dedup: 4 in, 2 kept, 2 rejected (exact_duplicate=1, fuzzy_duplicate=1)"
    kept = pq.read_table(tmp_path / "out.parquet")
    assert kept.column("id").to_pylist() == ["a", "d"]
    assert kept.column("duplicate_of").null_count == 2
    rejects = {r["id"]: json.loads(r["details"]) for r in pq.read_table(tmp_path / "out.rejects.parquet").to_pylist()}
    assert rejects["b"]["duplicate_of"] == "a" and rejects["c"]["duplicate_of"] == "a"
    assert rejects["c"]["similarity"] >= 0.8


def test_dedup_bad_input_and_arguments_exit_2(tmp_path):
    no_text = tmp_path / "no_text.jsonl"
    no_text.write_text('{"id": "x", "body": "..."}\n')
    result = run_cli("dedup", str(no_text), str(tmp_path / "out.parquet"))
    assert result.returncode == 2 and "required column" in result.stderr
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"id": "x", "text": "한국어 문서"}\n')
    result = run_cli("dedup", str(ok), str(tmp_path / "out.parquet"), "--threshold", "1.5")
    assert result.returncode == 2 and "threshold must be in (0, 1]" in result.stderr
    assert run_cli("dedup", str(ok), str(tmp_path / "o.parquet"), "--backend", "tpu").returncode == 2
    no_id = tmp_path / "no_id.jsonl"
    no_id.write_text('{"id": null, "text": "한국어 문서"}\n{"id": "y", "text": "다른 문서"}\n')
    result = run_cli("dedup", str(no_id), str(tmp_path / "o.parquet"))
    assert result.returncode == 2 and "row 1 has no id" in result.stderr
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"id": "a", "text": "한국어 문서"}\n{"id": "b", "text": 7}\n')
    result = run_cli("dedup", str(mixed), str(tmp_path / "o.parquet"))
    assert result.returncode == 2 and "line 2: field 'text' is number where line 1 has string" in result.stderr
    assert not (tmp_path / "o.parquet").exists()  # nothing half-written


def test_dedup_names_duplicates_by_numeric_ids_as_strings(tmp_path):
    source = tmp_path / "numbers.jsonl"
    source.write_text('{"id": 5, "text": "가나다라마바사"}\n{"id": 6, "text": "가나다라마바사"}\n')
    result = run_cli("dedup", str(source), str(tmp_path / "out.parquet"))
    assert result.returncode == 0, result.stderr
    rejected = pq.read_table(tmp_path / "out.rejects.parquet").to_pylist()
    assert [(r["id"], json.loads(r["details"])["duplicate_of"]) for r in rejected] == [("6", "5")]


def test_heuristics_rejects_chat_noise_and_keeps_prose(tmp_path):
    prose = ("서울시는 내년부터 대중교통 환승 할인 제도를 확대해 광역버스와 지하철 사이의 환승 시간을 "
             "기존 30분에서 60분으로 늘린다고 밝혔다.")
    chat = "ㅋㅋㅋㅋㅋㅋ 진짜 웃기다 ㅠㅠㅠㅠ 미쳤다 ㅎㅎㅎ 오늘 영화 보고 왔는데 배우들 연기가 최고였음"
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                              for i, t in [("p", prose), ("c", chat), ("s", "굿")]))
    result = run_cli("heuristics", str(source), str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "heuristic_filtered: 3 in, 1 kept, 2 rejected (jamo_ratio=1, too_short=1)"
    kept = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [k["id"] for k in kept] == ["p"] and "jamo_ratio" in kept[0]


def test_train_and_score_quality_and_perplexity_from_the_command_line(tmp_path, sample_dir):
    import random

    reference = str(sample_dir / "reference" / "reference_ko.jsonl")
    rng = random.Random(0)
    words = ["ㅋㅋㅋ", "대박", "무료", "클릭", "이벤트", "할인", "쿠폰", "최저가", "ㅠㅠ", "당첨", "지금", "바로"]
    negative = tmp_path / "neg.jsonl"
    negative.write_text("".join(json.dumps({"id": f"n{i}", "text": " ".join(rng.choice(words) for _ in range(8))},
                                           ensure_ascii=False) + "\n" for i in range(300)))
    result = run_cli("train-kenlm", "--corpus", reference, "--out", str(tmp_path / "lm"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("train-kenlm: 384 lines, 96 calibration texts")
    result = run_cli("train-quality", "--positive", reference, "--negative", str(negative),
                     "--out", str(tmp_path / "q"), "--language-model", str(tmp_path / "lm"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("train-quality: 384 positive, 240 negative, signals classifier+moore_lewis, "
                                    "buckets fitted on 96+60 held-out documents")

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "p",
                                "text": "정부는 내년부터 청년 고용을 늘리기 위한 새로운 정책을 시행한다고 밝혔다."},
                               ensure_ascii=False) + "\n" +
                    json.dumps({"id": "n", "text": "무료 쿠폰 대박 이벤트 클릭 지금 바로 당첨 ㅋㅋㅋ"},
                               ensure_ascii=False) + "\n")
    result = run_cli("perplexity", str(docs), str(tmp_path / "ppl.jsonl"), "--model", str(tmp_path / "lm"))
    assert result.returncode == 0 and result.stdout.strip() == "perplexity_filtered: 2 in, 2 kept, 0 rejected"
    scored = [json.loads(line) for line in (tmp_path / "ppl.jsonl").read_text().splitlines()]
    assert scored[0]["perplexity"] < scored[1]["perplexity"]
    result = run_cli("quality", str(tmp_path / "ppl.jsonl"), str(tmp_path / "q.jsonl"), "--model", str(tmp_path / "q"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "quality_filtered: 2 in, 1 kept, 1 rejected (quality_low=1)"
    assert [json.loads(line)["id"] for line in (tmp_path / "q.jsonl").read_text().splitlines()] == ["p"]
    missing = run_cli("train-kenlm", "--corpus", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and "error: train-kenlm" in missing.stderr
