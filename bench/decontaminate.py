"""How to match Korean benchmark text, measured: character n-grams of normalised text (ours, at
13, 20 and 30 characters) against word n-grams (NeMo Curator's 13-grams, datatrove's 12-grams,
whitespace words after NFKC and lower case), on planted copies and hard negatives; and our
stage's documents/s on one core.

    python bench/decontaminate.py [--items 80] [--docs 3000] [--out bench/results/decontaminate.json]

Benchmark: multiple-choice items generated from the shipped Korean prose (data/bench
reference_ko), each a passage sentence pair + a question stem shared by many items + four
choices, KMMLU-like. Documents: chatbot answers and movie comments of the same pack with,
for a third of them, one item planted as is, respaced
(spaces removed or doubled, as copies of Korean text vary), with particles changed at the end
of a few words, or only half the passage; hard negatives hold a shared stem and choice markers
without any item. A word n-gram flags a document when it shares any n-gram that at most 3 items
hold (NeMo Curator's rule with its frequency cap); ours as the stage decides.

datatrove's NGramsDecontFilter is not run: its index is built from lighteval tasks, which it
downloads (no network here), and it has no Korean task.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.decontaminate import BenchmarkIndex, find_matches, items_from  # noqa: E402
from curation.text import fold  # noqa: E402

STEMS = ["다음 중 위 글의 내용과 일치하지 않는 것은?", "윗글에 대한 설명으로 가장 적절한 것은?",
         "다음 글을 읽고 물음에 답하시오.", "밑줄 친 부분의 의미로 옳은 것은?"]
PARTICLES = {"은": "는", "는": "은", "이": "가", "가": "이", "을": "를", "를": "을"}


def make(items: int, docs: int, seed: int = 3) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    with (ROOT / "data" / "bench" / "reference_ko.jsonl").open(encoding="utf-8") as handle:
        sentences = [s.strip() + "." for line in handle for s in json.loads(line)["text"].split(".")
                     if len(s.strip()) > 25]
    rng.shuffle(sentences)
    bench = []
    for i in range(items):
        passage = " ".join(sentences[2 * i:2 * i + 2])
        choices = [f"{'①②③④'[k]} {sentences[-(4 * i + k + 1)][:18]}" for k in range(4)]
        bench.append({"id": f"item{i}", "question": f"{passage} {rng.choice(STEMS)}", "choices": choices})
    filler = []
    for name in ("chatbot_qa.jsonl", "nsmc_reviews.jsonl"):  # documents' own text: other prose of the pack
        with (ROOT / "data" / "bench" / name).open(encoding="utf-8") as handle:
            filler += [json.loads(line)["text"] for line in handle if len(json.loads(line)["text"]) > 20]
    documents = []
    for d in range(docs):
        body = " ".join(rng.sample(filler, 6))
        kind = rng.choice(["exact", "respaced", "particles", "half", "negative", "clean", "clean"])
        item = rng.choice(bench)
        text = item["question"] + " " + " ".join(item["choices"])
        if kind == "respaced":
            text = text.replace(" ", "") if rng.random() < 0.5 else text.replace(" ", "  ").replace(".", ". ")
        elif kind == "particles":
            words = text.split()
            for k in rng.sample(range(len(words)), max(1, len(words) // 4)):
                if words[k][-1] in PARTICLES:
                    words[k] = words[k][:-1] + PARTICLES[words[k][-1]]
            text = " ".join(words)
        elif kind == "half":
            text = item["question"][: len(item["question"]) // 2]
        elif kind == "negative":
            text = rng.choice(STEMS) + " " + " ".join(f"{'①②③④'[k]} {w}" for k, w in enumerate(rng.sample(filler, 4)))
        if kind == "clean":
            documents.append({"id": f"d{d}", "text": body, "kind": kind, "item": None})
        else:
            cut = rng.randrange(len(body))
            documents.append({"id": f"d{d}", "text": body[:cut] + " " + text + " " + body[cut:], "kind": kind,
                              "item": None if kind == "negative" else item["id"]})
    return bench, documents


def word_ngrams(text: str, n: int) -> set:
    words = fold(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def word_method(bench: list[dict], documents: list[dict], n: int) -> list[bool]:
    owners: dict[tuple, set] = {}
    for row in bench:
        for gram in word_ngrams(row["question"] + " " + " ".join(row["choices"]), n):
            owners.setdefault(gram, set()).add(row["id"])
    usable = {gram for gram, items in owners.items() if len(items) <= 3}
    return [bool(word_ngrams(doc["text"], n) & usable) for doc in documents]


def char_method(bench: list[dict], documents: list[dict], n: int) -> tuple[list[bool], float]:
    index = BenchmarkIndex.build(items_from(bench, "bench"), ngram=n)
    start = time.perf_counter()
    flags = []
    for chunk in range(0, len(documents), 1000):
        flags += [m is not None for m in find_matches(index, [d["text"] for d in documents[chunk:chunk + 1000]])]
    return flags, time.perf_counter() - start


def scores(documents: list[dict], flags: list[bool]) -> dict:
    by_kind = Counter()
    totals = Counter()
    for doc, flag in zip(documents, flags):
        totals[doc["kind"]] += 1
        by_kind[doc["kind"]] += flag
    planted = [k for k in totals if k not in ("clean", "negative")]
    found = sum(by_kind[k] for k in planted)
    false = by_kind["clean"] + by_kind["negative"]
    return {"recall": round(found / sum(totals[k] for k in planted), 4),
            "precision": round(found / (found + false), 4) if found + false else 1.0,
            "recall_by_kind": {k: round(by_kind[k] / totals[k], 3) for k in sorted(planted)},
            "false_positives": {"clean": by_kind["clean"], "negative": by_kind["negative"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=80, help="at most 100 (the pack's prose sentences)")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "decontaminate.json"))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # the first core (benches run on the last)
    bench, documents = make(args.items, args.docs)
    methods = {}
    for n in (13, 20, 30):
        flags, seconds = char_method(bench, documents, n)
        methods[f"ours: characters, {n}-grams"] = {**scores(documents, flags),
                                                   "docs_per_s": round(len(documents) / seconds, 1)}
    for n, peer in ((13, "NeMo Curator's word 13-grams"), (12, "datatrove's word 12-grams")):
        methods[peer] = scores(documents, word_method(bench, documents, n))
    result = {"items": len(bench), "documents": len(documents), "kinds": dict(Counter(d["kind"] for d in documents)),
              "methods": methods}
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name, values in methods.items():
        print(f"{name}: recall {values['recall']} precision {values['precision']} {values['recall_by_kind']} "
              f"{values.get('docs_per_s', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
