"""The release assembly: cross-source dedup, blend weights, deterministic shuffle, token counts,
accounting per source, decontamination hits and the card."""

import hashlib
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curation.decontaminate import Decontaminator
from curation.release import (
    ORIGINAL,
    SYNTHETIC,
    BlendSettings,
    ReleaseSource,
    ReleaseStats,
    Tokenizer,
    assemble,
    batches_of,
    copies,
    dataset_card,
    jsonl_zst_bytes,
    licences_of,
    push_to_hub,
    read_url_licences,
)

from hostile import PROSE

WORDS = ["서울시는", "올해", "하반기부터", "대중교통", "요금", "체계를", "개편한다고", "밝혔다", "시민들은", "변화를",
         "환영했다", "정부는", "새로운", "정책을", "발표하며", "지역", "경제의", "회복을", "기대한다고", "말했다"]


def text(i: int, words: int = 60) -> str:
    """A distinct Korean-looking document per i: common words between two-syllable words drawn by hash."""
    out = []
    for k in range(words):
        h = int(hashlib.sha256(f"{i}-{k}".encode()).hexdigest()[:8], 16)
        word = WORDS[h % len(WORDS)] if k % 3 == 0 else chr(0xAC00 + h % 11172) + chr(0xAC00 + (h >> 14) % 11172)
        out.append(word + ("." if k % 9 == 8 else ""))
    return " ".join(out) + f" 문서 번호 {i}번."


def table(prefix: str, n: int, start: int = 0) -> pa.Table:
    return pa.table({"id": [f"{prefix}{i}" for i in range(start, start + n)],
                     "text": [text(i) for i in range(start, start + n)], "snapshot": ["s1"] * n})


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    import sentencepiece

    folder = tmp_path_factory.mktemp("sp")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join([PROSE] * 200), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "sp"), vocab_size=58,
                                             character_coverage=0.9995, minloglevel=2)
    return Tokenizer(str(folder / "sp.model"))


def sources():
    web = table("web-", 300)
    # a rephrased copy of web-3 (the same text, another id) and new synthetic documents
    copy_of_web = pa.table({"id": ["syn-copy"], "text": [text(3)], "snapshot": ["s1"]})
    synthetic = pa.concat_tables([copy_of_web, table("syn-", 199, start=1000)])
    return [ReleaseSource("web", batches_of([web]), "CC BY 4.0 (Common Crawl terms)", ORIGINAL, ["s1"]),
            ReleaseSource("personas", batches_of([table("per-", 100, start=2000)]), "CC BY 4.0", ORIGINAL),
            ReleaseSource("rephrased", batches_of([synthetic]), "as its source", SYNTHETIC)]


def run(settings, tokenizer=None, decontaminator=None, srcs=None):
    stats = ReleaseStats()
    pairs = list(assemble(srcs or sources(), settings, stats, tokenizer, decontaminator))
    rows = pa.concat_tables([r for r, _ in pairs if r.num_rows])
    rejects = [j for _, j in pairs if j.num_rows]
    return rows, (pa.concat_tables(rejects) if rejects else None), stats


def test_cross_source_copy_removed_weights_and_counts(tokenizer):
    settings = BlendSettings(weights={"web": 1.0, "personas": 2.0, "rephrased": 0.5}, seed=7, buckets=4)
    rows, rejects, stats = run(settings, tokenizer)
    assert rejects.column("id").to_pylist() == ["syn-copy"]
    assert rejects.column("reason").to_pylist() == ["cross_source_duplicate"]
    assert json.loads(rejects.column("details")[0].as_py())["duplicate_of"] == "web-3"
    by_source = {s: rows.filter(pc.equal(rows.column("source"), s)).num_rows for s in ("web", "personas",
                                                                                                "rephrased")}
    assert by_source["web"] == 300 and by_source["personas"] == 200  # weight 2: each twice
    assert 199 * 0.5 - 25 <= by_source["rephrased"] <= 199 * 0.5 + 25  # a deterministic half, within 25
    assert stats.documents_in == {"web": 300, "personas": 100, "rephrased": 200}
    assert stats.documents_out == by_source
    assert stats.tokens_in["web"] == sum(tokenizer.count([text(i) for i in range(300)])) > 0
    assert sum(stats.tokens_out.values()) == sum(rows.column("tokens").to_pylist())
    assert len(set(rows.column("id").to_pylist())) == rows.num_rows  # copies get their own ids
    assert set(rows.column("licence").to_pylist()) == {"CC BY 4.0 (Common Crawl terms)", "CC BY 4.0", "as its source"}


