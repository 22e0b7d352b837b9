"""Our curation chain end to end on one core: language ID -> heuristics -> exact + fuzzy dedup
-> perplexity -> quality, through the library (curation/), as the assets chain the stages.

    python bench/e2e.py train [--models out/bench/models]
    python bench/e2e.py run CORPUS_DIR [--models ...] [--work ...] [--cpu N]

`train` fits the models once, as assets/models.py does: the perplexity model (SentencePiece +
KenLM lmplz, needs lmplz/build_binary on PATH) on the shared KLUE reference prose, the quality
model (fastText classifier + the web KenLM of the Moore-Lewis signal) on the reference against
a random sample of "web" documents (5,000 documents of the bench corpus generator with another
seed, passed through language ID as the asset samples web/language_filtered). Reused while
the folder holds them; the seconds it took are printed.

`run` streams the corpus' Parquet shards (id, text) in batches of curation.io's default size:
LanguageFilter and HeuristicFilter per batch (kept batches written to a Parquet file, as the
stage assets write their partitions), then curation.dedup.engine.deduplicate_partition over that
file (exact text hashes, MinHash signatures, LSH, exact-Jaccard verification, connected
components; the passes re-read the file), then PerplexityFilter and QualityFilter per kept
batch; final documents and every stage's rejects are written to Parquet. Settings are the
asset defaults (language threshold 0.5, MinHash 3-grams 112 = 14 x 8, Jaccard 0.8 verified,
perplexity annotates only, quality min bucket 10). The process is pinned to one core with
BLAS/OpenMP pools of one thread. Prints one JSON object: wall seconds of the pipeline (after
imports; model loading included), docs/s, per-stage seconds and counts, and peak RSS of the
process (run one size per process for per-size peaks).
"""

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from peer_env import pin  # first: one thread per pool before any library loads

# isort: split
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from curation.dedup.engine import DedupSettings, deduplicate_partition  # noqa: E402
from curation.documents import REJECT_SCHEMA  # noqa: E402
from curation.extract import HtmlTextExtractor  # noqa: E402
from curation.heuristics import HeuristicFilter  # noqa: E402
from curation.io import DEFAULT_BATCH_ROWS, iter_parquet_batches  # noqa: E402
from curation.langid import LanguageFilter  # noqa: E402
from curation.perplexity import PerplexityFilter, PerplexityScorer, train_perplexity_model  # noqa: E402
from curation.pii import PiiRedactor  # noqa: E402
from curation.quality import DEFAULT_MIN_BUCKET, QualityFilter, QualityScorer, train_quality_model  # noqa: E402
from curation.sources.warc import WarcFileStats, record_batches  # noqa: E402
from curation.stage import BatchStats, text_column  # noqa: E402

DATA = ROOT / "data" / "bench"  # shipped (scripts/build_bench_data.py); --data ../shared/data for the full sets
MODELS = ROOT / "out" / "bench" / "models"
NEGATIVE_SEED = 1234
NEGATIVES = 5_000


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reference_texts(data: Path) -> list[str]:
    with (data / "reference_ko.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def web_sample(data: Path, n: int) -> list[str]:
    """N documents of the corpus generator (another seed) that pass language ID: the random
    web sample the quality model's negative class is drawn from."""
    from corpus import Sources, documents

    stream = documents(Sources(data), seed=NEGATIVE_SEED)
    texts = [text for _, text in (next(stream) for _ in range(int(n * 1.1)))]
    stage = LanguageFilter()
    kept, _, _ = stage.process(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}))
    sample = text_column(kept)
    random.Random(NEGATIVE_SEED).shuffle(sample)
    return sample[:n]


def train(models: Path, data: Path) -> dict:
    """Train both models unless `models/card.json` says they are there; returns the card."""
    card_path = models / "card.json"
    if card_path.exists():
        return {**json.loads(card_path.read_text()), "reused": True}
    if models.exists():
        shutil.rmtree(models)
    models.mkdir(parents=True)
    reference = reference_texts(data)
    start = time.perf_counter()
    perplexity_card = train_perplexity_model(reference, models / "perplexity")
    perplexity_seconds = time.perf_counter() - start
    negatives = web_sample(data, NEGATIVES)
    start = time.perf_counter()
    train_quality_model(reference, negatives, models / "quality", language_model_dir=models / "perplexity")
    card = {"perplexity_seconds": round(perplexity_seconds, 1),
            "quality_seconds": round(time.perf_counter() - start, 1),
            "reference_texts": len(reference), "negative_texts": len(negatives),
            "perplexity_cutoffs": [perplexity_card["head_max"], perplexity_card["middle_max"]]}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return {**card, "reused": False}


