"""Exact Jaccard similarity of candidate pairs, from the documents' own shingles.

Only the documents that appear in a candidate pair are shingled again, in one streaming pass,
so memory holds the shingles of candidates, not of the partition.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pyarrow as pa

from curation.dedup.minhash import MinHashConfig, _code_points, normalize_for_shingles, shingle_hashes
from curation.stage import text_column


def shingle_sets(texts: list[str], config: MinHashConfig) -> list[np.ndarray]:
    """Sorted unique 64-bit shingle hashes of each text (the shingles signatures are made of)."""
    if not texts:
        return []
    normalized = [normalize_for_shingles(t, config.strip_spaces) for t in texts]
    points, lengths = _code_points(normalized, config.ngram)
    with np.errstate(over="ignore"):
        hashes, doc = shingle_hashes(np, points, lengths, config.ngram, config.seed)
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
    return [np.unique(hashes[bounds[i]:bounds[i + 1]]) for i in range(len(texts))]


def exact_similarity(batches: Iterable[pa.Table], config: MinHashConfig, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Jaccard of each pair (a[i], b[i]); rows index the documents in batch order."""
    needed = np.unique(np.concatenate([a, b])) if a.shape[0] else np.empty(0, np.int64)
    shingles: dict[int, np.ndarray] = {}
    offset = 0
    for batch in batches:
        n = batch.num_rows
        lo, hi = np.searchsorted(needed, [offset, offset + n])
        if hi > lo:
            rows = needed[lo:hi] - offset
            texts = text_column(batch.take(pa.array(rows, pa.int64())))
            for row, sets in zip(rows.tolist(), shingle_sets(texts, config)):
                shingles[offset + row] = sets
        offset += n
    similarity = np.empty(a.shape[0])
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        sx, sy = shingles[x], shingles[y]
        inter = np.intersect1d(sx, sy, assume_unique=True).shape[0]
        similarity[i] = inter / (sx.shape[0] + sy.shape[0] - inter)
    return similarity
