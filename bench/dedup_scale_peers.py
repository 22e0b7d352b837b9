"""The peers' fuzzy dedup of one Parquet file (id, text, in order): which documents each removes,
how fast on one core, and its peak RSS. Runs in the bench venv (bench/requirements-peers.txt),
never imports `curation`:

    .venv-bench/bin/python bench/dedup_scale_peers.py IN.parquet --peer datatrove|datasketch --removed OUT.json

* datatrove 0.10.1: its four MinHash stages as its examples run them (MinhashDedupSignature ->
  MinhashDedupBuckets -> MinhashDedupCluster -> MinhashDedupFilter), LocalPipelineExecutor with
  one worker, default MinhashConfig (14 buckets x 8 hashes, word 5-grams), words from its
  Korean tokenizer (Kiwi) or whitespace (--tokenizer).
* datasketch 2.0.0: MinHashLSH at threshold 0.8 with 112 permutations over our shingles
  (character 3-grams of the NFKC / lower-cased / space-free text); documents in order, each
  queried then inserted, removed when a candidate's estimated Jaccard reaches 0.8 (the usual
  streaming use of MinHashLSH).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def datasketch_run(path: str, num_perm: int, threshold: float) -> tuple[list[str], dict]:
    from datasketch import MinHash, MinHashLSH

    table = pq.read_table(path, columns=["id", "text"])
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    start = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    template = MinHash(num_perm=num_perm)
    sketches = {}
    removed = []
    for doc_id, text in zip(ids, texts):
        normal = "".join(unicodedata.normalize("NFKC", text or "").lower().split())
        shingles = {normal[i:i + 3].encode() for i in range(max(1, len(normal) - 2))}
        sketch = template.copy()
        sketch.update_batch(list(shingles))
        if any(sketches[c].jaccard(sketch) >= threshold for c in lsh.query(sketch)):
            removed.append(doc_id)
            continue
        lsh.insert(doc_id, sketch)
        sketches[doc_id] = sketch
    seconds = time.perf_counter() - start
    return removed, {"peer": "datasketch", "version": version("datasketch"), "seconds": round(seconds, 3),
                     "settings": {"num_perm": num_perm, "threshold": threshold,
                                  "bands_rows": list(lsh.b_r if hasattr(lsh, "b_r") else (lsh.b, lsh.r)),
                                  "shingles": "char 3-grams, NFKC, lower case, spaces removed"}}


def datatrove_run(path: str, tokenizer: str) -> tuple[list[str], dict]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.logging import logger
    from datatrove.utils.word_tokenizers import KiwiTokenizer, WhitespaceTokenizer

    logger.remove()
    work = Path(tempfile.mkdtemp(prefix="datatrove-dedup-"))
    source = work / "input"
    source.mkdir()
    shutil.copy(path, source / "part.parquet")
    config = MinhashConfig(num_buckets=14, hashes_per_bucket=8)

    def words():
        return KiwiTokenizer() if tokenizer == "kiwi" else WhitespaceTokenizer()

    def reader():
        return ParquetReader(str(source), glob_pattern="*.parquet", read_metadata=False, text_key="text", id_key="id")

    steps = [
        ([reader(), MinhashDedupSignature(output_folder=str(work / "signatures"), config=config,
                                          language=words())], 1),
        ([MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                              config=config)], 14),
        ([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                              config=config)], 1),
        ([reader(), MinhashDedupFilter(input_folder=str(work / "remove_ids"),
                                       exclusion_writer=ParquetWriter(str(work / "removed")))], 1),
    ]
    seconds = []
    for number, (pipeline, tasks) in enumerate(steps):
        start = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                              logging_dir=str(work / "logs" / str(number))).run()
        seconds.append(round(time.perf_counter() - start, 3))
    removed = []
    for file in sorted((work / "removed").glob("*.parquet")):
        removed.extend(pq.read_table(file, columns=["id"]).column("id").to_pylist())
    shutil.rmtree(work, ignore_errors=True)
    return removed, {"peer": "datatrove", "version": version("datatrove"), "seconds": round(sum(seconds), 3),
                     "stage_seconds": dict(zip(["signature", "buckets", "cluster", "filter"], seconds)),
                     "settings": {"minhash": str(config), "words": tokenizer}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--peer", choices=("datatrove", "datasketch"), required=True)
    parser.add_argument("--tokenizer", choices=("kiwi", "whitespace"), default="kiwi")
    parser.add_argument("--num-perm", type=int, default=112)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--removed", required=True, help="write the removed ids here (JSON list)")
    args = parser.parse_args()
    if args.peer == "datasketch":
        removed, result = datasketch_run(args.path, args.num_perm, args.threshold)
    else:
        removed, result = datatrove_run(args.path, args.tokenizer)
    rows = pq.ParquetFile(args.path).metadata.num_rows
    Path(args.removed).write_text(json.dumps(removed))
    print(json.dumps({**result, "documents": rows, "removed": len(removed),
                      "docs_per_second": round(rows / result["seconds"], 1), "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
