"""The per-document stages (PII, language ID, heuristics) in process against a Dask LocalCluster,
on the same documents: docs/s of each, the ratio, and whether the outputs are identical.

    python bench/dask_stages.py [--docs 40000] [--workers 2] [--out bench/results/dask_stages.json]

Documents: the shared Korean data (KLUE reference prose, NSMC reviews, chatbot QA, mixed
languages) cycled to --docs, in batches of curation.io's default size. The cluster is started
before the clock starts (a long-lived cluster is what a deployment uses); model loading on the
workers is inside the timing, as it is for the in-process run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from curation.heuristics import HeuristicFilter  # noqa: E402
from curation.io import DEFAULT_BATCH_ROWS  # noqa: E402
from curation.langid import LanguageFilter  # noqa: E402
from curation.parallel import process_batches  # noqa: E402
from curation.pii import PiiRedactor  # noqa: E402

SHARED = ROOT / "data" / "bench"  # the shipped pack; ../shared/data has the full sets
SOURCES = ("reference_ko.jsonl", "nsmc_reviews.jsonl", "chatbot_qa.jsonl", "mixed_lang.jsonl")


def texts(limit: int) -> list[str]:
    pool = []
    for name in SOURCES:
        with (SHARED / name).open(encoding="utf-8") as handle:
            pool += [json.loads(line)["text"] for line in handle]
    return list(islice(cycle(pool), limit))


def batches(documents: list[str]) -> list[pa.Table]:
    return [pa.table({"id": [f"d{i}" for i in range(start, start + len(chunk))], "text": chunk})
            for start in range(0, len(documents), DEFAULT_BATCH_ROWS)
            for chunk in [documents[start:start + DEFAULT_BATCH_ROWS]]]


def chain(tables: list[pa.Table], client) -> tuple[float, list[pa.Table]]:
    """PII -> language -> heuristics, each stage streaming the previous stage's kept batches."""
    start = time.perf_counter()
    stream = iter(tables)
    for stage in (PiiRedactor(), LanguageFilter(), HeuristicFilter()):
        stream = (kept for kept, _, _ in process_batches(stage, stream, client))
    kept = list(stream)
    return time.perf_counter() - start, kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "dask_stages.json"))
    args = parser.parse_args()
    tables = batches(texts(args.docs))
    local_seconds, local_kept = chain(tables, None)

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        dask_seconds, dask_kept = chain(tables, client)
    identical = pa.concat_tables(local_kept).equals(pa.concat_tables(dask_kept))
    result = {
        "documents": args.docs, "kept": sum(t.num_rows for t in local_kept), "cpus": os.cpu_count(),
        "in_process_docs_per_s": round(args.docs / local_seconds, 1),
        "dask_workers": args.workers, "dask_docs_per_s": round(args.docs / dask_seconds, 1),
        "speedup": round(local_seconds / dask_seconds, 2), "identical_output": identical,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
