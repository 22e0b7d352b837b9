"""Benchmark decontamination for Korean: drop (or cut out) documents that contain benchmark
text, so that a model is not trained on its test set.

Matching unit: character n-grams of normalised text (NFKC, lower case, every space and
punctuation mark removed), 13 characters by default. Korean spacing varies between copies of
the same sentence ("다음 중 옳은 것은" / "다음중 옳은것은"), so word n-grams miss respaced copies.
Measured (`bench/decontaminate.py`, planted copies in Korean prose, recall / precision):
character 13-grams 0.998 / 1.0, 20-grams 0.983 / 1.0, 30-grams 0.921 / 1.0; NeMo Curator's word
13-grams 0.828 / 1.0 and datatrove's word 12-grams 0.839 / 1.0, both finding under half of the
respaced copies. n-grams are hashed with the MinHash stage's rolling hash (vectorised).

Stems: an n-gram that more than `max_items_per_ngram` benchmark items share ("다음중옳지않은것은
무엇인가" and answer-choice layouts) says nothing about which item leaked, so it is not used. A
document is contaminated by an item when its matched n-grams cover at least `min_item_overlap`
of the item's other n-grams, or when at least `min_matched_ngrams` of them match (a passage
partly copied: 20 distinct 13-grams are a copied run of 32 characters or more, about NeMo
Curator's one shared 13-word n-gram). Items shorter than the n-gram are too short to tell
from common phrases and are not indexed (counted in the index's stats).

Modes: "reject" (a `benchmark_overlap` reject, with the benchmark, the item, the overlap and
the matched span), or "cut" as NeMo Curator does: the matched span and `cut_margin` characters
on each side are removed; what remains is kept if a piece of at least `min_piece_chars` is
left, else the document is a `benchmark_overlap_cut` reject.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.dedup.minhash import _code_points, shingle_hashes
from curation.io import iter_jsonl_batches, iter_parquet_batches
from curation.stage import Decision, DocumentStage, text_array

DEFAULT_NGRAM = 13
HASH_SEED = 0x5EED_DEC0
_NOT_KEPT = re.compile(r"[\W_]+")
# The common Korean suites, for users with network (hf:// needs huggingface_hub). Their licences
# forbid shipping most of them; point --benchmark at these paths instead.
KOREAN_SUITES: dict[str, str] = {
    "KMMLU": "hf://datasets/HAERAE-HUB/KMMLU",
    "HAE-RAE": "hf://datasets/HAERAE-HUB/HAE_RAE_BENCH_1.1",
    "KoBEST": "hf://datasets/skt/kobest_v1",
    "CLIcK": "hf://datasets/EunsuKim/CLIcK",
}


def normalize(text: str) -> str:
    """What is compared: NFKC, lower case, no spaces or punctuation."""
    return _NOT_KEPT.sub("", unicodedata.normalize("NFKC", text).lower())


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """`normalize(text)` built character by character, with the original offset of each kept
    character (to cut a matched span out of the original text)."""
    kept, offsets = [], []
    for position, char in enumerate(text):
        for folded in unicodedata.normalize("NFKC", char).lower():
            if not _NOT_KEPT.match(folded):
                kept.append(folded)
                offsets.append(position)
    return "".join(kept), offsets


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item: str  # the row's id, or its position
    text: str


def read_benchmark(path: str, fields: Sequence[str] = (), name: str | None = None,
                   storage_options: dict[str, Any] | None = None) -> list[BenchmarkItem]:
    """Items of one benchmark file (JSONL or Parquet, local or any fsspec URL): every string
    field of a row (or only `fields`) joined, as the row's benchmark text."""
    name = name or os.path.basename(path.rstrip("/")).split(".")[0]
    # the project's readers: a bad line or file is a ValueError naming it (and the line)
    read = iter_parquet_batches([path], storage_options=storage_options) if path.endswith(".parquet") else \
        iter_jsonl_batches(path, storage_options=storage_options)
    rows = [row for batch in read for row in batch.to_pylist()]
    return items_from(rows, name, fields)


def _strings(value: Any) -> list[str]:
    """Every string inside a field: choices lists and nested passages too."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _hashes(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash, text index) of every n-gram of the texts (each already normalised, at least ngram long)."""
    if not texts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    points, lengths = _code_points(texts, ngram)
    return shingle_hashes(np, points, lengths, ngram, HASH_SEED)