class Timer:
    def __init__(self) -> None:
        self.seconds: Counter = Counter()

    def add(self, name: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[name] += now - start
        return now


def through(stages, batch: pa.Table, timer: Timer, rejects, totals: dict) -> tuple[pa.Table, float]:
    """`batch` through the named stages in order, each timed under its name and its stats summed
    into `totals`; their rejects are written after the last stage (timed as "write" by the
    caller from the returned start)."""
    dropped = []
    start = time.perf_counter()
    for name, stage in stages:
        batch, rejected, stats = stage.process(batch)
        totals.setdefault(name, BatchStats())
        totals[name] += stats
        dropped.append(rejected)
        start = timer.add(name, start)
    for rejected in dropped:
        rejects.write(rejected)
    return batch, start


def timed(iterator, timer: Timer, name: str):
    """Yield from `iterator`, charging the time spent inside it to `name`."""
    iterator = iter(iterator)
    while True:
        start = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            timer.add(name, start)
            return
        timer.add(name, start)
        yield item


class Sink:
    """A Parquet file written batch by batch (schema of the first batch)."""

    def __init__(self, path: Path, schema: pa.Schema | None = None) -> None:
        self.path, self.writer, self.rows = path, None, 0
        if schema is not None:
            self.writer = pq.ParquetWriter(path, schema)

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema) if table.schema != self.writer.schema else table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run(corpus: Path, models: Path, work: Path, extractor: str = "justext") -> dict:
    warc_files = sorted(str(p) for p in corpus.glob("*.warc.gz"))
    shards = sorted(str(p) for p in corpus.glob("part-*.parquet"))
    if not shards and not warc_files:
        raise SystemExit(f"no part-*.parquet or *.warc.gz in {corpus}: build it with bench/corpus.py "
                         "(and bench/warc_corpus.py)")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    timer = Timer()
    cpu_start = cpu_seconds()
    wall = time.perf_counter()

    # The real chain from WARC files: read records, extract the main text, redact PII first.
    filters = ([("extract", HtmlTextExtractor(extractor=extractor)), ("pii", PiiRedactor())] if warc_files else [])
    filters += [("language_id", LanguageFilter()), ("heuristics", HeuristicFilter())]
    scorers = [("perplexity", PerplexityFilter(PerplexityScorer(models / "perplexity"), reject=())),
               ("quality", QualityFilter(QualityScorer(models / "quality"), min_bucket=DEFAULT_MIN_BUCKET))]
    rejects = Sink(work / "rejects.parquet", REJECT_SCHEMA)

    # 1. Per-batch filters, kept documents to a Parquet file (the next stage's input).
    filtered = Sink(work / "filtered.parquet")
    totals: dict[str, BatchStats] = {}
    rows_in = 0
    def inputs():
        if not warc_files:
            yield from iter_parquet_batches(shards, columns=["id", "text"], batch_rows=DEFAULT_BATCH_ROWS)
            return
        for records, unreadable, _ in record_batches(warc_files, "bench", WarcFileStats(), root=str(corpus)):
            rejects.write(unreadable)
            yield records

    for batch in timed(inputs(), timer, "read"):
        rows_in += batch.num_rows
        kept, start = through(filters, batch, timer, rejects, totals)
        filtered.write(kept)
        timer.add("write", start)
    start = time.perf_counter()
    filtered.close()
    timer.add("write", start)

    # 2. Exact + fuzzy dedup over the filtered file (several passes), then 3. scoring per kept batch.
    start = time.perf_counter()
    def filtered_batches():
        return iter_parquet_batches([str(work / "filtered.parquet")], batch_rows=DEFAULT_BATCH_ROWS)

    decisions = deduplicate_partition(filtered_batches, "bench", DedupSettings())
    split = decisions.split(filtered_batches())
    timer.add("dedup", start)
    curated = Sink(work / "curated.parquet")
    for kept, rejected, stats in timed(split, timer, "dedup"):
        totals.setdefault("dedup", BatchStats())
        totals["dedup"] += stats
        start = time.perf_counter()
        rejects.write(rejected)
        timer.add("write", start)
        kept, start = through(scorers, kept, timer, rejects, totals)
        curated.write(kept)
        timer.add("write", start)
    start = time.perf_counter()
    curated.close()
    rejects.close()
    timer.add("write", start)
    seconds = time.perf_counter() - wall
    cpu = cpu_seconds() - cpu_start

    order = [name for name, _ in filters] + ["dedup"] + [name for name, _ in scorers]
    counts = {name: {"in": c.rows_in, "kept": c.rows_kept, "rejected": dict(sorted(c.rejects_by_reason.items()))}
              for name, c in ((name, totals.get(name, BatchStats())) for name in order)}
    if curated.rows + rejects.rows != rows_in:
        raise RuntimeError(f"accounting: {rows_in} in, {curated.rows} kept + {rejects.rows} rejected")
    return {"pipeline": "ours", "documents": rows_in, "seconds": round(seconds, 3),
            "docs_per_second": round(rows_in / seconds, 1),
            "cpu_seconds": round(cpu, 3), "docs_per_cpu_second": round(rows_in / cpu, 1),
            "seconds_per_million_docs": round(seconds / rows_in * 1e6, 1),
            "stage_seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
            "counts": counts, "kept": curated.rows, "rejected": rejects.rows,
            "output_bytes": sum(p.stat().st_size for p in work.glob("*.parquet")),
            "batch_rows": DEFAULT_BATCH_ROWS, "minhash": DedupSettings().minhash.as_dict(), "threshold": 0.8,
            "quality_min_bucket": DEFAULT_MIN_BUCKET, "perplexity_reject": []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("train", "run"))
    parser.add_argument("corpus", type=Path, nargs="?")
    parser.add_argument("--models", type=Path, default=MODELS)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=None,
                        help="output folder (default out/bench/e2e/ours-<corpus name>)")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    parser.add_argument("--keep-output", action="store_true", help="leave the Parquet outputs in --work")
    parser.add_argument("--extractor", default="justext", help="main-text extractor of a WARC corpus")
    args = parser.parse_args()
    core = pin(args.cpu)
    if args.command == "train":
        print(json.dumps({"models": str(args.models), **train(args.models, args.data)}))
        return 0
    if args.corpus is None:
        parser.error("run needs CORPUS")
    if not (args.models / "card.json").exists():
        parser.error(f"no trained models in {args.models}: run `python bench/e2e.py train` first")
    work = args.work or ROOT / "out" / "bench" / "e2e" / f"ours-{args.corpus.name}"
    result = run(args.corpus, args.models, work, args.extractor)
    if not args.keep_output:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({**result, "cpu": core, "peak_rss_mb": peak_rss_mb()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
