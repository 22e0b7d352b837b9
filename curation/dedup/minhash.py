"""MinHash signatures of character n-grams, vectorised over whole batches of documents.

Korean has no reliable word boundaries (spacing varies between copies of the same text), so
shingles are character n-grams of the normalised text. The n-gram and the layout were chosen
by measurement (bench/dedup.py, README).

Signatures use one-permutation hashing with optimal densification (Li et al. 2012;
Shrivastava 2017): every shingle is hashed once, the hash picks one of `num_perm` bins and the
bin keeps its minimum; empty bins borrow from a fixed, seed-derived sequence of other bins. Each
signature position collides with probability equal to the Jaccard similarity, exactly as with
`num_perm` independent permutations, but costs one hash per shingle instead of `num_perm`.

Every step is integer array arithmetic written against an array module `xp` (numpy, or cupy
on a GPU), so both backends compute bit-identical signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curation.text import fold

EMPTY = np.uint32(0xFFFFFFFF)  # marks an empty bin before densification
_GOLDEN = 0x9E3779B97F4A7C15


@dataclass(frozen=True)
class MinHashConfig:
    """How documents become signatures and signatures become LSH buckets.

    Defaults (bench/dedup.py on Korean near duplicates, see README): character 3-grams with
    spaces removed recall the most lightly edited copies at Jaccard 0.8 (0.83, against 0.61 for
    5-grams) without more false pairs; 112 bins in 14 bands of 8 rows: a pair at Jaccard 0.8
    shares a band with probability 0.92 (0.99 of the bench pairs at >= 0.8 are found),
    a pair at 0.5 with 0.05.
    """

    ngram: int = 3
    num_perm: int = 112
    bands: int = 14
    seed: int = 1
    strip_spaces: bool = True

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.num_perm < 1 or self.bands < 1:
            raise ValueError("ngram, num_perm and bands must be positive")
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MinHashConfig:
        return cls(**{k: values[k] for k in ("ngram", "num_perm", "bands", "seed", "strip_spaces")})

    def as_dict(self) -> dict[str, Any]:
        return {"ngram": self.ngram, "num_perm": self.num_perm, "bands": self.bands,
                "seed": self.seed, "strip_spaces": self.strip_spaces, "scheme": "oph-densified-v1"}


def normalized_words(text: str) -> list[str]:
    """NFKC, lower case, split at whitespace (str.split and the regex \\s agree on what
    whitespace is; split is several times faster)."""
    return fold(text).split()


def normalize_for_shingles(text: str, strip_spaces: bool = True, words: list[str] | None = None) -> str:
    """NFKC, lower case, whitespace removed (or collapsed): copies that differ only in width
    forms, case or spacing get the same shingles. `words`: normalized_words(text), if known."""
    words = normalized_words(text) if words is None else words
    return "".join(words) if strip_spaces else " ".join(words)


def _mix64(xp, h):
    """splitmix64 finaliser: spreads every input bit over the whole 64-bit word."""
    h = h ^ (h >> xp.uint64(30))
    h = h * xp.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> xp.uint64(27))
    h = h * xp.uint64(0x94D049BB133111EB)
    return h ^ (h >> xp.uint64(31))


def _code_points(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """All texts' code points in one array, each text padded with NULs to at least `ngram`
    characters so that a short text still has one shingle (itself)."""
    padded = [t if len(t) >= ngram else t + "\0" * (ngram - len(t)) for t in texts]
    lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    points = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
    return points, lengths


def shingle_hashes(xp, points, lengths, ngram: int, seed: int):
    """64-bit hashes of every character n-gram that lies inside one document, and the index
    of its document. Rolling polynomial hash over the concatenation, then mixed."""
    total = int(points.shape[0])
    count = total - ngram + 1
    values = points.astype(xp.uint64)
    h = xp.full(count, xp.uint64(seed), dtype=xp.uint64)
    for k in range(ngram):
        h = h * xp.uint64(_GOLDEN) + values[k:k + count]
    h = _mix64(xp, h)
    ends = xp.cumsum(lengths)
    position = xp.arange(count, dtype=xp.int64)
    doc = xp.searchsorted(ends, position, side="right")  # (cupy.repeat takes no array counts)
    inside = position + ngram <= ends[doc]
    return h[inside], doc[inside]


def _densify_probes(num_perm: int, seed: int, attempts: int) -> np.ndarray:
    """(attempts, num_perm) bins that an empty bin borrows from, tried in order; fixed by the
    seed so that equal sets get equal signatures."""
    j = np.arange(num_perm, dtype=np.uint64)[None, :]
    t = np.arange(1, attempts + 1, dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        h = _mix64(np, (j * np.uint64(_GOLDEN)) ^ (t * np.uint64(0xD6E8FEB86659FD93)) ^ np.uint64(seed))
    return (h % np.uint64(num_perm)).astype(np.int64)


def _densify(xp, sig, probes):
    """Fill empty bins (documents with fewer shingles than bins); every document has at
    least one shingle, so every row has a filled bin to borrow from."""
    empty = sig == EMPTY
    rows = xp.flatnonzero(empty.any(axis=1))
    if rows.shape[0] == 0:
        return sig
    part, part_empty = sig[rows], empty[rows]
    filled = ~part_empty
    for attempt in range(probes.shape[0]):
        source = probes[attempt]
        take = part_empty & filled[:, source]
        part = xp.where(take, part[:, source], part)
        part_empty = part_empty & ~take
        if not bool(part_empty.any()):
            break
    if bool(part_empty.any()):  # very sparse documents: borrow from the next filled bin
        for shift in range(1, sig.shape[1]):
            rolled_filled = xp.roll(filled, -shift, axis=1)
            take = part_empty & rolled_filled
            part = xp.where(take, xp.roll(part, -shift, axis=1), part)
            part_empty = part_empty & ~take
            if not bool(part_empty.any()):
                break
    sig[rows] = part
    return sig


class MinHasher:
    """Signatures for batches of texts: `signatures(texts) -> (len(texts), num_perm) uint32`."""

    def __init__(self, config: MinHashConfig | None = None, xp: Any = np) -> None:
        self.config = config or MinHashConfig()
        self.xp = xp
        self._probes = xp.asarray(_densify_probes(self.config.num_perm, self.config.seed, attempts=64))

    def shingles(self, texts: Sequence[str], words: Sequence[list[str]] | None = None):
        """(hash, document) of every shingle of `texts`, on the array module. `words`: each
        text's normalized_words, when the caller has them already."""
        cfg, xp = self.config, self.xp
        normalized = [normalize_for_shingles(t, cfg.strip_spaces, w)
                      for t, w in zip(texts, words if words is not None else [None] * len(texts))]
        points, lengths = _code_points(normalized, cfg.ngram)
        with np.errstate(over="ignore"):
            return shingle_hashes(xp, xp.asarray(points), xp.asarray(lengths), cfg.ngram, cfg.seed)

    def signatures(self, texts: Sequence[str]):
        xp, cfg = self.xp, self.config
        if not texts:
            return xp.zeros((0, cfg.num_perm), dtype=xp.uint32)
        hashes, doc = self.shingles(texts)
        return self.signatures_of_shingles(hashes, doc, len(texts))

    def signatures_of_shingles(self, hashes, doc, count: int):
        """Signatures of `count` documents from their shingles (`shingles`)."""
        xp, cfg = self.xp, self.config
        with np.errstate(over="ignore"):
            bins = ((hashes >> xp.uint64(32)) % xp.uint64(cfg.num_perm)).astype(xp.int64)
            values = (hashes & xp.uint64(0xFFFFFFFF)).astype(xp.uint32)
            values = xp.minimum(values, xp.uint32(0xFFFFFFFE))  # EMPTY stays a marker
            # Minimum per (document, bin): sort (slot, value) packed in one word, keep each
            # slot's first entry.
            slot = (doc * cfg.num_perm + bins).astype(xp.uint64)
            packed = xp.sort((slot << xp.uint64(32)) | values.astype(xp.uint64))
            slot = (packed >> xp.uint64(32)).astype(xp.int64)
            values = (packed & xp.uint64(0xFFFFFFFF)).astype(xp.uint32)
            sig = xp.full(count * cfg.num_perm, EMPTY, dtype=xp.uint32)
            first = xp.ones(slot.shape[0], dtype=bool)
            first[1:] = slot[1:] != slot[:-1]
            sig[slot[first]] = values[first]
        return _densify(xp, sig.reshape(count, cfg.num_perm), self._probes)


def shingle_sets(texts: Sequence[str], config: MinHashConfig) -> list[np.ndarray]:
    """Sorted unique 64-bit shingle hashes of each text (the sets signatures estimate; the
    bench's ground truth)."""
    if not texts:
        return []
    hashes, doc = MinHasher(config).shingles(list(texts))
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
    return [np.unique(hashes[bounds[i]:bounds[i + 1]]) for i in range(len(texts))]


def band_hash(signatures, bands: int, band: int, xp: Any = np):
    """(n,) uint64: the hash of one band's `rows` signature values, salted by the band index
    so that equal values in different bands never share a bucket."""
    rows = signatures.shape[1] // bands
    values = signatures[:, band * rows:(band + 1) * rows].astype(xp.uint64)
    with np.errstate(over="ignore"):
        h = xp.full(values.shape[0], xp.uint64(band + 1), dtype=xp.uint64)
        for r in range(rows):
            h = _mix64(xp, h * xp.uint64(_GOLDEN) + values[:, r])
    return h


def band_hashes(signatures, bands: int, xp: Any = np):
    """(n, bands) uint64: every band's hash."""
    return xp.stack([band_hash(signatures, bands, band, xp) for band in range(bands)], axis=1)
