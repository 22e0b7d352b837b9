"""MinHash signature speed of the peers (datasketch, datatrove) on one core.

Runs in its own venv (bench/requirements-peers.txt), never imports `curation`:
    python -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements-peers.txt
    .venv-bench/bin/python bench/dedup_peers.py DATA.jsonl --peer datasketch [--limit N]

Only the signature computation is timed (best of --repeat), not reading the file or loading a
tokenizer model. Prints one JSON object on stdout.

* datasketch: character n-grams of the text normalised as our own MinHash does it (NFKC, lower
  case, whitespace removed; a text shorter than n is one shingle), utf-8 bytes, through
  `MinHash.generator` (the code path of `MinHash.bulk`: one initialised MinHash copied per
  document, then `update_batch`), default scheme affine32 and sha1 hash unless --ds-hash.
* datatrove: `MinhashDedupSignature` with its own text normalisation and word 5-grams. `seconds`
  times exactly the per-document work of its `run()` (get_shingles + get_signature) without the
  struct packing, bucket files, sort and checksum pass; `step_seconds` times the whole `run()`
  writing into a temporary local folder, as a user of the step would pay it.
"""

import os

# One core: thread pools of numpy's BLAS/OpenMP are sized when numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
    os.environ[_var] = "false" if _var == "TOKENIZERS_PARALLELISM" else "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
from importlib.metadata import version  # noqa: E402

import numpy as np  # noqa: E402

_SPACES = re.compile(r"\s+")
HASHES_PER_BUCKET = 8  # datatrove's default rows per band; the band count is fitted to --num-perm


def read_texts(path: str, limit: int | None, lang: str | None) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if lang and row.get("lang") != lang:
                continue
            texts.append(row["text"])
            if limit and len(texts) >= limit:
                break
    return texts


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def best_of(repeat: int, compute):
    """Best wall time of `repeat` calls (the least disturbed run) and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = compute()
        best = min(best, time.perf_counter() - start)
    return best, result


def char_shingles(text: str, ngram: int) -> list[bytes]:
    """Same shingles as curation.dedup.minhash (strip_spaces=True), so signatures compare set
    for set; a text shorter than the n-gram is kept whole rather than dropped."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", text).lower())
    if len(text) <= ngram:
        return [text.encode("utf-8")] if text else []
    return [text[i:i + ngram].encode("utf-8") for i in range(len(text) - ngram + 1)]


def datasketch_peer(texts: list[str], args):
    from datasketch import MinHash

    kwargs = {"num_perm": args.num_perm, "seed": 1}
    if args.ds_hash == "xxhash":  # the documented way to swap the hash: any bytes -> int callable
        import xxhash
        kwargs["hashfunc"] = xxhash.xxh32_intdigest
    scheme = MinHash(**kwargs).scheme
    config = {"shingles": f"char {args.ngram}-grams, NFKC+lower, whitespace removed, utf-8",
              "num_perm": args.num_perm, "seed": 1, "scheme": scheme, "hashfunc": args.ds_hash,
              "api": "MinHash.generator (= MinHash.bulk without keeping the objects)"}

    def compute():
        signatures = np.empty((len(texts), args.num_perm), dtype=np.uint64)
        shingle_lists = (char_shingles(text, args.ngram) for text in texts)
        for row, minhash in enumerate(MinHash.generator(shingle_lists, **kwargs)):
            signatures[row] = minhash.hashvalues
        return signatures

    rss_before = peak_rss_mb()  # interpreter, imports and the texts
    seconds, signatures = best_of(args.repeat, compute)
    return version("datasketch"), config, seconds, signatures, {"rss_before_compute_mb": rss_before}


def datasketch_pairs(signatures: np.ndarray, args) -> dict:
    """Candidate pairs of datasketch's own LSH index (bands/rows chosen by MinHashLSH for the
    threshold), written to --lsh-pairs-out; the estimate-verified subset alongside."""
    from datasketch import LeanMinHash, MinHashLSH

    lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
    sketches = [LeanMinHash(seed=1, hashvalues=row.astype(np.uint32), scheme="affine32") for row in signatures]
    for i, sketch in enumerate(sketches):
        lsh.insert(i, sketch)
    pairs = sorted({(min(i, j), max(i, j)) for i, sketch in enumerate(sketches) for j in lsh.query(sketch) if j != i})
    verified = [p for p in pairs if sketches[p[0]].jaccard(sketches[p[1]]) >= args.threshold]
    with open(args.lsh_pairs_out, "w", encoding="utf-8") as handle:
        json.dump({"candidates": pairs, "verified": verified}, handle)
    return {"bands": lsh.b, "rows": lsh.r, "candidates": len(pairs), "verified": len(verified)}


