"""NeMo Curator's equivalent pipeline (CPU stages) on one core, on the same .warc.gz corpus as bench/e2e.py.

Runs in its own venv (bench/requirements-nemo.txt), never imports `curation`:
    taskset -c 1 .venv-nemo/bin/python bench/e2e_nemo.py CORPUS_DIR/warc [--work DIR] [--lid-model PATH]
                                                         [--executor xenna|ray_data] [--extractor justext|...]

One NeMo Curator Pipeline, as its Common Crawl and heuristic-filter tutorials build it:
  FilePartitioningStage(*.warc.gz, one file per task)
  -> DocumentIterateExtractStage(CommonCrawlWarcIterator (warcio), CommonCrawlHTMLExtractor)
     the extractor's default algorithm is jusText (what CommonCrawlDownloadExtractStage uses when
     html_extraction is None); it picks the jusText stop list from pycld2's language of the HTML
     (KOREAN is in jusText's lists) and, for Korean, turns jusText's boilerplate removal off
     (NON_SPACED_LANGUAGES: every paragraph is kept, menus and footers included)
  -> ScoreFilter(FastTextLangId(lid.176.ftz, lang="ko"))  its default min_langid_score 0.3
  -> the 25 ScoreFilter stages of its non-English heuristic preset
     (config/text/heuristic_filter_non_english_pipeline.yaml, instantiated from the yaml as is)
  -> JsonlWriter
No dedup: both its exact dedup (ExactDuplicateIdentification) and its fuzzy (MinHash LSH)
dedup import cudf, so neither has a CPU path.

Executor: Xenna (Pipeline.run's default) in batch mode: its streaming mode refuses to start on
one core. --executor ray_data uses RayDataExecutor instead. Either starts a local Ray cluster
(GCS, raylet, dashboard, one worker process per stage actor) inside the run; this script makes
itself a child subreaper, so every Ray process stays in its process tree: their CPU time and
memory are sampled (every 0.1 s) and counted, and whatever survives ray.shutdown() (NeMo Curator
leaves `ray::` workers behind) is ended by PID before the JSON is printed.

Prints one JSON object (the keys of bench/e2e_peers.py where they apply): wall seconds of
pipeline.run (Ray start-up, model loads and shutdown included, imports not), docs/s (input pages
/ wall), CPU seconds of this process and all its Ray processes, per-stage seconds (NeMo
Curator's own StagePerfStats.process_time) and document counts, kept documents, peak RSS (the
sum over the process tree, sampled; and this process' own), version, and what differs.
"""

import os

from peer_env import ROOT, default_lid_model, pin  # first: one thread per pool before any library loads

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
PRESET = "config/text/heuristic_filter_non_english_pipeline.yaml"


def count_pages(corpus: Path) -> int:
    """Response records in the corpus (warc.json of bench/warc_corpus.py, else counted)."""
    card = corpus / "warc.json"
    if card.exists():
        return int(json.loads(card.read_text())["documents"])
    from warcio.archiveiterator import ArchiveIterator

    pages = 0
    for path in sorted(corpus.glob("*.warc.gz")):
        with path.open("rb") as handle:
            pages += sum(1 for record in ArchiveIterator(handle) if record.rec_type == "response")
    return pages


