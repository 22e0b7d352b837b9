"""Dedup over a partition's batches: signature tables, and the split into kept and rejects.

Dedup needs the whole partition before it can decide (a document's duplicate may come last),
so it runs in passes over the batches instead of one `DocumentStage.process` per batch: a pass
that computes the compact keys (text hashes or signatures, never the text), the decision, then
a pass that streams the documents again and splits them. Rows are matched by position and
checked by id.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from curation.dedup.exact import deduplicate_exact, text_hashes
from curation.dedup.fuzzy import deduplicate
from curation.dedup.minhash import MinHasher
from curation.dedup.verify import exact_similarity
from curation.documents import details_json, rejects_table, require_columns
from curation.stage import StageCounts, text_column

EXACT_STAGE = "exact_dedup"
FUZZY_STAGE = "fuzzy_dedup"


def signature_table(ids: Sequence[str], signatures: np.ndarray) -> pa.Table:
    """(id, signature) with the signature as a fixed-size list of uint32."""
    n, num_perm = signatures.shape
    flat = pa.array(np.ascontiguousarray(signatures, dtype=np.uint32).reshape(-1), pa.uint32())
    return pa.table({"id": pa.array(list(ids), pa.string()),
                     "signature": pa.FixedSizeListArray.from_arrays(flat, num_perm)})


def signatures_of(table: pa.Table) -> np.ndarray:
    """The (n, num_perm) uint32 matrix of a signature table."""
    column = table.column("signature").combine_chunks()
    num_perm = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.uint32, copy=False).reshape(-1, num_perm)


def signature_batches(batches: Iterable[pa.Table], hasher: MinHasher) -> Iterator[pa.Table]:
    for batch in batches:
        yield signature_table(batch.column("id").to_pylist(), hasher.signatures(text_column(batch)))


def load_signatures(tables: Iterable[pa.Table], rows: int | None = None) -> tuple[list[str], np.ndarray]:
    """All ids and one signature matrix for a partition (n * num_perm * 4 bytes); with `rows`
    known the matrix is filled in place instead of concatenated (half the peak memory)."""
    ids: list[str] = []
    parts: list[np.ndarray] = []
    matrix: np.ndarray | None = None
    for table in tables:
        block = signatures_of(table)
        if rows is not None:
            if matrix is None:
                matrix = np.empty((rows, block.shape[1]), dtype=np.uint32)
            matrix[len(ids):len(ids) + block.shape[0]] = block
        else:
            parts.append(block)
        ids.extend(table.column("id").to_pylist())
    if rows is not None and len(ids) != rows:
        raise RuntimeError(f"expected {rows} signatures, read {len(ids)}")
    if matrix is not None:
        return ids, matrix
    return ids, (np.concatenate(parts) if parts else np.zeros((0, 0), np.uint32))


def hash_batches(batches: Iterable[pa.Table]) -> tuple[list[str], np.ndarray]:
    """Ids and normalised-text hashes of a partition (12-40 bytes per document)."""
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for batch in batches:
        require_columns(batch.schema, "dedup")
        ids.extend(batch.column("id").to_pylist())
        parts.append(text_hashes(text_column(batch)))
    return ids, (np.concatenate(parts) if parts else np.zeros(0, np.int64))


def split_duplicates(batches: Iterable[pa.Table], ids: Sequence[str], duplicate_of: Sequence[str | None],
                     stage: str, reason: str | Sequence[str | None], counts: StageCounts,
                     similarity: np.ndarray | None = None) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Stream the partition again: kept documents get `duplicate_of` = null, the others go to
    the rejects with the reason (one for all, or one per row) and details {"duplicate_of",
    "similarity"}."""
    offset = 0
    for batch in batches:
        n = batch.num_rows
        batch_ids = batch.column("id").to_pylist()
        if batch_ids != list(ids[offset:offset + n]):
            raise RuntimeError(f"{stage}: the partition changed between passes (row {offset})")
        targets = list(duplicate_of[offset:offset + n])
        keep = np.array([t is None for t in targets], dtype=bool)
        kept = batch.filter(pa.array(keep))
        if "duplicate_of" in kept.column_names:
            kept = kept.drop_columns(["duplicate_of"])
        kept = kept.append_column("duplicate_of", pa.nulls(kept.num_rows, pa.string()))
        rows = np.flatnonzero(~keep)
        details = []
        for i in rows.tolist():
            entry = {"duplicate_of": targets[i]}
            if similarity is not None and not np.isnan(similarity[offset + i]):
                entry["similarity"] = round(float(similarity[offset + i]), 4)
            details.append(details_json(entry))
        reasons = [reason if isinstance(reason, str) else reason[offset + i] for i in rows.tolist()]
        rejected = rejects_table(batch.take(pa.array(rows, pa.int64())), stage, reasons, details)
        counts.rows_in += n
        counts.rows_kept += kept.num_rows
        counts.rejects_by_reason.update(reasons)
        offset += n
        yield kept, rejected
    if offset != len(ids):
        raise RuntimeError(f"{stage}: the partition changed between passes ({offset} of {len(ids)} rows)")


def deduplicate_file(read: Callable[[], Iterable[pa.Table]], hasher: MinHasher, threshold: float | None,
                     exact: bool = True) -> tuple[StageCounts, Iterator[tuple[pa.Table, pa.Table]]]:
    """Exact then fuzzy dedup of one self-contained set of documents (the stage CLI): `read`
    is called once per pass. Returns the counts (filled while the split is consumed) and the
    (kept, rejected) batches."""
    ids, hashes = hash_batches(read())
    exact_of = deduplicate_exact(ids, hashes) if exact else [None] * len(ids)
    survivors = np.flatnonzero([d is None for d in exact_of])

    def surviving_batches() -> Iterator[pa.Table]:
        offset = 0
        for batch in read():
            mask = np.array([d is None for d in exact_of[offset:offset + batch.num_rows]], dtype=bool)
            offset += batch.num_rows
            yield batch.filter(pa.array(mask))

    fuzzy_ids, signatures = load_signatures(signature_batches(surviving_batches(), hasher), rows=len(survivors))
    result = deduplicate(fuzzy_ids, signatures, hasher.config.bands, threshold,
                         similarity_of=lambda a, b: exact_similarity(surviving_batches(), hasher.config, a, b))
    duplicate_of = list(exact_of)
    reasons: list[str | None] = ["exact_duplicate" if d is not None else None for d in exact_of]
    similarity = np.full(len(ids), np.nan)
    similarity[[i for i, d in enumerate(exact_of) if d is not None]] = 1.0
    for row, target, score in zip(survivors.tolist(), result.duplicate_of, result.similarity.tolist()):
        if target is not None:
            duplicate_of[row], reasons[row], similarity[row] = target, "fuzzy_duplicate", score
    counts = StageCounts()
    return counts, split_duplicates(read(), ids, duplicate_of, "dedup", reasons, counts, similarity)
