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
    assert result.stdout.strip() == "langid: 4 in, 2 kept, 2 rejected (no_letters=1, not_korean=1)"
    kept = pq.read_table(out)
    assert kept.column("id").to_pylist() == ["d0", "d3"]
    assert {"language", "language_score"} <= set(kept.column_names)
    rejects = pq.read_table(tmp_path / "out.rejects.parquet")
    assert sorted(rejects.column("id").to_pylist()) == ["d1", "d2"]
    assert set(rejects.column("stage").to_pylist()) == {"language_filter"}


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
