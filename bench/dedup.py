"""Fuzzy dedup on Korean near duplicates: shingle choice, LSH layout, accuracy and speed
against datasketch and datatrove.

1. Shingles: for character n-grams (n = 3..9, spaces kept or removed) the exact Jaccard of
   every pair; recall = share of lightly edited copies (<= 5 % of characters edited, same
   origin) at Jaccard >= 0.8, false = pairs of different origin at >= 0.8.
2. Layout: truth = every pair with exact Jaccard >= 0.8 on the chosen shingles (brute force
   over all pairs); found = pairs that share an LSH bucket, unverified, verified by the
   signature estimate (>= 0.8 of positions agree) or verified by exact Jaccard.
3. Speed: signature throughput on one core, ours against datasketch (MinHash.bulk, same
   number of permutations, character 5-grams) and datatrove (MinhashDedupSignature), each in
   its own process for a clean peak RSS; the peers run from the bench venv
   (bench/requirements-peers.txt) with bench/dedup_peers.py.

    python bench/dedup.py [--corpus out/bench/dedup_corpus.jsonl] [--peers-python .venv-bench/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dedup.minhash import MinHashConfig, MinHasher, band_hash  # noqa: E402
from curation.dedup.minhash import shingle_sets as library_shingle_sets  # noqa: E402

THRESHOLD = 0.8
LIGHT_EDIT = 0.05
ROOT = Path(__file__).resolve().parents[1]


def read_corpus(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def origin(doc_id: str) -> str:
    return doc_id.split("~", 1)[0]


def shingle_sets(texts: list[str], ngram: int, strip_spaces: bool) -> list[frozenset]:
    """The shingles our signatures are made of, as sets for brute-force Jaccard."""
    config = MinHashConfig(ngram=ngram, strip_spaces=strip_spaces)
    return [frozenset(hashes.tolist()) for hashes in library_shingle_sets(texts, config)]


def pairs_at_least(sets: list[frozenset], threshold: float) -> dict[tuple[int, int], float]:
    """Brute force over all pairs (pairs whose sizes alone rule out the threshold skipped)."""
    order = sorted(range(len(sets)), key=lambda i: len(sets[i]))
    sizes = [len(sets[i]) for i in order]
    found = {}
    for x in range(len(order)):
        a = sets[order[x]]
        for y in range(x + 1, len(order)):
            if sizes[x] < threshold * sizes[y]:
                break  # sorted by size: every later set is larger still
            inter = len(a & sets[order[y]])
            j = inter / (sizes[x] + sizes[y] - inter)
            if j >= threshold:
                i, k = sorted((order[x], order[y]))
                found[(i, k)] = j
    return found


def shingle_choice(docs: list[dict]) -> list[dict]:
    ids = [d["id"] for d in docs]
    texts = [d["text"] for d in docs]
    # Copies made with <= 5 % edits (ids "...~vK"; the corpus builder's strengths are not
    # stored, so the edit share is measured as the character edit ratio below).
    same_origin = {}
    by_origin: dict[str, list[int]] = {}
    for i, doc_id in enumerate(ids):
        by_origin.setdefault(origin(doc_id), []).append(i)
    light = set()
    for members in by_origin.values():
        for a, b in combinations(members, 2):
            same_origin[(min(a, b), max(a, b))] = True
            if _edit_share(texts[a], texts[b]) <= LIGHT_EDIT:
                light.add((min(a, b), max(a, b)))
    rows = []
    for ngram in (3, 4, 5, 6, 7, 9):
        for strip in (True, False):
            sets = shingle_sets(texts, ngram, strip)
            high = pairs_at_least(sets, THRESHOLD)
            recall = sum(1 for p in light if p in high) / max(len(light), 1)
            false = sum(1 for p in high if p not in same_origin)
            rows.append({"ngram": ngram, "strip_spaces": strip, "light_copy_recall": round(recall, 4),
                         "different_origin_pairs_at_0.8": false, "pairs_at_0.8": len(high)})
            print(f"  n={ngram} strip_spaces={strip!s:5}: recall of light copies {recall:.3f}, "
                  f"different-origin pairs >= 0.8: {false}")
    return rows


def _edit_share(a: str, b: str) -> float:
    """Character edit distance / longer length, banded (copies differ by few edits)."""
    import difflib

    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    return 1.0 - same / max(len(a), len(b), 1)


def lsh_pairs(signatures: np.ndarray, bands: int, verify: str, sets: list[frozenset]) -> set[tuple[int, int]]:
    """Every pair that shares a bucket in some band (all pairs of each bucket, for evaluation)."""
    found = set()
    for band in range(bands):
        hashes = band_hash(signatures, bands, band)
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        starts = np.flatnonzero(np.r_[True, sorted_hashes[1:] != sorted_hashes[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts.tolist(), ends.tolist()):
            if e - s > 1:
                for a, b in combinations(sorted(order[s:e].tolist()), 2):
                    found.add((a, b))
    if verify == "none":
        return found
    if verify == "exact":
        return {(a, b) for a, b in found if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= THRESHOLD}
    return {(a, b) for a, b in found if (signatures[a] == signatures[b]).mean() >= THRESHOLD}


def precision_recall(found: set, truth: set) -> dict[str, float]:
    hit = len(found & truth)
    return {"precision": round(hit / max(len(found), 1), 4), "recall": round(hit / max(len(truth), 1), 4),
            "pairs_found": len(found)}


def layouts(docs: list[dict], ngram: int, strip: bool) -> tuple[list[dict], set]:
    texts = [d["text"] for d in docs]
    sets = shingle_sets(texts, ngram, strip)
    truth = set(pairs_at_least(sets, THRESHOLD))
    rows = []
    for num_perm, bands in ((112, 14), (128, 16), (128, 32), (112, 28), (96, 24), (256, 32), (260, 20)):
        config = MinHashConfig(ngram=ngram, num_perm=num_perm, bands=bands, strip_spaces=strip)
        signatures = np.concatenate([MinHasher(config).signatures(texts[i:i + 1000])
                                     for i in range(0, len(texts), 1000)])
        for verify in ("none", "estimate", "exact"):
            row = {"num_perm": num_perm, "bands": bands, "rows": num_perm // bands, "verify": verify,
                   **precision_recall(lsh_pairs(signatures, bands, verify, sets), truth)}
            rows.append(row)
            print(f"  {num_perm:3d} = {bands:2d} x {num_perm // bands:2d} verify={verify:8s}: "
                  f"P {row['precision']:.3f} R {row['recall']:.3f} ({row['pairs_found']} pairs)")
    return rows, truth


def peer_accuracy(docs: list[dict], peers_python: str, corpus: Path) -> dict:
    """datasketch's own LSH (character 5-grams, 128 permutations, MinHashLSH at 0.8) against
    ours with the same shingles and permutations, both scored on brute-force 5-gram truth."""
    texts = [d["text"] for d in docs]
    sets = shingle_sets(texts, 5, True)
    truth = set(pairs_at_least(sets, THRESHOLD))
    pairs_file = corpus.with_name("datasketch_pairs.json")
    peer = run_isolated([peers_python, str(ROOT / "bench" / "dedup_peers.py"), str(corpus), "--peer", "datasketch",
                         "--num-perm", "128", "--ngram", "5", "--repeat", "1", "--lsh-pairs-out", str(pairs_file)])
    out = {"truth_pairs_5gram": len(truth)}
    if "error" in peer:
        out["datasketch"] = peer
    else:
        found = json.loads(pairs_file.read_text())
        out["datasketch_lsh"] = {**precision_recall({tuple(p) for p in found["candidates"]}, truth), **peer["lsh"]}
        out["datasketch_lsh_verified"] = precision_recall({tuple(p) for p in found["verified"]}, truth)
    config = MinHashConfig(ngram=5, num_perm=128, bands=16)
    signatures = np.concatenate([MinHasher(config).signatures(texts[i:i + 1000]) for i in range(0, len(texts), 1000)])
    out["ours_5gram_128_exact_verified"] = precision_recall(lsh_pairs(signatures, 16, "exact", sets), truth)
    for name, row in out.items():
        if isinstance(row, dict):
            print(f"  {name}: {json.dumps(row)}")
    return out


def our_throughput(texts: list[str], config: MinHashConfig, repeat: int = 3) -> dict:
    if hasattr(os, "sched_setaffinity"):  # one core, as the peers are pinned
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    hasher = MinHasher(config)
    rss_before = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # interpreter + texts
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, len(texts), 2048):
            hasher.signatures(texts[i:i + 2048])
        best = min(best, time.perf_counter() - start)
    return {"peer": "ours", "docs": len(texts), "seconds": round(best, 3),
            "docs_per_second": round(len(texts) / best, 1), "rss_before_compute_mb": rss_before,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_isolated(command: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "out" / "bench" / "dedup_corpus.jsonl")
    parser.add_argument("--peers-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--speed-docs", type=int, default=20000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["shingles", "layouts", "peers", "speed"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dedup.json")
    parser.add_argument("--speed-only-ours", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.corpus.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "dedup_corpus.py"), "--out", str(args.corpus)],
                       check=True)
    docs = read_corpus(args.corpus)
    defaults = MinHashConfig()
    if args.speed_only_ours:  # child process: our throughput with a clean peak RSS
        print(json.dumps(our_throughput([d["text"] for d in docs], defaults)))
        return 0

    results: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["corpus"] = {"documents": len(docs), "median_chars": int(np.median([len(d["text"]) for d in docs]))}
    if "shingles" not in args.skip:
        print("Shingles (exact Jaccard, all pairs):")
        results["shingles"] = shingle_choice(docs)
    if "layouts" not in args.skip:
        print(f"LSH layouts (n={defaults.ngram}, strip_spaces={defaults.strip_spaces}; "
              f"truth: all pairs >= {THRESHOLD}):")
        rows, truth = layouts(docs, defaults.ngram, defaults.strip_spaces)
        results["layouts"] = {"truth_pairs": len(truth), "rows": rows}
    if "peers" not in args.skip:
        print("Against datasketch on its own terms (character 5-grams, 128 permutations, truth on 5-grams):")
        results["peer_accuracy"] = peer_accuracy(docs, args.peers_python, args.corpus)
    if "speed" not in args.skip:
        # The same documents for every contender: the corpus repeated up to --speed-docs.
        speed_corpus = args.corpus.with_name("dedup_speed.jsonl")
        with speed_corpus.open("w", encoding="utf-8") as handle:
            for i in range(args.speed_docs):
                handle.write(json.dumps(docs[i % len(docs)], ensure_ascii=False) + "\n")
        print(f"Signature throughput, one core, {args.speed_docs} documents, {defaults.num_perm} permutations:")
        corpus = str(speed_corpus)
        speed = [run_isolated([sys.executable, __file__, "--corpus", corpus, "--speed-only-ours"])]
        for peer in ("datasketch", "datatrove"):
            speed.append(run_isolated([args.peers_python, str(ROOT / "bench" / "dedup_peers.py"), corpus,
                                       "--peer", peer, "--num-perm", str(defaults.num_perm),
                                       "--ngram", str(defaults.ngram)]))
        ours = speed[0].get("docs_per_second")
        for row in speed[1:]:
            if ours and row.get("docs_per_second"):
                row["ours_speedup"] = round(ours / row["docs_per_second"], 1)
        for row in speed:
            print("  " + json.dumps(row, ensure_ascii=False))
        results["speed"] = speed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
