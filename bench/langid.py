"""Korean language ID: our LanguageFilter (lid.176 + Hangul ratio) against fastText alone.

The peer rule is datatrove's LanguageFilter default: lid.176 top-1 label is `ko` with a score
of at least 0.65 (applied here with the same bundled lid.176.ftz, so only the rule differs).
A third column shows the Hangul ratio alone (>= 0.5 of letters).

* mixed_lang.jsonl: 1,200 paragraphs, 300 each ko/ja/zh/en; precision and recall for Korean,
  on whole paragraphs and on their first N characters (short-text behaviour).
* nsmc_reviews.jsonl: short Korean movie reviews (all labelled Korean by source); recall only,
  over all reviews and over those with at least one Hangul syllable.

Usage: python bench/langid.py [--data ../shared/data] [--nsmc 5000] [--out bench/results/langid.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.langid import LanguageFilter  # noqa: E402
from curation.text import HANGUL_LETTER, hangul_ratio  # noqa: E402

PEER_THRESHOLD = 0.65  # datatrove LanguageFilter(language_threshold=0.65)
TRUNCATIONS = [None, 80, 40, 20, 10, 5]


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def decisions(texts: list[str], language_filter: LanguageFilter) -> dict[str, np.ndarray]:
    batch = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    scores = language_filter.score_batch(batch)
    ours = language_filter.decide(scores).keep
    top = np.array(scores["fasttext_language"].to_pylist())
    top_prob = scores["fasttext_score"].to_numpy(zero_copy_only=False)
    return {
        "ours": np.asarray(ours, dtype=bool),
        "fasttext_only": (top == "ko") & (top_prob >= PEER_THRESHOLD),
        "hangul_ratio_only": np.array([hangul_ratio(t) >= 0.5 for t in texts]),
    }


def precision_recall(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    true_positive = int((predicted & truth).sum())
    return {
        "precision": round(true_positive / max(int(predicted.sum()), 1), 4),
        "recall": round(true_positive / max(int(truth.sum()), 1), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "bench")
    parser.add_argument("--nsmc", type=int, default=5000, help="NSMC reviews to read (file order)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "langid.json")
    args = parser.parse_args()

    language_filter = LanguageFilter()
    results: dict = {"peer_rule": f"lid.176 top-1 == ko and score >= {PEER_THRESHOLD} (datatrove default)",
                     "ours": f"max(P_ko, hangul_ratio) >= {language_filter.threshold}", "mixed_lang": [], "nsmc": {}}

    mixed = read_jsonl(args.data / "mixed_lang.jsonl")
    truth = np.array([row["lang"] == "ko" for row in mixed])
    print(f"mixed_lang.jsonl: {len(mixed)} paragraphs, {int(truth.sum())} Korean")
    print(f"{'chars':>6} | {'ours P/R':>13} | {'fastText-only P/R':>17} | {'Hangul-only P/R':>15}")
    for cut in TRUNCATIONS:
        texts = [row["text"] if cut is None else row["text"][:cut] for row in mixed]
        start = time.perf_counter()
        decided = decisions(texts, language_filter)
        seconds = time.perf_counter() - start
        entry = {"chars": cut or "full", "docs_per_second": round(len(texts) / seconds, 1)}
        entry.update({name: precision_recall(keep, truth) for name, keep in decided.items()})
        results["mixed_lang"].append(entry)
        print(f"{str(cut or 'full'):>6} | " + " | ".join(
            f"{entry[n]['precision']:.3f}/{entry[n]['recall']:.3f}".rjust(w)
            for n, w in (("ours", 13), ("fasttext_only", 17), ("hangul_ratio_only", 15))))

    reviews = [row["text"] for row in read_jsonl(args.data / "nsmc_reviews.jsonl", args.nsmc)]
    with_hangul = np.array([bool(HANGUL_LETTER.search(t)) for t in reviews])
    decided = decisions(reviews, language_filter)
    print(f"\nnsmc_reviews.jsonl: {len(reviews)} reviews (median {int(np.median([len(t) for t in reviews]))} chars), "
          f"{int(with_hangul.sum())} contain Hangul")
    for name, keep in decided.items():
        recall_all = round(float(keep.mean()), 4)
        recall_hangul = round(float(keep[with_hangul].mean()), 4)
        results["nsmc"][name] = {"recall_all": recall_all, "recall_with_hangul": recall_hangul}
        print(f"  {name:18s} recall {recall_all:.4f} (all)  {recall_hangul:.4f} (with Hangul)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