@dataclass
class BenchmarkIndex:
    """The n-grams of every benchmark item: sorted (hash, item) pairs, n-grams per item, and
    how many items share each n-gram."""

    items: list[BenchmarkItem]
    ngram: int
    hashes: np.ndarray  # sorted; one entry per (n-gram, item), stems removed
    item_of: np.ndarray
    ngrams_per_item: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, items: Sequence[BenchmarkItem], ngram: int = DEFAULT_NGRAM,
              max_items_per_ngram: int = 3) -> BenchmarkIndex:
        normalised = [normalize(item.text) for item in items]
        usable = [i for i, text in enumerate(normalised) if len(text) >= ngram]
        hashes, local = _hashes([normalised[i] for i in usable], ngram)
        item_of = np.asarray(usable, np.int64)[local] if len(usable) else np.zeros(0, np.int64)
        pairs = np.unique(np.stack([hashes, item_of.astype(np.uint64)], axis=1), axis=0) if len(hashes) else \
            np.zeros((0, 2), np.uint64)
        hashes, item_of = pairs[:, 0], pairs[:, 1].astype(np.int64)
        unique, counts = np.unique(hashes, return_counts=True)
        stems = unique[counts > max_items_per_ngram]
        keep = ~np.isin(hashes, stems)
        # overlap is measured on what identifies an item: its n-grams that are not stems
        ngrams_per_item = np.bincount(item_of[keep], minlength=len(items))
        stats = {"items": len(items), "items_too_short": len(items) - len(usable), "ngrams": int(len(unique)),
                 "stem_ngrams": int(len(stems)), "benchmarks": dict(Counter(item.benchmark for item in items))}
        return cls(list(items), ngram, hashes[keep], item_of[keep], ngrams_per_item, stats)


@dataclass
class Match:
    item: BenchmarkItem
    overlap: float
    matched_ngrams: int
    start: int  # in the document's normalised text
    end: int


def find_matches(index: BenchmarkIndex, texts: Sequence[str], min_item_overlap: float = 0.5,
                 min_matched_ngrams: int = 20) -> list[Match | None]:
    """The strongest contaminating item of each text, or None."""
    normalised = [normalize(t or "") for t in texts]
    results: list[Match | None] = [None] * len(texts)
    candidates = [i for i, t in enumerate(normalised) if len(t) >= index.ngram]
    if not candidates or not len(index.hashes):
        return results
    hashes, local = _hashes([normalised[i] for i in candidates], index.ngram)
    # position of each n-gram in its own text: n-grams come in text order, so a running count
    starts = np.searchsorted(local, np.arange(len(candidates)))
    positions = np.arange(len(local)) - starts[local]
    hit = np.isin(hashes, index.hashes)
    if not hit.any():
        return results
    hashes, local, positions = hashes[hit], local[hit], positions[hit]
    lo = np.searchsorted(index.hashes, hashes, side="left")
    hi = np.searchsorted(index.hashes, hashes, side="right")
    per_doc: dict[int, dict[int, set]] = {}
    spans: dict[tuple[int, int], list[int]] = {}
    for h, doc, position, a, b in zip(hashes.tolist(), local.tolist(), positions.tolist(), lo.tolist(), hi.tolist()):
        for item in index.item_of[a:b].tolist():
            per_doc.setdefault(doc, {}).setdefault(item, set()).add(h)
            span = spans.setdefault((doc, item), [position, position])
            span[0], span[1] = min(span[0], position), max(span[1], position)
    for doc, items in per_doc.items():
        best = None
        for item, matched in items.items():
            overlap = len(matched) / max(1, int(index.ngrams_per_item[item]))
            if overlap >= min_item_overlap or len(matched) >= min_matched_ngrams:
                start, end = spans[(doc, item)]
                candidate = Match(index.items[item], round(overlap, 4), len(matched), start, end + index.ngram)
                if best is None or (candidate.overlap, candidate.matched_ngrams) > (best.overlap, best.matched_ngrams):
                    best = candidate
        results[candidates[doc]] = best
    return results


def cut_span(text: str, match: Match, margin: int, min_piece_chars: int) -> str | None:
    """The text without the matched span and `margin` characters on each side; None when no
    piece of at least `min_piece_chars` is left."""
    _, offsets = normalize_with_offsets(text)
    if match.end > len(offsets):
        return None  # the per-character normalisation differs: cannot locate the span safely
    start = max(0, offsets[match.start] - margin)
    end = min(len(text), offsets[match.end - 1] + 1 + margin)
    pieces = [piece.strip() for piece in (text[:start], text[end:])]
    kept = [piece for piece in pieces if len(piece) >= min_piece_chars]
    return "\n\n".join(kept) if kept else None