def datatrove_peer(texts: list[str], args):
    from datatrove.data import Document
    from datatrove.io import get_datafolder
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.logging import logger

    logger.remove()  # its "Sorting buckets..." lines would only clutter stderr
    num_buckets = max(1, round(args.num_perm / HASHES_PER_BUCKET))
    config = MinhashConfig(num_buckets=num_buckets, hashes_per_bucket=HASHES_PER_BUCKET,
                           hash_config=HashConfig(precision=64, hash_fc=args.dt_hash))
    scratch = tempfile.TemporaryDirectory()
    step = MinhashDedupSignature(output_folder=scratch.name, config=config, language=args.dt_language)
    step.get_shingles("모델 로딩 warm up")  # tokenizers load lazily: keep that out of the timing
    empty_row = np.full(step.num_hashes, np.iinfo(np.uint64).max, dtype=np.uint64)

    def compute():
        # The loop body of MinhashDedupSignature.run() up to struct.pack: a document with fewer
        # words than n_grams has no shingle and gets no signature (run() skips it).
        rows = []
        for text in texts:
            shingles = step.get_shingles(text)
            rows.append(np.concatenate(step.get_signature(shingles)).astype(np.uint64)
                        if shingles.size else empty_row)
        return np.stack(rows) if rows else np.empty((0, step.num_hashes), dtype=np.uint64)

    rss_before = peak_rss_mb()  # interpreter, imports, the texts and the tokenizer model
    seconds, signatures = best_of(args.repeat, compute)
    documents = [Document(text=text, id=str(i)) for i, text in enumerate(texts)]

    def run_step():
        with tempfile.TemporaryDirectory() as folder:
            step.output_folder = get_datafolder(folder)
            step.run(iter(documents))

    step_seconds, _ = best_of(args.repeat, run_step)
    scratch.cleanup()
    unsigned = int((signatures == empty_row).all(axis=1).sum()) if len(texts) else 0
    described = {"n_grams": config.n_grams, "num_buckets": num_buckets,
                 "hashes_per_bucket": HASHES_PER_BUCKET, "num_hashes": step.num_hashes,
                 "seed": config.seed, "hash_config": str(config.hash_config),
                 "norm_config": vars(config.norm_config), "language": args.dt_language,
                 "word_tokenizer": type(step.word_tokenizer).__name__}
    extra = {"step_seconds": round(step_seconds, 4), "docs_without_signature": unsigned,
             "rss_before_compute_mb": rss_before}
    return version("datatrove"), described, seconds, signatures, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="JSONL with a 'text' field per line")
    parser.add_argument("--peer", choices=("datasketch", "datatrove"), required=True)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--ngram", type=int, default=5, help="datasketch character n-gram")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--lang", default=None, help="keep rows whose 'lang' field equals this")
    parser.add_argument("--ds-hash", choices=("sha1", "xxhash"), default="sha1",
                        help="datasketch hashfunc (sha1 is its default)")
    parser.add_argument("--dt-hash", choices=("xxhash", "sha1"), default="xxhash",
                        help="datatrove HashConfig.hash_fc (xxhash is its default; needs xxhash<4)")
    parser.add_argument("--dt-language", default="ko",
                        help="datatrove word tokenizer language: ko -> KiwiTokenizer, en -> spaCy")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    parser.add_argument("--signatures-out", default=None, help="save (n, num_perm) uint64 .npy")
    parser.add_argument("--lsh-pairs-out", default=None,
                        help="datasketch: write the MinHashLSH(threshold=--threshold) candidate pairs as JSON")
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):  # pin to one core so no library can spread the work
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0)) if args.cpu is None else args.cpu})
    texts = read_texts(args.path, args.limit, args.lang)
    peer = datasketch_peer if args.peer == "datasketch" else datatrove_peer
    peer_version, config, seconds, signatures, extra = peer(texts, args)
    if args.signatures_out:
        np.save(args.signatures_out, signatures)
    if args.lsh_pairs_out and args.peer == "datasketch":
        extra["lsh"] = datasketch_pairs(signatures, args)
    print(json.dumps({
        "peer": args.peer, "version": peer_version, "config": config, "docs": len(texts),
        "chars": sum(map(len, texts)), "seconds": round(seconds, 4),
        "docs_per_second": round(len(texts) / seconds, 1) if seconds else None,
        **extra, "peak_rss_mb": peak_rss_mb(),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
