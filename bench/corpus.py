"""Deterministic Korean web-like corpus of N documents for the end-to-end and scaling benches.

Built from data/bench (shipped; ../shared/data works too) by recombination and perturbation,
so that every stage has real work at any size (10k to 1M+):

* fresh (72 %): 2-4 windows of 2-6 consecutive sentences, each window from a different base
  document (LibreOffice help main text, persona narratives, Korean mixed_lang paragraphs,
  KLUE sentences; the bases of bench/dedup_corpus.py), one paragraph per window. Windows
  recur across documents, as shared passages do on the web, but whole documents do not.
* near_copy (10 %): an earlier document with character edits (typos, spacing, insertions,
  added boilerplate, a dropped sentence; bench/dedup_corpus.variant, strength 0.5-12 %).
* exact_copy (5 %): an earlier document again, half of them byte-identical, half differing
  only in spacing, case or width (what exact dedup's normalisation folds).
* shuffled (3 %): an earlier document with its sentences in another order.
* comments (5 %): 1-8 NSMC reviews / chatbot lines (short, informal: heuristics and quality).
* foreign (3 %): Japanese, Chinese or English paragraphs of mixed_lang (language ID).
* junk (2 %): keyword spam and navigation menus (bench/quality.py generators).

Earlier documents are drawn from a bounded reservoir of 20,000, so memory stays flat and
copies land anywhere after their source. One random.Random(seed) drives everything in
document order and no decision depends on N, so the corpus of N documents is the first N
documents of any larger one. Written as Parquet shards (id, text, kind) of 100,000 rows,
streamed; `corpus.json` beside them records the parameters and counts.

    python bench/corpus.py 100000 [--out out/bench/corpus] [--data data/bench]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_corpus import BOILERPLATE, SENTENCE_END, base_documents, variant  # noqa: E402

SEED = 7553
VERSION = 1
ROOT = Path(__file__).resolve().parents[1]
KINDS = (("fresh", 0.72), ("near_copy", 0.10), ("exact_copy", 0.05), ("shuffled", 0.03),
         ("comments", 0.05), ("foreign", 0.03), ("junk", 0.02))
RESERVOIR = 20_000
SHARD_ROWS = 100_000
ROW_GROUP = 10_000
SPAM_WORDS = ["무료", "대박", "할인", "쿠폰", "최저가", "당첨", "이벤트", "클릭", "지금", "바로", "가입", "혜택",
              "대출", "당일", "승인", "카톡", "문의", "상담", "특가", "한정", "판매", "맛집", "추천", "부업", "고수익",
              "코인"]
MENU_WORDS = ["홈", "뉴스", "정치", "경제", "사회", "문화", "스포츠", "연예", "날씨", "로그인", "회원가입", "고객센터",
              "이용약관", "개인정보처리방침", "사이트맵", "공지사항", "이벤트", "자주 묻는 질문", "마이페이지",
              "장바구니", "전체메뉴", "검색", "바로가기", "맨 위로", "이전 글", "다음 글", "목록", "인쇄", "공유하기",
              "스크랩"]
FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}


def _jsonl(path: Path, field: str = "text") -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


class Sources:
    """The pools documents are drawn from (about 30 MB of Python strings, fixed)."""

    def __init__(self, data: Path) -> None:
        self.bases = [SENTENCE_END.split(d["text"]) for d in base_documents(data)]
        self.comments = ([r["text"] for r in _jsonl(data / "nsmc_reviews.jsonl")]
                         + [r["text"] for r in _jsonl(data / "chatbot_qa.jsonl")])
        foreign: dict[str, list[str]] = {}
        for row in _jsonl(data / "mixed_lang.jsonl"):
            if row["lang"] != "ko":
                foreign.setdefault(row["lang"], []).append(row["text"])
        self.foreign = [foreign[k] for k in sorted(foreign)]


def _window(rng: random.Random, sentences: list[str]) -> str:
    size = min(len(sentences), rng.randint(2, 6))
    start = rng.randrange(len(sentences) - size + 1)
    return " ".join(sentences[start:start + size])


def _respace(rng: random.Random, text: str) -> str:
    """Same text for exact dedup (NFKC, lower case, whitespace collapsed), other bytes."""
    roll = rng.random()
    if roll < 0.4:
        return "  " + text.replace(" ", "  ", 3) + " \n"
    if roll < 0.7:
        return "".join(FULL_WIDTH.get(c, c) for c in text)
    return text.upper() if rng.random() < 0.5 else text.replace(". ", ".\n", 2)


def documents(sources: Sources, seed: int = SEED):
    """(kind, text) forever, deterministic in document order."""
    rng = random.Random(seed)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    reservoir: list[str] = []
    seen = 0
    while True:
        kind = rng.choices(names, weights)[0]
        if kind in ("near_copy", "exact_copy", "shuffled") and not reservoir:
            kind = "fresh"
        if kind == "fresh":
            text = "\n".join(_window(rng, rng.choice(sources.bases)) for _ in range(rng.randint(2, 4)))
            seen += 1  # reservoir sampling over fresh documents: copies come from anywhere before
            if len(reservoir) < RESERVOIR:
                reservoir.append(text)
            elif (j := rng.randrange(seen)) < RESERVOIR:
                reservoir[j] = text
        elif kind == "near_copy":
            text = variant(rng.choice(reservoir), rng.choice([0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12]), rng)
        elif kind == "exact_copy":
            text = rng.choice(reservoir)
            if rng.random() < 0.5:
                text = _respace(rng, text)
        elif kind == "shuffled":
            sentences = SENTENCE_END.split(rng.choice(reservoir))
            rng.shuffle(sentences)
            text = " ".join(sentences)
        elif kind == "comments":
            text = "\n".join(rng.choice(sources.comments) for _ in range(rng.randint(1, 8)))
        elif kind == "foreign":
            pool = rng.choice(sources.foreign)
            text = "\n".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
        else:  # junk
            if rng.random() < 0.5:
                text = " ".join(rng.choice(SPAM_WORDS) for _ in range(rng.randint(12, 40)))
                text += rng.choice(["", " 010-1234-5678", " http://ad.example.kr", " ★★★"])
            else:
                text = "\n".join(rng.sample(MENU_WORDS, rng.randint(8, 20)) + [rng.choice(BOILERPLATE)])
        yield kind, text


def build(n: int, out: Path, data: Path, seed: int = SEED) -> dict:
    """Write N documents into `out` (replacing what is there) unless corpus.json there
    already describes them; returns the corpus card."""
    card_path = out / "corpus.json"
    params = {"documents": n, "seed": seed, "version": VERSION, "kinds": dict(KINDS)}
    if card_path.exists():
        card = json.loads(card_path.read_text())
        if card.get("params") == params:
            return card
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.parquet"):
        old.unlink()
    card_path.unlink(missing_ok=True)
    start = time.perf_counter()
    sources = Sources(data)
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("kind", pa.string())])
    counts: dict[str, int] = {}
    chars = 0
    lengths_sample: list[int] = []
    stream = documents(sources, seed)
    shard = 0
    for first in range(0, n, SHARD_ROWS):
        rows = min(SHARD_ROWS, n - first)
        with pq.ParquetWriter(out / f"part-{shard:05d}.parquet", schema, compression="zstd") as writer:
            for block in range(0, rows, ROW_GROUP):
                ids, texts, kinds = [], [], []
                for i in range(first + block, first + min(block + ROW_GROUP, rows)):
                    kind, text = next(stream)
                    ids.append(f"doc-{i:08d}")
                    texts.append(text)
                    kinds.append(kind)
                    counts[kind] = counts.get(kind, 0) + 1
                    chars += len(text)
                    if len(lengths_sample) < 100_000:
                        lengths_sample.append(len(text))
                writer.write_table(pa.table({"id": ids, "text": texts, "kind": kinds}, schema=schema))
        shard += 1
    lengths_sample.sort()
    card = {"params": params, "kinds": dict(sorted(counts.items())), "characters": chars,
            "mean_chars": round(chars / max(n, 1), 1),
            "median_chars": lengths_sample[len(lengths_sample) // 2] if lengths_sample else 0,
            "shards": shard, "bytes": sum(p.stat().st_size for p in out.glob("part-*.parquet")),
            "seconds": round(time.perf_counter() - start, 1)}
    card_path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n")
    return card


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("documents", type=int)
    parser.add_argument("--out", type=Path, default=None, help="folder (default out/bench/corpus/nN)")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    out = args.out or ROOT / "out" / "bench" / "corpus" / f"n{args.documents}"
    card = build(args.documents, out, args.data, args.seed)
    print(json.dumps({"folder": str(out), **card}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