class Decontaminator(DocumentStage):
    """Rejects (or cuts) documents that contain benchmark text; `benchmark` names JSONL or
    Parquet files (or hf:// datasets); `fields`: the row fields that are benchmark text
    (default: every string field)."""

    name = "decontaminated"

    def __init__(self, benchmark: Sequence[str] = (), fields: Sequence[str] = (), mode: str = "reject",
                 ngram: int = DEFAULT_NGRAM, max_items_per_ngram: int = 3, min_item_overlap: float = 0.5,
                 min_matched_ngrams: int = 20, cut_margin: int = 200, min_piece_chars: int = 200) -> None:
        if mode not in ("reject", "cut"):
            raise ValueError(f"mode must be reject or cut, not {mode!r}")
        self.benchmark, self.fields, self.mode = list(benchmark), list(fields), mode
        self.ngram, self.max_items_per_ngram = ngram, max_items_per_ngram
        self.min_item_overlap, self.min_matched_ngrams = min_item_overlap, min_matched_ngrams
        self.cut_margin, self.min_piece_chars = cut_margin, min_piece_chars
        self._index: BenchmarkIndex | None = None

    @property
    def index(self) -> BenchmarkIndex:
        if self._index is None:  # loaded once, lazily (on each Dask worker once)
            if not self.benchmark:
                raise ValueError("no benchmark given: name at least one benchmark file (JSONL, Parquet or hf://)")
            items = [item for path in self.benchmark for item in read_benchmark(path, self.fields)]
            self._index = BenchmarkIndex.build(items, self.ngram, self.max_items_per_ngram)
        return self._index

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_index": None}

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        texts = text_array(batch).to_pylist()
        matches = find_matches(self.index, texts, self.min_item_overlap, self.min_matched_ngrams)
        cuts: dict[int, str] = {}
        found = []
        for position, (text, match) in enumerate(zip(texts, matches)):
            if match is None:
                found.append(None)
                continue
            normalised = normalize(text)
            entry = {"benchmark": match.item.benchmark, "item": match.item.item, "overlap": match.overlap,
                     "matched_ngrams": match.matched_ngrams, "matched_span": normalised[match.start:match.end][:300]}
            if self.mode == "cut":
                cut = cut_span(text, match, self.cut_margin, self.min_piece_chars)
                entry["cut"] = cut is not None
                if cut is not None:
                    cuts[position] = cut
            found.append(json.dumps(entry, ensure_ascii=False))
        scores = {"benchmark_match": pa.array(found, pa.string())}
        if cuts:  # only cut documents change; every other text (nulls too) stays as it was
            column = batch.column("text").cast(pa.string()).combine_chunks()
            mask = np.zeros(len(column), dtype=bool)
            mask[sorted(cuts)] = True
            scores["text"] = pc.replace_with_mask(column, pa.array(mask), pa.array([cuts[i] for i in sorted(cuts)],
                                                                                   pa.string()))
        return scores

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        keep, reasons, details = [], [], []
        for value in scores["benchmark_match"].to_pylist():
            entry = json.loads(value) if value else None
            if entry is None or entry.get("cut"):
                keep.append(True)
                reasons.append(None)
                details.append(None)
            else:
                keep.append(False)
                reasons.append("benchmark_overlap_cut" if self.mode == "cut" else "benchmark_overlap")
                details.append(entry)
        return Decision(keep=np.array(keep, dtype=bool), reasons=reasons, details=details)

    def batch_extra(self, scores: dict[str, pa.Array]) -> Counter:
        """Matches per benchmark (`matches.NAME`), travelling with the batch's result."""
        extra: Counter = Counter()
        for value in scores["benchmark_match"].to_pylist():
            if value:
                extra["matches." + json.loads(value)["benchmark"]] += 1
        return extra


def match_metadata(extra: Counter) -> dict:
    return {"benchmark_matches": {k.removeprefix("matches."): v for k, v in sorted(extra.items())
                                  if k.startswith("matches.")}}


def items_from(rows: Iterable[dict], benchmark: str, fields: Sequence[str] = ()) -> list[BenchmarkItem]:
    """Items from rows already in memory (tests, notebooks), as read_benchmark makes them."""
    items = []
    for position, row in enumerate(rows):
        values = [_strings(row[f]) if f in row else [] for f in fields] if fields else [_strings(row)]
        text = "\n".join(s for group in values for s in group)
        if text.strip():
            items.append(BenchmarkItem(benchmark, str(row.get("id", position)), text))
    return items
