"""Exact deduplication's key: a 64-bit hash of the normalised text (decided in curation.dedup.engine).

Normalisation (NFKC, lower case, runs of whitespace collapsed) makes copies that differ only in
full-width forms, case or spacing count as the same text; anything else is fuzzy dedup's job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from curation.dedup.minhash import normalize_for_shingles


def text_hashes(texts: Sequence[str], words: Sequence[list[str]] | None = None) -> np.ndarray:
    """int64 hash of each normalised text (int64 because Parquet has no unsigned 64-bit type
    that every reader handles). `words`: each text's normalized_words, when known."""
    out = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        normal = normalize_for_shingles(text, strip_spaces=False, words=None if words is None else words[i])
        digest = hashlib.blake2b(normal.encode("utf-8"), digest_size=8)
        out[i] = int.from_bytes(digest.digest(), "little", signed=True)
    return out
