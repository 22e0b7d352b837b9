"""Run the end-to-end, scaling and GPU benches and write bench/results/{e2e,scaling,gpu}.json
and bench/results/SUMMARY.md. Called by bench/run.sh (which sets up the venvs and PATH).

Every measured run is its own process (so peak RSS is per run), one at a time, pinned to one
core: corpus (bench/corpus.py) -> ours (bench/e2e.py, project venv) -> datatrove
(bench/e2e_peers.py, bench venv) -> GPU (bench/gpu_dedup.py). Raw outputs of each run are kept
in out/bench/runs/NAME.json; with --reuse a run whose raw output exists (and whose corpus is
unchanged) is not repeated, so a long size can be measured once and the report rebuilt.

    python bench/e2e_report.py [--sizes 10000 100000 1000000] [--peer-sizes 10000 100000]
                               [--kiwi-sizes 10000] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUNS = ROOT / "out" / "bench" / "runs"
CORPORA = ROOT / "out" / "bench" / "corpus"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
PEERS_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
NEMO_PYTHON = ROOT / ".venv-nemo" / "bin" / "python"
WORK_DONE = ("the real chain from .warc.gz: WARC reading + extraction (jusText, Korean-tuned) + PII redaction "
             "+ language ID + heuristics + exact dedup + MinHash fuzzy dedup (verified) + perplexity "
             "+ quality (2 signals)")
PEER_WORK = ("the same .warc.gz files: WarcReader + Trafilatura + LanguageFilter + GopherRepetition + GopherQuality "
             "+ MinHash (signature, buckets, cluster, filter)")
NEMO_WORK = ("the same .warc.gz files: its Common Crawl WARC iterator + HTML extractor (jusText) + fastText language "
             "ID + the 25 filters of its non-English heuristic preset; no dedup (its exact and fuzzy dedup need cudf)")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_json(name: str, command: list[str], reuse: bool, corpus_card: dict | None = None) -> dict:
    """Run `command` (prints one JSON object last on stdout) unless --reuse finds its output."""
    RUNS.mkdir(parents=True, exist_ok=True)
    out, err = RUNS / f"{name}.json", RUNS / f"{name}.err"
    if reuse and out.exists():
        try:
            saved = json.loads(out.read_text().strip().splitlines()[-1])
            if corpus_card is None or saved.get("corpus_params") == corpus_card.get("params"):
                log(f"{name}: reusing {out.relative_to(ROOT)}")
                return saved
        except (ValueError, IndexError):
            pass
    log(f"{name}: {' '.join(str(c) for c in command)}")
    load = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    with err.open("w") as errors:
        done = subprocess.run([str(c) for c in command], stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}); see {err}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if corpus_card is not None:
        result["corpus_params"] = corpus_card["params"]
    result["process_seconds"] = round(time.perf_counter() - start, 1)
    result["load_average_before"] = load  # other work on the machine; timings are noisy when high
    out.write_text(json.dumps(result, ensure_ascii=False) + "\n")
    if "docs_per_second" in result:
        log(f"{name}: {result['docs_per_second']} docs/s, {result['seconds']} s")
    return result


def corpus(n: int) -> tuple[Path, dict]:
    """The corpus of N documents, then the same documents as .warc.gz pages (folder/warc):
    what both pipelines read."""
    folder = CORPORA / f"n{n}"
    log(f"corpus n={n}")
    done = subprocess.run([PROJECT_PYTHON, ROOT / "bench" / "corpus.py", str(n), "--out", folder],
                          stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT)
    card = json.loads(done.stdout.strip().splitlines()[-1])
    warc = folder / "warc"
    written = json.loads((warc / "warc.json").read_text()) if (warc / "warc.json").exists() else {}
    if written.get("documents") != n:
        subprocess.run([PROJECT_PYTHON, ROOT / "bench" / "warc_corpus.py", folder], stdout=subprocess.PIPE,
                       check=True, cwd=ROOT)
    return warc, card


def machine() -> dict:
    model = "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = None
    try:
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": memory, "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def with_ratios(peer: dict, ours: dict) -> dict:
    """The peer's run with ours / the peer's throughput, by wall time and by CPU time."""
    peer["ratio_ours_over_peer"] = round(ours["docs_per_second"] / peer["docs_per_second"], 1)
    peer["ratio_ours_over_peer_cpu"] = round(ours["docs_per_cpu_second"] / peer["docs_per_cpu_second"], 1)
    return peer


def loglog_slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares exponent b of seconds = a * N^b (1 = linear)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs), 3)


def stage_left(ours: dict | None, peer: dict | None) -> list[int]:
    """Documents kept after language ID, heuristics, dedup (and quality, ours only)."""
    if peer is not None and peer.get("pipeline") == "nemo-curator":
        return [peer["left"]["extraction"], peer["left"]["language_id"], peer["left"]["heuristics"]]
    if ours is not None:
        c = ours["counts"]
        return [c["extract"]["kept"], c["language_id"]["kept"], c["heuristics"]["kept"], c["dedup"]["kept"],
                c["quality"]["kept"]]
    flat = {name: v for step in peer["counts"].values() for name, v in step.items()}

    def forwarded(fragment: str) -> int:
        return next(int(v.get("forwarded", 0)) for name, v in flat.items() if fragment in name)

    return [forwarded("Trafilatura"), forwarded("Language ID"), forwarded("Gopher Quality"),
            forwarded("MinHash stage 4")]


def summary_md(e2e: dict, scaling: dict, gpu: dict, training: dict) -> str:
    lines = ["# Benchmark summary", "",
             f"Generated by `bash bench/run.sh` on {e2e['machine']['cpu']} ({e2e['machine']['cores']} cores, "
             f"{e2e['machine']['memory_gib']} GiB); every run pinned to one core, one run at a time. "
             f"Corpus: `bench/corpus.py` (Korean, {e2e['corpus_description']}).", "",
             "Reproduce: `bash bench/run.sh` (sizes: `BENCH_SIZES`, `BENCH_PEER_SIZES`, `BENCH_KIWI_SIZES`; "
             "`BENCH_REUSE=1` reuses finished runs in `out/bench/runs/`). Timings on a shared VM vary by up to 2x "
             "between runs; docs per CPU-second is the steadier figure.", "",
             "## End to end, one core", "",
             f"Ours: {WORK_DONE}. datatrove: {PEER_WORK}. NeMo Curator: {NEMO_WORK}.", "",
             "| documents | pipeline | wall s | docs/s | docs per CPU-s | kept | peak RSS MB | ours / this (docs/s) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in e2e["comparisons"]:
        ours = row["ours"]
        lines.append(f"| {row['documents']:,} | ours | {ours['seconds']} | {ours['docs_per_second']:,} | "
                     f"{ours['docs_per_cpu_second']:,} | {ours['kept']:,} | {ours['peak_rss_mb']:,} | 1.0 |")
        for peer in row["peers"]:
            words = "Kiwi" if peer["tokenizer"] == "kiwi" else "WhitespaceTokenizer / spaCy xx"
            name = (f"NeMo Curator {peer['version']} ({peer['executor']}; no dedup)"
                    if peer.get("pipeline") == "nemo-curator" else f"datatrove {peer['version']} ({words} words)")
            lines.append(f"| {row['documents']:,} | {name} | "
                         f"{peer['seconds']} | {peer['docs_per_second']:,} | {peer['docs_per_cpu_second']:,} | "
                         f"{peer['kept']:,} | {peer['peak_rss_mb']:,} | **{peer['ratio_ours_over_peer']}x** |")
    lines += ["", "Documents left after each kind of stage (what the later stages had to process):", "",
              "| documents | pipeline | after extraction | after language ID | after heuristics | after dedup "
              "| after quality |", "|---|---|---|---|---|---|---|"]
    for row in e2e["comparisons"]:
        left = stage_left(row["ours"], None)
        lines.append(f"| {row['documents']:,} | ours | " + " | ".join(f"{v:,}" for v in left) + " |")
        for peer in row["peers"]:
            left = stage_left(None, peer)
            if peer.get("pipeline") == "nemo-curator":
                lines.append(f"| {row['documents']:,} | NeMo Curator | " + " | ".join(f"{v:,}" for v in left)
                             + " | (no CPU dedup) | (no stage) |")
                continue
            lines.append(f"| {row['documents']:,} | datatrove ({peer['tokenizer']}) | "
                         + " | ".join(f"{v:,}" for v in left) + " | (no stage) |")
    lines += ["", *[f"- {d}" for d in e2e["differences"]], "",
              "## Scaling (ours, end to end, one core)", "",
              "| documents | wall s | docs/s | µs per document | peak RSS MB | kept | s in read / extract / pii / "
              "language ID / heuristics / dedup / perplexity / quality |", "|---|---|---|---|---|---|---|"]
    for row in scaling["runs"]:
        stages = " / ".join(str(round(row["stage_seconds"].get(k, 0), 1))
                            for k in ("read", "extract", "pii", "language_id", "heuristics", "dedup", "perplexity",
                                      "quality"))
        lines.append(f"| {row['documents']:,} | {row['seconds']} | {row['docs_per_second']:,} | "
                     f"{round(row['seconds'] / row['documents'] * 1e6)} | {row['peak_rss_mb']:,} | {row['kept']:,} | "
                     f"{stages} |")
    lines += ["", f"Time per document at the largest size / at the smallest: **{scaling['per_doc_cost_ratio']}** "
              f"(log-log exponent of wall time against documents: {scaling['time_exponent']}; 1 = linear). "
              f"Peak memory: {scaling['memory_note']}", "",
              "Model training (once, excluded from throughput): "
              f"perplexity model {training.get('perplexity_seconds')} s, "
              f"quality model {training.get('quality_seconds')} s.", "", "## GPU dedup", ""]
    if gpu.get("measured"):
        lines += ["| path | signatures docs/s | signatures + fuzzy decision docs/s |", "|---|---|---|",
                  f"| CPU ({gpu['cpu']}, numpy) | {gpu['cpu_path']['signature_docs_per_second']:,} | "
                  f"{gpu['cpu_path']['dedup_docs_per_second']:,} |",
                  f"| GPU ({gpu['gpu']}, cupy) | {gpu['gpu_path']['signature_docs_per_second']:,} | "
                  f"{gpu['gpu_path']['dedup_docs_per_second']:,} |", "",
                  f"{gpu['documents']:,} documents; GPU / CPU: signatures {gpu['signature_ratio_gpu_over_cpu']}x, "
                  f"with the fuzzy decision {gpu['dedup_ratio_gpu_over_cpu']}x; identical signatures: "
                  f"{gpu['identical_signatures']}."]
    else:
        lines.append(gpu.get("reason", "not measured"))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="sizes datatrove runs at with whitespace words (spaCy xx)")
    parser.add_argument("--kiwi-sizes", type=int, nargs="*", default=[10_000],
                        help="sizes datatrove runs at with its Korean word tokenizer (Kiwi: ~30 docs/s)")
    parser.add_argument("--nemo-sizes", type=int, nargs="*", default=[10_000],
                        help="sizes NeMo Curator 1.4.0 (CPU stages, .venv-nemo) runs at")
    parser.add_argument("--nemo-executor", default="ray_data", choices=("ray_data", "xenna"),
                        help="NeMo Curator's executor (ray_data: its faster one on one core)")
    parser.add_argument("--gpu-limit", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="reuse raw run outputs in out/bench/runs/")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin every run to (default: the last)")
    args = parser.parse_args()
    pin = [] if args.cpu is None else ["--cpu", str(args.cpu)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()

    training = run_json("train", [PROJECT_PYTHON, ROOT / "bench" / "e2e.py", "train"], reuse=False)
    sizes = sorted(set(args.sizes) | set(args.peer_sizes) | set(args.kiwi_sizes) | set(args.nemo_sizes))
    ours: dict[int, dict] = {}
    peers: dict[int, list[dict]] = {}
    cards: dict[int, dict] = {}
    for n in sizes:
        folder, card = corpus(n)
        cards[n] = card
        ours[n] = run_json(f"ours-n{n}", [PROJECT_PYTHON, ROOT / "bench" / "e2e.py", "run", folder, *pin],
                           args.reuse, card)
        for tokenizer, wanted in (("whitespace", args.peer_sizes), ("kiwi", args.kiwi_sizes)):
            if n in wanted:
                result = run_json(f"datatrove-{tokenizer}-n{n}",
                                  [PEERS_PYTHON, ROOT / "bench" / "e2e_peers.py", folder, "--tokenizer", tokenizer,
                                   *pin], args.reuse, card)
                peers.setdefault(n, []).append(with_ratios(result, ours[n]))
        if n in args.nemo_sizes:
            result = run_json(f"nemo-{args.nemo_executor}-n{n}",
                              [NEMO_PYTHON, ROOT / "bench" / "e2e_nemo.py", folder, "--executor", args.nemo_executor,
                               *pin], args.reuse, card)
            peers.setdefault(n, []).append(with_ratios(result, ours[n]))
    gpu_size = min(sizes, key=lambda n: abs(n - args.gpu_limit))
    gpu = run_json("gpu", [PROJECT_PYTHON, ROOT / "bench" / "gpu_dedup.py", CORPORA / f"n{gpu_size}",
                           "--limit", str(args.gpu_limit)], reuse=False)

    first = cards[sizes[0]]
    description = (f"{first['mean_chars']} characters per document on average; 72 % fresh recombined prose, "
                   "18 % near, exact and sentence-shuffled copies, 5 % comments, 3 % other languages, "
                   "2 % spam and menus")
    e2e = {"machine": info, "corpus_description": description, "work": {"ours": WORK_DONE, "datatrove": PEER_WORK,
                                                                          "nemo_curator": NEMO_WORK},
           "training": training,
           "comparisons": [{"documents": n, "corpus": cards[n], "ours": ours[n], "peers": peers[n]}
                           for n in sizes if n in peers],
           "differences": [
               "extraction: ours jusText tuned for Korean, datatrove Trafilatura (its default extractor); ours "
               "also redacts PII",
               "ours also runs a fastText quality classifier, two KenLM models (Moore-Lewis) and a perplexity "
               "model; datatrove's pipeline has no model-based quality stage",
               "ours dedups exact copies by normalised-text hash first, then MinHash on character 3-grams "
               "with exact-Jaccard verification of candidates; datatrove MinHash on word 5-grams, unverified",
               "datatrove's Gopher filters and MinHash tokenise words: with Kiwi (its Korean assignment) this "
               "dominates its cost; the whitespace variant (spaCy xx rules) is its cheapest option",
               "language ID: both lid.176.ftz; ours adds the Hangul ratio (threshold 0.5), datatrove 0.65 on P(ko)",
               "both write Parquet outputs; ours also writes every reject with reason and details",
               "NeMo Curator: jusText with boilerplate removal off for Korean (menus and footers stay in the text), "
               "its non-English heuristic preset (its WhiteSpaceFilter drops most Korean pages, its "
               "PunctuationFilter counts ASCII end marks only), no CPU dedup (cudf), the start of its local Ray "
               "cluster inside the wall time; CPU seconds and peak RSS summed over its Ray processes",
           ]}
    (RESULTS / "e2e.json").write_text(json.dumps(e2e, ensure_ascii=False, indent=2) + "\n")

    scaled = sorted(args.sizes)
    runs = [{"documents": n, "seconds": ours[n]["seconds"], "docs_per_second": ours[n]["docs_per_second"],
             "cpu_seconds": ours[n]["cpu_seconds"], "seconds_per_million_docs": ours[n]["seconds_per_million_docs"],
             "peak_rss_mb": ours[n]["peak_rss_mb"], "kept": ours[n]["kept"], "stage_seconds": ours[n]["stage_seconds"],
             "corpus_mean_chars": cards[n]["mean_chars"]} for n in scaled]
    small, large = runs[0], runs[-1]
    per_doc_ratio = round((large["seconds"] / large["documents"]) / (small["seconds"] / small["documents"]), 3)
    exponent = loglog_slope([(r["documents"], r["seconds"]) for r in runs])
    if len(runs) >= 2:
        slope = (large["peak_rss_mb"] - runs[-2]["peak_rss_mb"]) / (large["documents"] - runs[-2]["documents"])
        memory_note = (f"{small['peak_rss_mb']:,} MB at {small['documents']:,} documents, "
                       f"{large['peak_rss_mb']:,} MB at {large['documents']:,} "
                       f"(about {round(slope * 1e6):,} MB per million documents between the two largest sizes).")
    else:
        memory_note = f"{small['peak_rss_mb']:,} MB."
    scaling = {"machine": info, "runs": runs, "per_doc_cost_ratio": per_doc_ratio, "time_exponent": exponent,
               "linear_or_better": bool(exponent is not None and exponent <= 1.05), "memory_note": memory_note}
    (RESULTS / "scaling.json").write_text(json.dumps(scaling, ensure_ascii=False, indent=2) + "\n")
    (RESULTS / "gpu.json").write_text(json.dumps(gpu, ensure_ascii=False, indent=2) + "\n")
    (RESULTS / "SUMMARY.md").write_text(summary_md(e2e, scaling, gpu, training))
    written = (RESULTS / "e2e.json", RESULTS / "scaling.json", RESULTS / "gpu.json", RESULTS / "SUMMARY.md")
    log(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
