"""Fuzzy dedup at crawl scale: cost per partition as history grows, memory of one large
partition on 1 and 2 Dask workers, and cross-partition precision / recall.

Documents are generated from the repo's own sample (KLUE sentences and persona narratives,
data/sample): each original joins 2-6 random sentences (~300 characters); a partition holds
70 % originals, 10 % exact copies and 20 % near copies (0.5-7 % of characters replaced, so
that many straddle Jaccard 0.8) of documents drawn uniformly from itself and every earlier
partition. Any document can be regenerated from (partition, row), so no pool is held in memory.

    python bench/dedup_scale.py history [--partitions 10] [--rows 200000]
    python bench/dedup_scale.py memory [--rows 5000000] [--workers 1 2]
    python bench/dedup_scale.py cross [--rows 3000]
    python bench/dedup_scale.py peers [--rows 6000] [--speed-rows 200000]   (needs .venv-bench)

Each partition is deduplicated in its own process (`one`, the library entry point that the
CLI calls), so every figure (wall time, bytes read, peak RSS) belongs to that partition only.
Results go to bench/results/dedup_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.dedup.engine import DedupSettings, deduplicate_partition  # noqa: E402
from curation.dedup.index import DedupIndex  # noqa: E402
from curation.dedup.minhash import MinHashConfig, MinHasher, shingle_sets  # noqa: E402
from curation.io import AtomicTableWriter, iter_parquet_batches  # noqa: E402
from curation.parallel import dask_client  # noqa: E402

OUT = ROOT / "out" / "bench" / "dedup_scale"
RESULTS = ROOT / "bench" / "results" / "dedup_scale.json"
SENTENCE = re.compile(r"(?<=[.!?다요])\s+")


def sentences() -> list[str]:
    found = []
    with (ROOT / "data" / "sample" / "reference" / "reference_ko.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            found.extend(s for s in SENTENCE.split(json.loads(line)["text"]) if len(s) > 15)
    for path in sorted((ROOT / "data" / "sample" / "personas" / "sample-100").glob("*.parquet")):
        table = pq.read_table(path)
        for name in table.column_names:
            if table.schema.field(name).type == pa.string() and name.endswith("persona"):
                for text in table.column(name).to_pylist():
                    found.extend(s for s in SENTENCE.split(text or "") if len(s) > 15)
    return sorted(set(found))


class Corpus:
    def __init__(self, rows: int, seed: int = 5) -> None:
        self.rows, self.seed = rows, seed
        self.pool = sentences()
        self.alphabet = [chr(0xAC00 + i) for i in range(0, 11172, 3)]

    def original(self, partition: int, row: int) -> str:
        rng = random.Random(hash((self.seed, partition, row)) & 0xFFFFFFFF)
        return " ".join(rng.choice(self.pool) for _ in range(rng.randint(2, 6)))

    def document(self, partition: int, row: int) -> tuple[str, str]:
        """(text, kind): kind is original, exact or near (a copy of an earlier-or-same row)."""
        rng = random.Random(hash((self.seed + 1, partition, row)) & 0xFFFFFFFF)
        kind = rng.random()
        if kind < 0.7 or (partition == 0 and row == 0):
            return self.original(partition, row), "original"
        source = rng.randint(0, partition)
        limit = row if source == partition else self.rows
        if limit == 0:  # the first row of a partition has nothing of its own to copy
            return self.original(partition, row), "original"
        text = self.original(source, rng.randrange(limit))
        if kind < 0.8:
            return text, "exact"
        chars = list(text)
        for _ in range(max(1, int(len(chars) * rng.uniform(0.005, 0.07)))):
            chars[rng.randrange(len(chars))] = rng.choice(self.alphabet)
        return "".join(chars), "near"

    def batch(self, partition: int, start: int, stop: int) -> pa.Table:
        docs = [self.document(partition, r) for r in range(start, stop)]
        return pa.table({"id": [f"s{partition:02d}/{r:08d}" for r in range(start, stop)],
                         "text": [d[0] for d in docs], "kind": [d[1] for d in docs]})

    def write(self, partition: int, path: Path, batch: int = 50_000) -> None:
        """Generated on every core (the same rows whatever the number of processes)."""
        if path.exists():
            return
        from multiprocessing import Pool

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        writer = None
        spans = [(partition, start, min(start + batch, self.rows)) for start in range(0, self.rows, batch)]
        with Pool(len(os.sched_getaffinity(0))) as pool:
            for table in pool.imap(self._batch, spans):
                writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
        writer.close()
        tmp.rename(path)

    def _batch(self, span: tuple[int, int, int]) -> pa.Table:
        return self.batch(*span)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(args: argparse.Namespace) -> int:
    """Deduplicate one partition file against the index (in this process, or on Dask) and
    print its figures as JSON."""
    settings = DedupSettings(memory_budget_mb=args.budget_mb, map_rows=args.map_rows)
    index = DedupIndex.open(args.index, settings.layout())

    def read():
        return iter_parquet_batches([args.input], columns=["id", "text"], batch_rows=8192)

    start = time.perf_counter()
    workers_rss = {}
    with dask_client(args.dask, workers=args.workers) as client:
        result = deduplicate_partition(read, args.name, settings, index, client=client)
        if client is not None:
            workers_rss = {address: round(kb / 1024, 1) for address, kb in client.run(
                lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).items()}
    peak_before_split = peak_rss_mb()
    kept = AtomicTableWriter(args.output)
    for batch, _, _ in result.split(read()):
        kept.write(batch)
    kept.close()
    seconds = time.perf_counter() - start
    print(json.dumps({"name": args.name, "rows": result.rows, "seconds": round(seconds, 2),
                      "driver_peak_rss_mb": round(peak_rss_mb(), 1), "workers_peak_rss_mb": workers_rss,
                      "driver_peak_rss_before_split_mb": round(peak_before_split, 1),
                      "stats": result.stats.as_dict()}))
    return 0


def run_one(input_path: Path, name: str, index: Path, dask: str = "", workers: int = 0,
            budget_mb: float = 512, map_rows: int = 16384, pin: str = "") -> dict:
    command = (["taskset", "-c", pin] if pin else []) + [sys.executable, str(Path(__file__).resolve()), "one",
               str(input_path), "--name", name,
               "--index", str(index), "--output", str(OUT / "kept" / f"{name}.parquet"),
               "--budget-mb", str(budget_mb), "--map-rows", str(map_rows)]
    if dask:
        command += ["--dask", dask, "--workers", str(workers)]
    (OUT / "kept").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def history(args: argparse.Namespace) -> dict:
    corpus = Corpus(args.rows)
    index = OUT / f"history-{args.rows}"
    if index.exists():
        shutil.rmtree(index)
    runs = []
    for p in range(args.partitions):
        path = OUT / "data" / f"rows{args.rows}-p{p:02d}.parquet"
        corpus.write(p, path)
        figures = run_one(path, f"p{p:02d}", index)
        stats = figures["stats"]
        runs.append({"partition": p, "rows": figures["rows"], "seconds": figures["seconds"],
                     "seconds_by_pass": stats["seconds"], "bytes_read_mb": round(stats["bytes_read"] / 2**20, 1),
                     "index_bytes_read_mb": round(stats["index_bytes_read"] / 2**20, 1),
                     "exact_duplicates": stats["exact_duplicates"], "fuzzy_duplicates": stats["fuzzy_duplicates"],
                     "cross_partition_matches": stats["cross_partition_matches"],
                     "peak_rss_mb": figures["driver_peak_rss_mb"]})
        print(json.dumps(runs[-1]), flush=True)
    index_mb = sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 2**20
    return {"partitions": args.partitions, "rows_per_partition": args.rows, "runs": runs,
            "last_over_first_seconds": round(runs[-1]["seconds"] / runs[0]["seconds"], 3),
            "index_mb": round(index_mb, 1)}


def memory(args: argparse.Namespace) -> dict:
    corpus = Corpus(args.rows)
    path = OUT / "data" / f"rows{args.rows}-p00.parquet"
    corpus.write(0, path)
    runs = []
    for workers in args.workers:
        index = OUT / f"memory-{args.rows}-w{workers}"
        if index.exists():
            shutil.rmtree(index)
        figures = run_one(path, "p00", index, dask="local", workers=workers, budget_mb=args.budget_mb)
        workers_rss = figures["workers_peak_rss_mb"]
        runs.append({"workers": workers, "rows": figures["rows"], "seconds": figures["seconds"],
                     "driver_peak_rss_mb": figures["driver_peak_rss_mb"], "workers_peak_rss_mb": workers_rss,
                     "sum_of_peaks_mb": round(figures["driver_peak_rss_mb"] + sum(workers_rss.values()), 1),
                     "driver_peak_rss_before_split_mb": figures["driver_peak_rss_before_split_mb"],
                     "hash_ranges": figures["stats"]["hash_ranges"], "seconds_by_pass": figures["stats"]["seconds"],
                     "duplicates": figures["stats"]["exact_duplicates"] + figures["stats"]["fuzzy_duplicates"]})
        print(json.dumps(runs[-1]), flush=True)
    return {"rows": args.rows, "budget_mb": args.budget_mb, "runs": runs}


def cross(args: argparse.Namespace) -> dict:
    """Precision / recall of duplicate pairs against brute-force Jaccard >= 0.8: pairs inside
    the second partition and pairs between it and the first partition's kept documents, with
    sketch verification (ours) and with the 112-position signature estimate (the old way)."""
    corpus = Corpus(args.rows, seed=9)
    tables = []
    for p in range(2):
        docs = [corpus.document(p, r)[0] for r in range(args.rows)]
        tables.append(pa.table({"id": [f"s{p}/{r:06d}" for r in range(args.rows)], "text": docs}))
    settings = DedupSettings()
    work = OUT / "cross"
    shutil.rmtree(work, ignore_errors=True)
    index = DedupIndex.open(str(work / "index"), settings.layout())
    first = deduplicate_partition(lambda: [tables[0]], "p0", settings, index)
    kept_first = np.setdiff1d(np.arange(args.rows), first.dup_rows)
    # The second partition's candidates (unverified), then both verifications of the same pairs.
    loose = deduplicate_partition(lambda: [tables[1]], "p1", DedupSettings(threshold=None, exact=False), index,
                                  add=False, keep_edges=True)
    strict = deduplicate_partition(lambda: [tables[1]], "p1", DedupSettings(exact=False), index, add=False,
                                   keep_edges=True)
    config = MinHashConfig()
    texts = [tables[0].column("text").to_pylist(), tables[1].column("text").to_pylist()]
    sets = [shingle_sets(t, config) for t in texts]
    signatures = [MinHasher(config).signatures(t) for t in texts]

    def edges(result):
        a_row = result.edges[0] & ((1 << 40) - 1)
        b_ord, b_row = result.edges[1] >> 40, result.edges[1] & ((1 << 40) - 1)
        within = {(int(x), int(y)) for x, y, o in zip(a_row, b_row, b_ord) if o == 1}
        across = {(int(x), int(kept_first[y])) for x, y, o in zip(a_row, b_row, b_ord) if o == 0}
        return within, across

    truth_within = {(x, y) for x, y in all_pairs_at_least(sets[1], sets[1]) if x < y}
    kept_set = set(kept_first.tolist())
    truth_across = {(x, y) for x, y in all_pairs_at_least(sets[1], sets[0]) if y in kept_set}
    candidates_within, candidates_across = edges(loose)
    found_within, found_across = edges(strict)

    def estimate(pairs, other):
        return {(x, y) for x, y in pairs if (signatures[1][x] == signatures[other][y]).mean() >= 0.8}

    def pr(found, truth):
        hit = len(found & truth)
        return {"precision": round(hit / max(len(found), 1), 4), "recall": round(hit / max(len(truth), 1), 4),
                "found": len(found), "truth": len(truth)}

    return {"rows": args.rows, "minhash": config.as_dict(), "sketch_size": settings.sketch_size,
            "within": {"sketch": pr(found_within, truth_within),
                       "signature_estimate": pr(estimate(candidates_within, 1), truth_within),
                       "unverified": pr(candidates_within, truth_within)},
            "across": {"sketch": pr(found_across, truth_across),
                       "signature_estimate": pr(estimate(candidates_across, 0), truth_across),
                       "unverified": pr(candidates_across, truth_across)}}


def greedy_duplicates(texts: list[str], threshold: float = 0.8) -> set[int]:
    """Rows with an earlier row at exact Jaccard >= threshold: what keeping the first copy
    removes (the doc-level truth every system is scored against)."""
    sets = shingle_sets(texts, MinHashConfig())
    return {x for x, y in all_pairs_at_least(sets, sets, threshold) if y < x}


def peers(args: argparse.Namespace) -> dict:
    """Ours, datatrove's four MinHash stages and datasketch MinHashLSH on the same documents,
    each in its own process pinned to one core: removed documents against the brute-force
    truth (precision, recall), docs/s and peak RSS; then speed and RSS alone on a larger file."""
    venv = ROOT / ".venv-bench" / "bin" / "python"
    if not venv.exists():
        raise SystemExit("bench: no .venv-bench; python3 -m venv .venv-bench && .venv-bench/bin/pip install -r "
                         "bench/requirements-peers.txt")
    core = str(max(os.sched_getaffinity(0)))
    corpus = Corpus(args.rows // 2, seed=13)
    small = OUT / "data" / f"peers-{args.rows}.parquet"
    if not small.exists():
        small.parent.mkdir(parents=True, exist_ok=True)
        docs = [corpus.document(p, r)[0] for p in range(2) for r in range(args.rows // 2)]
        pq.write_table(pa.table({"id": [f"d{i:07d}" for i in range(len(docs))], "text": docs}), small)
    table = pq.read_table(small)
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    truth = {ids[i] for i in greedy_duplicates(texts)}

    def ours(path: Path, name: str) -> tuple[set[str], dict]:
        index = OUT / f"peers-index-{name}"
        shutil.rmtree(index, ignore_errors=True)
        start = time.perf_counter()
        figures = run_one(path, name, index, pin=core)
        all_ids = set(pq.read_table(path, columns=["id"]).column("id").to_pylist())
        kept = set(pq.read_table(OUT / "kept" / f"{name}.parquet", columns=["id"]).column("id").to_pylist())
        return all_ids - kept, {"peer": "ours", "seconds": figures["seconds"],
                                "wall_with_start": round(time.perf_counter() - start, 2),
                                "docs_per_second": round(figures["rows"] / figures["seconds"], 1),
                                "peak_rss_mb": figures["driver_peak_rss_mb"], "documents": figures["rows"]}

    def peer(path: Path, which: str, tokenizer: str = "kiwi") -> tuple[set[str], dict]:
        removed_path = OUT / f"removed-{which}-{tokenizer}.json"
        done = subprocess.run(["taskset", "-c", core, str(venv), str(ROOT / "bench" / "dedup_scale_peers.py"),
                               str(path), "--peer", which, "--tokenizer", tokenizer, "--removed", str(removed_path)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        return set(json.loads(removed_path.read_text())), json.loads(done.stdout.strip().splitlines()[-1])

    def scored(removed: set[str], figures: dict) -> dict:
        hit = len(removed & truth)
        return {**figures, "removed": len(removed), "precision": round(hit / max(len(removed), 1), 4),
                "recall": round(hit / max(len(truth), 1), 4)}

    accuracy = [scored(*ours(small, "peers-small")), scored(*peer(small, "datatrove", "kiwi")),
                scored(*peer(small, "datatrove", "whitespace")), scored(*peer(small, "datasketch"))]
    for row in accuracy:
        print(json.dumps(row), flush=True)
    speed = []
    if args.speed_rows:
        big = OUT / "data" / f"rows{args.speed_rows}-p00.parquet"
        Corpus(args.speed_rows).write(0, big)
        for removed, figures in (ours(big, "peers-big"), peer(big, "datatrove", "whitespace"),
                                 peer(big, "datasketch")):
            speed.append({**figures, "removed": len(removed)})
            print(json.dumps(speed[-1]), flush=True)
    return {"documents": len(ids), "truth_duplicates": len(truth), "core": core, "accuracy": accuracy,
            "speed_documents": args.speed_rows, "speed": speed}


def all_pairs_at_least(queries: list[np.ndarray], targets: list[np.ndarray],
                       threshold: float = 0.8) -> list[tuple[int, int]]:
    """Brute force: every (query, target) with exact Jaccard >= threshold, by intersecting
    each query's shingles with all targets' at once."""
    values = np.concatenate(targets)
    owner = np.repeat(np.arange(len(targets)), [t.shape[0] for t in targets])
    sizes = np.array([t.shape[0] for t in targets])
    order = np.argsort(values, kind="stable")
    values, owner = values[order], owner[order]
    found = []
    for x, shingles in enumerate(queries):
        lo, hi = np.searchsorted(values, shingles, side="left"), np.searchsorted(values, shingles, side="right")
        hits = owner[np.concatenate([np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist()) if b > a]
                                    or [np.empty(0, np.int64)])]
        inter = np.bincount(hits, minlength=len(targets))
        jaccard = inter / (shingles.shape[0] + sizes - inter)
        found.extend((x, int(y)) for y in np.flatnonzero(jaccard >= threshold).tolist()
                     if y != x or queries is not targets)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    h = commands.add_parser("history")
    h.add_argument("--partitions", type=int, default=10)
    h.add_argument("--rows", type=int, default=200_000)
    m = commands.add_parser("memory")
    m.add_argument("--rows", type=int, default=5_000_000)
    m.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    m.add_argument("--budget-mb", type=float, default=512)
    c = commands.add_parser("cross")
    c.add_argument("--rows", type=int, default=3000)
    e = commands.add_parser("peers")
    e.add_argument("--rows", type=int, default=6000)
    e.add_argument("--speed-rows", type=int, default=200_000)
    o = commands.add_parser("one")
    o.add_argument("input")
    o.add_argument("--name", required=True)
    o.add_argument("--index", required=True)
    o.add_argument("--output", required=True)
    o.add_argument("--dask", default="")
    o.add_argument("--workers", type=int, default=0)
    o.add_argument("--budget-mb", type=float, default=512)
    o.add_argument("--map-rows", type=int, default=16384)
    args = parser.parse_args()
    if args.command == "one":
        return one(args)
    result = {"history": history, "memory": memory, "cross": cross, "peers": peers}[args.command](args)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved[args.command] = result
    RESULTS.write_text(json.dumps(saved, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