class TreeMonitor:
    """Samples CPU time and RSS of every descendant (Ray's processes) while the pipeline runs."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.psutil = psutil
        self.me = psutil.Process()
        self.interval = interval
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, create_time) -> user + system seconds
        self.seen: dict[tuple[int, float], str] = {}
        self.peak_tree_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        rss = self.me.memory_info().rss
        for child in self.me.children(recursive=True):
            try:
                with child.oneshot():
                    key = (child.pid, child.create_time())
                    times = child.cpu_times()
                    if child.status() != self.psutil.STATUS_ZOMBIE:
                        rss += child.memory_info().rss
                    self.cpu[key] = times.user + times.system
                    if key not in self.seen:
                        self.seen[key] = child.name()
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied, self.psutil.ZombieProcess):
                continue
        self.peak_tree_rss = max(self.peak_tree_rss, rss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def end_survivors(self) -> list[str]:
        """End (by PID) the descendants still alive after the run: Ray workers left behind."""
        alive = [p for p in self.me.children(recursive=True) if p.status() != self.psutil.STATUS_ZOMBIE]
        names = []
        for proc in alive:
            try:
                names.append(f"{proc.pid}:{proc.name()}")
                proc.terminate()
            except self.psutil.NoSuchProcess:
                pass
        _, still = self.psutil.wait_procs(alive, timeout=5)
        for proc in still:
            try:
                proc.kill()
            except self.psutil.NoSuchProcess:
                pass
        self.psutil.wait_procs(still, timeout=5)
        while True:  # reap the orphans re-parented to this subreaper
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
                if not self.me.children():
                    break
        return names


def main() -> int:  # noqa: C901, PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of *.warc.gz (bench/warc_corpus.py)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--lid-model", default=None)
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last allowed one)")
    parser.add_argument("--executor", choices=("xenna", "ray_data"), default="xenna",
                        help="xenna = Pipeline.run's default executor (batch mode); ray_data = RayDataExecutor")
    parser.add_argument("--extractor", choices=("justext", "resiliparse", "trafilatura"), default="justext",
                        help="CommonCrawlHTMLExtractor algorithm (its default: justext)")
    parser.add_argument("--keep-output", action="store_true")
    args = parser.parse_args()
    core = pin(args.cpu)
    corpus = args.corpus.resolve()
    if not list(corpus.glob("*.warc.gz")):
        raise SystemExit(f"no .warc.gz under {corpus}")
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    # Everything the framework and Ray print goes to stderr: stdout carries only the JSON.
    stdout = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import hydra.utils
    import nemo_curator
    from nemo_curator.pipeline import Pipeline
    from nemo_curator.stages.file_partitioning import FilePartitioningStage
    from nemo_curator.stages.text.download.base.iterator import DocumentIterateExtractStage
    from nemo_curator.stages.text.download.common_crawl.extract import CommonCrawlHTMLExtractor
    from nemo_curator.stages.text.download.common_crawl.warc_iterator import CommonCrawlWarcIterator
    from nemo_curator.stages.text.filters.fasttext.fasttext_filters import FastTextLangId
    from nemo_curator.stages.text.filters.score_filter import ScoreFilter
    from nemo_curator.stages.text.io.writer import JsonlWriter
    from omegaconf import OmegaConf

    work = (args.work or ROOT / "out" / "bench" / "e2e" / f"nemo-{corpus.parent.name}").resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    lid_model = args.lid_model or default_lid_model()
    pages = count_pages(corpus)

    preset_path = Path(nemo_curator.__file__).parent / PRESET
    preset = OmegaConf.load(preset_path)
    preset.input_path, preset.output_path = str(corpus), str(work / "output")
    heuristic_specs = [s for s in preset.stages if s._target_.endswith("ScoreFilter")]
    heuristics = [hydra.utils.instantiate(spec) for spec in heuristic_specs]

    extract = DocumentIterateExtractStage(iterator=CommonCrawlWarcIterator(),
                                          extractor=CommonCrawlHTMLExtractor(algorithm=args.extractor),
                                          add_filename_column=False)
    warcs = [str(p) for p in sorted(corpus.glob("*.warc.gz"))]
    stages = [FilePartitioningStage(file_paths=warcs, files_per_partition=1,
                                    file_extensions=["gz"]),  # it matches the last suffix only,
              extract,
              ScoreFilter(FastTextLangId(model_path=lid_model, lang="ko"), text_field="text"),
              *heuristics,
              JsonlWriter(path=str(work / "output"))]
    pipeline = Pipeline(name="nemo_e2e_ko", stages=stages)
    if args.executor == "xenna":
        from nemo_curator.backends.xenna import XennaExecutor

        executor = XennaExecutor(config={"execution_mode": "batch"})
    else:
        from nemo_curator.backends.ray_data import RayDataExecutor

        executor = RayDataExecutor()

    monitor = TreeMonitor()
    monitor.start()
    cpu_self_start = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    results = pipeline.run(executor)
    total = time.perf_counter() - wall
    cpu_self_end = resource.getrusage(resource.RUSAGE_SELF)
    monitor.stop()
    survivors = monitor.end_survivors()

    cpu_self = (cpu_self_end.ru_utime + cpu_self_end.ru_stime) - (cpu_self_start.ru_utime + cpu_self_start.ru_stime)
    cpu_tree = sum(monitor.cpu.values())
    cpu = cpu_self + cpu_tree

    # NeMo Curator's per-stage stats ride on the output tasks: process_time and the number of
    # input items (documents for DocumentBatch stages, files for the iterate-extract stage).
    per_stage: dict[str, dict] = {}
    for task in results or []:
        for stat in task._stage_perf:
            entry = per_stage.setdefault(stat.stage_name, {"documents": 0, "seconds": 0.0})
            entry["documents"] += int(stat.num_items_processed)
            entry["seconds"] += float(stat.process_time)
    names = [s.name for s in pipeline.stages]
    kept = 0
    for path in (work / "output").glob("*.jsonl"):
        with path.open() as handle:
            kept += sum(1 for _ in handle)
    counts: dict[str, dict] = {}
    for i, name in enumerate(names):
        entry = per_stage.get(name, {"documents": 0, "seconds": 0.0})
        forwarded = per_stage.get(names[i + 1], {}).get("documents") if i + 1 < len(names) else None
        if name == extract.name:
            entry = {**entry, "files": entry["documents"], "documents": pages}
        counts[name] = {"documents": entry["documents"], "forwarded": forwarded, "seconds": round(entry["seconds"], 3)}
    lid_name = names[names.index(extract.name) + 1]
    heuristic_names = names[names.index(lid_name) + 1:-1]
    stage_seconds = {
        "partition": counts[names[0]]["seconds"],
        "read_extract": counts[extract.name]["seconds"],
        "language_id": counts[lid_name]["seconds"],
        "heuristics": round(sum(counts[n]["seconds"] for n in heuristic_names), 3),
        "write": counts[names[-1]]["seconds"],
    }
    stage_seconds["framework_overhead"] = round(total - sum(stage_seconds.values()), 3)
    left = {"extraction": counts[extract.name]["forwarded"], "language_id": counts[lid_name]["forwarded"],
            "heuristics": counts[heuristic_names[-1]]["forwarded"], "dedup": None}
    emptied = [n for n in heuristic_names if counts[n]["documents"] and counts[n]["forwarded"] == 0]
    biggest = max(heuristic_names, key=lambda n: (counts[n]["documents"] or 0) - (counts[n]["forwarded"] or 0))
    result = {
        "pipeline": "nemo-curator", "version": version("nemo-curator"), "executor": args.executor,
        "tokenizer": "whitespace", "documents": pages,
        "seconds": round(total, 3), "docs_per_second": round(pages / total, 1) if total else None,
        "pages_per_second": round(pages / total, 1) if total else None,
        "cpu_seconds": round(cpu, 3), "cpu_seconds_driver": round(cpu_self, 3), "cpu_seconds_ray": round(cpu_tree, 3),
        "docs_per_cpu_second": round(pages / cpu, 1) if cpu else None,
        "seconds_per_million_docs": round(total / pages * 1e6, 1) if pages else None,
        "stage_seconds": stage_seconds, "kept": kept, "left": left, "counts": counts,
        "exact_dedup": "not available on CPU (ExactDuplicateIdentification imports cudf)",
        "fuzzy_dedup": "not available on CPU",
        "settings": {"extractor": f"CommonCrawlHTMLExtractor({args.extractor})",
                     "lid": "FastTextLangId(lang='ko', min_langid_score=0.3 default)",
                     "lid_model": os.path.basename(lid_model), "heuristics": PRESET,
                     "heuristic_filters": len(heuristic_names),
                     "executor": "XennaExecutor(execution_mode='batch')" if args.executor == "xenna"
                     else "RayDataExecutor()", "writer": "JsonlWriter"},
        "cpu": core, "peak_rss_mb": round(monitor.peak_tree_rss / 2**20, 1),
        "peak_rss_mb_driver": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "processes_started": len(monitor.seen), "processes_ended_after_shutdown": survivors,
        "notes": [
            "extraction: jusText (the Common Crawl extractor's default) with its Korean stop list; for Korean "
            "NeMo Curator disables jusText's boilerplate removal, so menus, sidebars and footers stay in the text",
            "language ID: lid.176.ftz with FastTextLangId's default threshold 0.3 on the top label",
            "heuristics: its non-English preset unchanged (English-tuned: ASCII end marks in PunctuationFilter, "
            "English boilerplate strings, whitespace words)",
            f"filters that emptied the stream: {emptied or 'none'}; the one that dropped most: {biggest}",
            "no dedup: exact and fuzzy dedup are GPU-only (cudf)",
            "Ray cluster start-up and shutdown are inside the wall time; CPU seconds include every Ray process",
        ],
    }
    if not args.keep_output:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    os.dup2(stdout, 1)
    sys.stdout = os.fdopen(1, "w", closefd=False)
    print(json.dumps(result, ensure_ascii=False))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