def test_the_same_seed_gives_the_same_rows_and_another_seed_another_order():
    a, _, _ = run(BlendSettings(seed=1))
    b, _, _ = run(BlendSettings(seed=1))
    c, _, _ = run(BlendSettings(seed=2))
    assert a.equals(b)
    assert a.column("id").to_pylist() != c.column("id").to_pylist()
    assert sorted(a.column("id").to_pylist()) == sorted(c.column("id").to_pylist())  # weight 1: the same documents
    # shuffled across sources, not one source after the other
    first = a.column("source").to_pylist()[:50]
    assert len(set(first)) == 3


def test_keep_synthetic_copies_keeps_the_copy():
    rows, rejects, _ = run(BlendSettings(keep_synthetic_copies=True))
    assert rejects is None and "syn-copy" in rows.column("id").to_pylist()


def test_decontamination_hits_are_counted_and_rejected(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "b1", "question": text(10)}, ensure_ascii=False) + "\n")
    rows, rejects, stats = run(BlendSettings(), decontaminator=Decontaminator([str(bench)]))
    assert "web-10" in rejects.column("id").to_pylist() and "web-10" not in rows.column("id").to_pylist()
    assert stats.decontamination == {"bench": 1} and stats.rejects["web:benchmark_overlap"] == 1
    card = dataset_card("v1", stats, sources(), BlendSettings(), {"web/quality_filtered": "3-abc"}, "sp.model", 2)
    assert "| bench | 1 |" in card and "web/quality_filtered" in card and "CC BY 4.0" in card


def test_token_share_weights_meet_their_shares(tokenizer):
    settings = BlendSettings(weights={"web": 0.5, "personas": 0.3, "rephrased": 0.2}, weights_as="tokens", seed=5,
                             keep_synthetic_copies=True)
    rows, _, stats = run(settings, tokenizer)
    total = sum(stats.tokens_out.values())
    shares = {name: stats.tokens_out[name] / total for name in ("web", "personas", "rephrased")}
    assert shares == pytest.approx({"web": 0.5, "personas": 0.3, "rephrased": 0.2}, abs=0.04)
    assert stats.documents_out["personas"] > stats.documents_in["personas"]  # upsampled to reach its share
    with pytest.raises(ValueError, match="documents or tokens"):
        run(BlendSettings(weights_as="bytes"))


def test_copies_follow_the_weight():
    assert [copies(2.0, 0, str(i)) for i in range(5)] == [2] * 5
    assert sum(copies(0.25, 0, str(i)) for i in range(4000)) == pytest.approx(1000, abs=80)
    assert sum(copies(0.0, 0, str(i)) for i in range(100)) == 0


def test_a_hugging_face_tokenizer_json_counts_tokens(tmp_path):
    import tokenizers
    from tokenizers import models, pre_tokenizers, trainers

    hf = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.train_from_iterator([PROSE] * 50, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]", "[CLS]"]))
    hf.post_processor = tokenizers.processors.TemplateProcessing(single="[CLS] $A", special_tokens=[("[CLS]", 1)])
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    counter = Tokenizer(str(path))
    texts = [text(i) for i in range(5)]
    # the text's own tokens: the [CLS] the post-processor would add is not counted
    assert counter.count(texts) == [len(hf.encode(t).ids) - 1 for t in texts]
    rows, _, stats = run(BlendSettings(), tokenizer=counter)
    assert sum(rows.column("tokens").to_pylist()) == sum(stats.tokens_out.values()) > sum(stats.documents_out.values())


