"""Exact deduplication: a 64-bit hash of the normalised text, first occurrence kept.

Normalisation (NFKC, lower case, runs of whitespace collapsed) makes copies that differ only in
full-width forms, case or spacing count as the same text; anything else is fuzzy dedup's job.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np

from curation.dedup.minhash import normalize_for_shingles


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """int64 hash of each normalised text (int64 because Parquet has no unsigned 64-bit type
    that every reader handles)."""
    out = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        digest = hashlib.blake2b(normalize_for_shingles(text, strip_spaces=False).encode("utf-8"), digest_size=8)
        out[i] = int.from_bytes(digest.digest(), "little", signed=True)
    return out


def deduplicate_exact(ids: Sequence[str], hashes: np.ndarray,
                      earlier: Iterable[tuple[np.ndarray, Sequence[str]]] = ()) -> list[str | None]:
    """For each document of a new partition: the id of the earlier document with the same
    normalised text, or None when kept. `earlier` yields (hashes, ids) of the kept documents
    of the partitions before this one, in order; only hashes that occur in the new partition
    are held in memory. Inside the partition the smallest id of equal texts is kept."""
    wanted = np.unique(hashes)
    first: dict[int, str] = {}
    for earlier_hashes, earlier_ids in earlier:
        hits = np.flatnonzero(np.isin(earlier_hashes, wanted))
        for i in hits.tolist():
            first.setdefault(int(earlier_hashes[i]), earlier_ids[i])
    duplicate_of: list[str | None] = [None] * len(ids)
    for i in sorted(range(len(ids)), key=ids.__getitem__):
        h = int(hashes[i])
        if h in first:
            duplicate_of[i] = first[h]
        else:
            first[h] = ids[i]
    return duplicate_of
