"""Peak memory of dedup per million documents, measured on the stage CLI end to end.

Builds Parquet inputs of N synthetic Korean documents (sentences of the dedup corpus
recombined, with 5 % near copies), runs `python -m curation dedup` on each size in its own
process and reads its peak RSS; the slope between sizes is the memory per document that
grows with the partition, the intercept the fixed cost (interpreter, pyarrow, fastText).

    python bench/dedup_memory.py [--sizes 50000 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = re.compile(r"(?<=[.!?다요])\s+")


def synthetic(n: int, corpus: Path, path: Path, seed: int = 11) -> None:
    rng = random.Random(seed)
    sentences = []
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            sentences.extend(s for s in SENTENCE.split(json.loads(line)["text"]) if len(s) > 15)
    writer = None
    batch_ids, batch_texts = [], []
    for i in range(n):
        if batch_texts and rng.random() < 0.05:  # a near copy of a recent document
            text = batch_texts[rng.randrange(len(batch_texts))].replace("다.", "다!", 1)
        else:
            text = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 6)))
        batch_ids.append(f"doc-{i:08d}")
        batch_texts.append(text)
        if len(batch_ids) == 50_000 or i == n - 1:
            table = pa.table({"id": batch_ids, "text": batch_texts})
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            batch_ids, batch_texts = [], []
    writer.close()


def measure(path: Path, out: Path) -> dict:
    start = time.perf_counter()
    code = ("import resource, sys; from curation.__main__ import main; rc = main(sys.argv[1:]); "
            "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "dedup", str(path), str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    lines = done.stdout.strip().splitlines()
    peak_kb = int(lines[-1].split()[1])
    return {"summary": lines[-2], "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--corpus", type=Path, default=ROOT / "out" / "bench" / "dedup_corpus.jsonl")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench" / "memory")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dedup_memory.json")
    args = parser.parse_args()
    if not args.corpus.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "dedup_corpus.py"), "--out", str(args.corpus)],
                       check=True)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        source = args.work / f"synthetic-{n}.parquet"
        if not source.exists():
            synthetic(n, args.corpus, source)
        row = {"documents": n, **measure(source, args.work / f"out-{n}.parquet")}
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False))
    result = {"runs": rows}
    if len(rows) >= 2:
        (a, b) = rows[0], rows[-1]
        per_doc = (b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["documents"] - a["documents"])
        result["mb_per_million_documents"] = round(per_doc * 1_000_000, 1)
        result["fixed_mb"] = round(a["peak_rss_mb"] - per_doc * a["documents"], 1)
        print(f"peak memory grows by {result['mb_per_million_documents']} MB per million documents "
              f"(fixed {result['fixed_mb']} MB)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