def test_licences_follow_the_longest_url_prefix_and_reach_the_card(tmp_path):
    licences = tmp_path / "licences.tsv"
    licences.write_text("url_prefix\tlicence\nhttps://a.kr/\tMIT\nhttps://a.kr/wiki/\tCC BY-SA 4.0\n",
                        encoding="utf-8")
    mapping = read_url_licences(str(licences))
    assert licences_of(["https://a.kr/wiki/x", "https://a.kr/y", "https://b.kr/", None], mapping, "default") == [
        "CC BY-SA 4.0", "MIT", "default", "default"]
    web = table("web-", 4).append_column("url", pa.array(["https://a.kr/wiki/1", "https://a.kr/2", "https://c.kr/",
                                                          None]))
    source = ReleaseSource("web", batches_of([web]), "crawl terms", ORIGINAL, ["s1"], url_licences=mapping)
    rows, _, stats = run(BlendSettings(), srcs=[source])
    assert dict(zip(rows.column("id").to_pylist(), rows.column("licence").to_pylist())) == {
        "web-0": "CC BY-SA 4.0", "web-1": "MIT", "web-2": "crawl terms", "web-3": "crawl terms"}
    card = dataset_card("r", stats, [source], BlendSettings(), {}, "sp.model", 1)
    assert "| web | CC BY-SA 4.0 | 1 |" in card and "| web | crawl terms | 2 |" in card
    licences.write_text("https://a.kr/ MIT\n", encoding="utf-8")
    with pytest.raises(ValueError, match="licences.tsv:1"):
        read_url_licences(str(licences))


def test_jsonl_zst_holds_the_shard_rows():
    import zstandard

    shard = table("web-", 2500)
    data = zstandard.ZstdDecompressor().decompressobj().decompress(jsonl_zst_bytes(shard))
    assert [json.loads(line) for line in data.decode().splitlines()] == shard.to_pylist()


class RecordingHub:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return "https://hub.example/commit/1"


def test_push_to_hub_uploads_card_and_shards_only_with_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ValueError, match="HF_TOKEN"):
        push_to_hub(str(tmp_path), "team/ko-release", api=RecordingHub())
    hub = RecordingHub()
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert push_to_hub(str(tmp_path), "team/ko-release", api=hub) == "https://hub.example/commit/1"
    (_, repo, create), (_, _, upload) = hub.calls
    assert repo == "team/ko-release" and create["repo_type"] == "dataset" and create["private"] is True
    assert upload["folder_path"] == str(tmp_path) and upload["repo_type"] == "dataset"
    assert "README.md" in upload["allow_patterns"] and not any("rejects" in p for p in upload["allow_patterns"])


def test_release_progress_lines_carry_the_total_tokens_and_eta(tokenizer):
    lines = []
    srcs = sources()
    for source, n in zip(srcs, (300, 100, 200)):
        source.documents = n
    stats = ReleaseStats()
    list(assemble(srcs, BlendSettings(), stats, tokenizer, progress=lines.append, progress_every_s=0.0))
    meter = [line for line in lines if line.startswith("release: ") and "documents (" in line]
    assert meter and all(" of 600 documents" in line and "tokens/s" in line for line in meter)
    assert any("ETA" in line for line in meter)


def test_the_release_command_writes_a_release_folder(tmp_path, tokenizer):
    import subprocess
    import sys

    import pyarrow.parquet as pq

    from curation.io import read_manifest, shard_paths

    web, synthetic = tmp_path / "web.parquet", tmp_path / "syn.jsonl"
    pq.write_table(table("web-", 50), web)
    synthetic.write_text("".join(json.dumps({"id": f"s{i}", "text": text(i if i < 2 else 500 + i)},
                                            ensure_ascii=False) + "\n" for i in range(10)), encoding="utf-8")
    command = [sys.executable, "-m", "curation", "release", str(tmp_path / "out"), "--name", "v1",
               "--source", f"web={web}", "--synthetic", f"rephrased={synthetic}", "--licence", "web=CC0-1.0",
               "--weight", "web=2", "--tokenizer", tokenizer.path]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(str(tmp_path / "out"), "", "v1")
    assert manifest.extra["documents_in"] == {"web": 50, "rephrased": 10}
    assert manifest.extra["documents_out"] == {"web": 100, "rephrased": 8}
    assert manifest.rejects_by_reason == {"cross_source_duplicate": 2}
    rows = pa.concat_tables([pq.read_table(p) for p in shard_paths(str(tmp_path / "out" / ""), manifest)])
    assert rows.num_rows == 108 and set(rows.column("licence").to_pylist()) == {"CC0-1.0", "unstated"}
    assert "release v1: 108 documents" in result.stdout
    assert (tmp_path / "out" / "v1" / "README.md").read_text().count("| web | CC0-1.0 |") == 2
    bad = subprocess.run(command[:7] + ["--source", "web", "--tokenizer", tokenizer.path], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
