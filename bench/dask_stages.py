"""Fused against stage-by-stage execution of the web chain's per-document stages (extraction,
PII, language ID, heuristics) on Dask LocalClusters of 1 and 2 workers, from WARC records.

    python bench/dask_stages.py [--pages 8000] [--workers 1 2] [--out bench/results/dask_stages.json]

Input: --pages pages of the bench corpus (`e2e_report.corpus`: bench/corpus.py from the
shipped pack data/bench, then bench/warc_corpus.py, as the end-to-end bench builds it), read
into WARC record batches before the clock starts, as the
`web/warc_records` partition holds them. Modes, each timed from the first batch submitted to
the last kept batch back on the driver:
  - in_process: every stage here, batch by batch (`chain_batches` without a client);
  - stages_W: one Dask round trip per stage and batch (each stage streams the previous
    stage's kept batches back through the driver, as separate assets would);
  - fused_W: one round trip per batch through all four stages (`chain_batches`, what one
    step of the web chain's multi-asset does).
Each cluster is started before the clock starts (a deployment's cluster is long-lived); model
loading on the workers is inside the timing, as it is in process. Per-core efficiency of W
workers: (pages/s on W) / (W x pages/s on 1). Outputs of every mode are checked identical.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
from e2e_report import corpus  # noqa: E402

from curation.extract import HtmlTextExtractor  # noqa: E402
from curation.heuristics import HeuristicFilter  # noqa: E402
from curation.langid import LanguageFilter  # noqa: E402
from curation.parallel import available_cpus, chain_batches, process_batches  # noqa: E402
from curation.pii import PiiRedactor  # noqa: E402
from curation.sources.warc import WarcFileStats, record_batches  # noqa: E402


def stages() -> list:
    return [HtmlTextExtractor(), PiiRedactor(), LanguageFilter(), HeuristicFilter()]


def warc_batches(pages: int) -> list[pa.Table]:
    warc, _ = corpus(pages)  # the end-to-end bench's corpus of that size (built once, then reused)
    files = sorted(str(path) for path in warc.glob("*.warc.gz"))
    return [kept for kept, _, _ in record_batches(files, "bench", WarcFileStats(), root=str(warc))]


def stage_by_stage(tables: list[pa.Table], client) -> list[pa.Table]:
    stream = iter(tables)
    for stage in stages():
        stream = (kept for kept, _, _ in process_batches(stage, stream, client))
    return list(stream)


def fused(tables: list[pa.Table], client) -> list[pa.Table]:
    return [chained.splits[-1][0] for chained in chain_batches(stages(), iter(tables), client)]


def timed(run, tables, client) -> tuple[float, pa.Table]:
    start = time.perf_counter()
    kept = run(tables, client)
    return time.perf_counter() - start, pa.concat_tables(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "dask_stages.json"))
    args = parser.parse_args()
    tables = warc_batches(args.pages)
    pages = sum(table.num_rows for table in tables)
    seconds = {}
    seconds["in_process"], reference = timed(fused, tables, None)

    from distributed import Client, LocalCluster

    identical = True
    for workers in args.workers:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            for name, run in (("stages", stage_by_stage), ("fused", fused)):
                seconds[f"{name}_{workers}"], kept = timed(run, tables, client)
                identical &= kept.equals(reference)
    rates = {mode: round(pages / value, 1) for mode, value in seconds.items()}
    result = {
        "pages": pages, "kept": reference.num_rows, "cpus": available_cpus(), "os_cpus": os.cpu_count(),
        "stages": [stage.name for stage in stages()], "pages_per_s": rates,
        "fused_over_stages": {w: round(rates[f"fused_{w}"] / rates[f"stages_{w}"], 2) for w in args.workers},
        "per_core_efficiency": {w: round(rates[f"fused_{w}"] / (w * rates[f"fused_{args.workers[0]}"]
                                                                 / args.workers[0]), 2) for w in args.workers},
        "identical_output": identical,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
