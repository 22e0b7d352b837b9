"""Dedup of one partition against itself and the persistent index: the one entry point that the
assets, the stage CLI and the bench call (`deduplicate_partition`).

Passes, each a set of tasks that run in this process or on Dask workers (the same functions,
so the decisions are byte-identical either way); the driver holds per-duplicate arrays only,
never the partition's signatures, hashes or sketches:

1. map      per batch of rows: text hashes, MinHash band hashes and verification sketches,
            written to a spill file with the hash entries sorted and bounded by hash range.
2. exact    per hash range: equal text hashes inside the partition and in the index's shards
            of that range; the first row (in partition order) or the earlier document is kept.
3. fuzzy    per hash range: LSH buckets inside the partition (anchor + predecessor edges) and
            matches in the index's shards of that range (a sorted merge), written as candidate
            pairs bounded by row range.
4. verify   per row range: the candidates' Jaccard from their sketches (this partition's from
            the spill, earlier ones from the index), pairs below the threshold dropped.
5. (driver) connected components over the verified edges; each component keeps its earliest
            document: earlier partitions first, then partition order.
6. add      per index shard and per docs file: the kept documents' entries, written into a new
            run that is committed atomically (curation.dedup.index).

Memory per task is set by `memory_budget_mb`: it decides how many hash ranges and row ranges
the passes are cut into (spill files on the store carry the rest), not the partition's size.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from curation.dedup.arrays import BYTES_READ, ArrayFile, ragged_arrays, spans, write_arrays
from curation.dedup.backend import make_hasher
from curation.dedup.components import min_labels
from curation.dedup.exact import text_hashes
from curation.dedup.index import (
    DEFAULT_SHARDS,
    DOCS_PER_CHUNK,
    DedupIndex,
    IndexLayout,
    RunRef,
    docs_file,
    key,
    key_parts,
    shard_file,
)
from curation.dedup.minhash import MinHashConfig, band_hashes, normalized_words
from curation.dedup.sketch import DEFAULT_SKETCH_SIZE, bottom_k, pair_jaccard, sorted_unique
from curation.documents import details_json, rejects_table, require_columns
from curation.io import filesystem
from curation.parallel import run_tasks
from curation.stage import BatchStats, text_column

log = logging.getLogger(__name__)

FINE_BITS = 12  # map files bound their entries at 4096 hash ranges; passes group them
FINE = 1 << FINE_BITS
ROW_RANGES = 1024  # candidate files bound their pairs at 1024 row ranges
EXACT_STAGE = "exact_deduplicated"
FUZZY_STAGE = "fuzzy_deduplicated"
DEDUP_STAGE = "dedup"
DEFAULT_MEMORY_BUDGET_MB = 512


@dataclass(frozen=True)
class DedupSettings:
    """How a partition is deduplicated. Defaults as measured in bench/dedup.py (README)."""

    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    threshold: float | None = 0.8  # Jaccard of duplicates; None keeps LSH candidates unverified
    exact: bool = True
    fuzzy: bool = True
    sketch_size: int = DEFAULT_SKETCH_SIZE
    shards: int = DEFAULT_SHARDS  # index shards, for an index created by this run (and without an index)
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB  # per task: decides how finely the passes are cut
    map_rows: int = 32_768  # rows per map task (one spill file each)
    max_links: int = 16  # earlier documents a new one is compared with per band bucket
    backend: str = "cpu"  # signatures: cpu | gpu | auto

    def layout(self) -> IndexLayout:
        return IndexLayout(self.minhash, self.shards, self.sketch_size)


def dedup_settings(exact: bool = True, fuzzy: bool = True, threshold: float = DedupSettings.threshold,
                   verify: bool = True, ngram: int = MinHashConfig.ngram, num_perm: int = MinHashConfig.num_perm,
                   bands: int = MinHashConfig.bands, strip_spaces: bool = MinHashConfig.strip_spaces,
                   sketch_size: int = DedupSettings.sketch_size, shards: int = DedupSettings.shards,
                   memory_budget_mb: float = DedupSettings.memory_budget_mb,
                   backend: str = DedupSettings.backend) -> DedupSettings:
    """DedupSettings from flat options (run config, CLI flags), its defaults DedupSettings' own
    (one place for each). `verify=False` keeps LSH
    candidate pairs unverified; `shards` applies to a new index (an existing one keeps its
    own); `memory_budget_mb` is per task; `backend` cpu | gpu | auto (gpu falls back to cpu
    with a warning)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    minhash = MinHashConfig(ngram=ngram, num_perm=num_perm, bands=bands, strip_spaces=strip_spaces)
    return DedupSettings(minhash=minhash, threshold=threshold if verify else None, exact=exact, fuzzy=fuzzy,
                         sketch_size=sketch_size, shards=shards, memory_budget_mb=memory_budget_mb, backend=backend)


@dataclass(frozen=True)
class _Plan:
    """What every task needs to know (small, picklable)."""

    settings: DedupSettings
    shards: int
    spill: str
    storage_options: dict[str, Any] | None
    earlier: tuple[RunRef, ...]
    own_ordinal: int
    adding: bool = False  # the partition is added to an index: passes leave merged ranges for it

    def fs(self):
        return filesystem(self.spill, self.storage_options)[0]


@dataclass(frozen=True)
class _MapFile:
    path: str
    start: int
    rows: int
    id_digest: str
    sketch_values: int


@dataclass
class DedupStats:
    rows_in: int = 0
    exact_duplicates: int = 0
    fuzzy_duplicates: int = 0
    candidate_pairs: int = 0
    cross_candidate_pairs: int = 0
    verified_edges: int = 0
    cross_partition_matches: int = 0
    hash_ranges: int = 0
    verify_tasks: int = 0
    spill_files: int = 0
    spill_bytes: int = 0
    largest_range_bytes: int = 0  # estimated working set of the largest hash-range task
    largest_verify_bytes: int = 0  # and of the largest verification task (one row range at least)
    bytes_read: int = 0  # from spill and index files, all passes
    index_bytes_read: int = 0  # of that, from earlier partitions' runs
    seconds: dict[str, float] = field(default_factory=dict)
    earlier_partitions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}


class DedupResult:
    """The decisions for one partition: which rows are duplicates, of what, and why."""

    def __init__(self, rows: int, dup_rows: np.ndarray, targets: list[str], reasons: list[str],
                 similarity: np.ndarray, map_files: list[_MapFile], stats: DedupStats, stage: str) -> None:
        self.rows = rows
        self.dup_rows = dup_rows  # sorted
        self.targets = targets
        self.reasons = reasons
        self.similarity = similarity
        self._map_files = map_files
        self.stats = stats
        self.stage = stage
        self.edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # with keep_edges

    def duplicates(self) -> dict[int, tuple[str, str]]:
        return {int(r): (t, why) for r, t, why in zip(self.dup_rows.tolist(), self.targets, self.reasons)}

    def split(self, batches: Iterable[pa.Table]) -> Iterator[tuple[pa.Table, pa.Table, BatchStats]]:
        """Stream the partition again (the same batches as the first read): kept documents get a
        null `duplicate_of`, duplicates go to the rejects with their reason and details
        {duplicate_of, similarity}. Rows are matched by position and checked by id digest."""
        offset = 0
        boundaries = iter(self._map_files)
        current = next(boundaries, None)
        digest = hashlib.sha256()
        for batch in batches:
            n = batch.num_rows
            ids = _ids(batch, self.stage)
            position = offset
            for doc_id in ids:  # check the ids against the map pass's, map file by map file
                if current is None:
                    raise RuntimeError(f"{self.stage}: the partition grew between passes (row {position})")
                digest.update(doc_id.encode() + b"\n")
                position += 1
                if position == current.start + current.rows:
                    if digest.hexdigest() != current.id_digest:
                        raise RuntimeError(f"{self.stage}: the partition changed between passes "
                                           f"(rows {current.start}-{position})")
                    digest = hashlib.sha256()
                    current = next(boundaries, None)
            lo, hi = np.searchsorted(self.dup_rows, [offset, offset + n])
            local = self.dup_rows[lo:hi] - offset
            keep = np.ones(n, dtype=bool)
            keep[local] = False
            kept = batch.filter(pa.array(keep))
            if "duplicate_of" in kept.column_names:
                kept = kept.drop_columns(["duplicate_of"])
            kept = kept.append_column("duplicate_of", pa.nulls(kept.num_rows, pa.string()))
            details, reasons = [], []
            for j in range(lo, hi):
                entry: dict[str, Any] = {"duplicate_of": self.targets[j]}
                if not np.isnan(self.similarity[j]):
                    entry["similarity"] = round(float(self.similarity[j]), 4)
                details.append(details_json(entry))
                reasons.append(self.reasons[j])
            rejected = rejects_table(batch.take(pa.array(local, pa.int64())), self.stage, reasons, details)
            offset += n
            yield kept, rejected, BatchStats.of(n, kept, rejected)
        if offset != self.rows:
            raise RuntimeError(f"{self.stage}: the partition changed between passes ({offset} of {self.rows} rows)")


def deduplicate_partition(read: Callable[[], Iterable[pa.Table]], name: str, settings: DedupSettings,
                          index: DedupIndex | None = None, earlier: list[str] | None = None,
                          client: Any = None, add: bool = True, spill: str | None = None,
                          stage: str = DEDUP_STAGE, progress: Callable[[str], None] | None = None,
                          keep_edges: bool = False) -> DedupResult:
    """Decide which documents of partition `name` are duplicates, against themselves and
    `earlier` partitions of `index` (default: those added to it before `name`), then add the
    kept ones to `index` (when `add`). `read()` is called for the map pass and again by
    `DedupResult.split`. `client`: a Dask client, or None to run every task here.
    `keep_edges`: keep the verified edges (keys a, b and similarity) on the result, for
    benchmarks."""
    say = progress or log.info
    if index is not None and ((index.layout.minhash, index.layout.sketch_size)
                              != (settings.minhash, settings.sketch_size)):
        raise ValueError(f"settings {settings.layout().as_dict()} differ from the index's {index.layout.as_dict()}")
    earlier_names = (index.names_before(name) if earlier is None else list(earlier)) if index is not None else []
    runs = tuple(index.runs(earlier_names)) if index is not None else ()
    shards = index.layout.shards if index is not None else settings.shards
    storage_options = index.storage_options if index is not None else None
    own_spill = spill is None
    if spill is None:
        spill = _default_spill(index)
    plan = _Plan(settings, shards, spill.rstrip("/"), storage_options, runs, len(runs), add and index is not None)
    stats = DedupStats(earlier_partitions=earlier_names)
    BYTES_READ.take()
    try:
        result = _run(read, name, plan, index, client, add, stats, stage, say, keep_edges)
    finally:
        if own_spill:
            _remove(spill, storage_options)
    return result


def _default_spill(index: DedupIndex | None) -> str:
    """Beside a remote index (workers on other machines see it too), else a local folder."""
    remote = index is not None and "://" in index.root and not index.root.startswith("file://")
    return index.url("_spill", uuid.uuid4().hex[:12]) if remote else tempfile.mkdtemp(prefix="dedup-spill-")


def _remove(url: str, storage_options: dict[str, Any] | None) -> None:
    fs, path = filesystem(url, storage_options)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _timed(stats: DedupStats, name: str, start: float) -> float:
    now = time.perf_counter()
    stats.seconds[name] = stats.seconds.get(name, 0.0) + now - start
    return now


def _run(read, name: str, plan: _Plan, index: DedupIndex | None, client, add: bool, stats: DedupStats,
         stage: str, say, keep_edges: bool) -> DedupResult:
    settings = plan.settings
    t = time.perf_counter()
    maps: list[_MapFile] = []
    last_report = t
    for file, nbytes, read_bytes in run_tasks(_map_task, _map_batches(read, settings.map_rows), client,
                                              shared=(plan,)):
        maps.append(file)
        stats.spill_bytes += nbytes
        stats.bytes_read += read_bytes
        now = time.perf_counter()
        if now - last_report >= 10:
            rows = file.start + file.rows
            say(f"dedup {name}: {rows} documents hashed, {rows / (now - t):,.0f} docs/s")
            last_report = now
    stats.spill_files = len(maps)
    n = sum(m.rows for m in maps)
    stats.rows_in = n
    t = _timed(stats, "map", t)
    say(f"dedup {name}: {n} documents hashed into {len(maps)} spill files")

    entries = n * (settings.minhash.bands if settings.fuzzy else 1)
    ranges = _hash_ranges(entries, plan.shards, settings.memory_budget_mb)
    stats.hash_ranges = ranges
    stats.largest_range_bytes = _entry_bytes(entries) // ranges
    say(f"dedup {name}: {len(plan.earlier)} earlier partitions in the index; "
        f"{ranges} hash ranges")
    map_list = tuple(maps)

    exact_rows = np.empty(0, np.int64)
    exact_targets = np.empty(0, np.int64)
    if settings.exact:
        parts = list(run_tasks(_exact_task, ((r, lo, hi) for r, (lo, hi) in enumerate(_range_bounds(ranges))), client,
                               shared=(plan, map_list)))
        exact_rows = np.concatenate([p[0] for p in parts]) if parts else exact_rows
        exact_targets = np.concatenate([p[1] for p in parts]) if parts else exact_targets
        stats.bytes_read += sum(p[2] for p in parts)
        stats.index_bytes_read += sum(p[3] for p in parts)
        order = np.argsort(exact_rows, kind="stable")
        exact_rows, exact_targets = exact_rows[order], exact_targets[order]
        t = _timed(stats, "exact", t)
    stats.exact_duplicates = int(exact_rows.shape[0])

    fuzzy_rows = np.empty(0, np.int64)
    fuzzy_targets = np.empty(0, np.int64)
    fuzzy_sim = np.empty(0, np.float64)
    edges = None
    if settings.fuzzy:
        edges = _fuzzy(plan, map_list, exact_rows, n, ranges, client, stats)
        fuzzy_rows, fuzzy_targets, fuzzy_sim = _components(plan.own_ordinal, *edges)
        t = _timed(stats, "fuzzy", t)
    stats.fuzzy_duplicates = int(fuzzy_rows.shape[0])
    say(f"dedup {name}: {stats.exact_duplicates} exact and {stats.fuzzy_duplicates} fuzzy duplicates "
        f"({stats.cross_partition_matches} verified links to earlier partitions)")

    dup_rows = np.concatenate([exact_rows, fuzzy_rows])
    target_keys = np.concatenate([exact_targets, fuzzy_targets])
    similarity = np.concatenate([np.ones(exact_rows.shape[0]), fuzzy_sim])
    reasons = ["exact_duplicate"] * exact_rows.shape[0] + ["fuzzy_duplicate"] * fuzzy_rows.shape[0]
    order = np.argsort(dup_rows, kind="stable")
    dup_rows, target_keys, similarity = dup_rows[order], target_keys[order], similarity[order]
    reasons = [reasons[i] for i in order.tolist()]
    targets = _resolve_ids(plan, map_list, target_keys)
    t = _timed(stats, "decide", t)

    if add and index is not None:
        merged = tuple(kind for kind, ran in (("exact", settings.exact), ("band", settings.fuzzy)) if ran)
        entry = _add_to_index(index, name, plan, map_list, dup_rows, n, client, stats, ranges, merged)
        say(f"dedup {name}: added {entry.documents} kept documents to the index ({entry.bytes} bytes)")
        _timed(stats, "add", t)
    stats.bytes_read += BYTES_READ.take()
    result = DedupResult(n, dup_rows, targets, reasons, similarity, maps, stats, stage)
    if keep_edges:
        result.edges = edges
    return result


# ---- sizing ---------------------------------------------------------------------------------

def _entry_bytes(entries: int) -> int:
    """Working set of sorting `entries` (hash, row) entries: the arrays, the sort order and
    the sorted copies."""
    return entries * 40


def _hash_ranges(entries: int, shards: int, budget_mb: float) -> int:
    """Hash ranges to cut a pass into: a power of two, at least the index shards (a range
    lies inside one shard), enough that one range's working set fits the budget."""
    ranges = shards
    while ranges < FINE and _entry_bytes(entries) // ranges > budget_mb * (1 << 20):
        ranges *= 2
    return ranges


def _range_bounds(ranges: int) -> list[tuple[int, int]]:
    step = FINE // ranges
    return [(r * step, (r + 1) * step) for r in range(ranges)]


def _fine(hashes: np.ndarray) -> np.ndarray:
    return (hashes >> np.uint64(64 - FINE_BITS)).astype(np.int64)


# ---- pass 1: map ----------------------------------------------------------------------------

def _map_batches(read, rows: int) -> Iterator[tuple[int, int, pa.Table]]:
    """(index, first row, table) of batches of about `rows` rows, regrouped from `read()`."""
    pending: list[pa.Table] = []
    size = 0
    start = 0
    number = 0
    for batch in read():
        require_columns(batch.schema, "dedup")
        if batch.num_rows == 0:
            continue
        pending.append(batch.select(["id", "text"]))
        size += batch.num_rows
        if size >= rows:
            yield number, start, pa.concat_tables(pending)
            number, start, pending, size = number + 1, start + size, [], 0
    if pending:
        yield number, start, pa.concat_tables(pending)


def _ids(table: pa.Table, stage: str) -> list[str]:
    """Document ids as strings (JSON input may give numbers); a missing one is an error, since
    duplicates are named by id."""
    column = table.column("id")
    if column.null_count:
        raise ValueError(f"{stage}: {column.null_count} document(s) without an id")
    return column.cast(pa.string()).to_pylist()


@lru_cache(maxsize=4)
def _hasher(config: MinHashConfig, backend: str):
    return make_hasher(config, backend)[0]


def _map_task(plan: _Plan, number: int, start: int, table: pa.Table) -> tuple[_MapFile, int, int]:
    BYTES_READ.take()
    settings = plan.settings
    ids = _ids(table, DEDUP_STAGE)
    texts = text_column(table)
    n = len(ids)
    rows = np.arange(start, start + n, dtype=np.int64)
    words = [normalized_words(t) for t in texts]  # once, for both keys
    exact_hash = text_hashes(texts, words).view(np.uint64)
    arrays: dict[str, np.ndarray] = {}
    _sorted_entries(arrays, "exact", exact_hash, rows)
    sketch_values = np.empty(0, np.uint32)
    sketch_offsets = np.zeros(n + 1, np.int64)
    if settings.fuzzy:
        hasher = _hasher(settings.minhash, settings.backend)
        xp = hasher.xp
        band_parts, sketch_parts, length_parts = [], [], []
        # Every value is per document, so the documents go through in chunks that keep the
        # shingle arrays (hashes, their documents, bins, sort copies: SHINGLE_BYTES a shingle)
        # within the task's memory budget, however long the texts or large map_rows.
        for lo, hi in _shingle_chunks(texts, settings):
            hashes, doc = hasher.shingles(texts[lo:hi], words[lo:hi])
            signatures = hasher.signatures_of_shingles(hashes, doc, hi - lo)
            bands = band_hashes(signatures, settings.minhash.bands, xp)
            band_parts.append(xp.asnumpy(bands) if xp is not np else bands)
            values, offsets = bottom_k(xp, hashes, doc, hi - lo, settings.sketch_size)
            sketch_parts.append(values)
            length_parts.append(np.diff(offsets))
            del hashes, doc, signatures
        bands = np.concatenate(band_parts) if band_parts else np.empty((0, settings.minhash.bands), np.uint64)
        _sorted_entries(arrays, "band", bands.reshape(-1), np.repeat(rows, settings.minhash.bands))
        sketch_values = np.concatenate(sketch_parts) if sketch_parts else np.empty(0, np.uint32)
        sketch_offsets[1:] = np.cumsum(np.concatenate(length_parts)) if length_parts else 0
    else:
        _sorted_entries(arrays, "band", np.empty(0, np.uint64), np.empty(0, np.int64))
    arrays["sketch"], arrays["sketch_off"] = sketch_values, sketch_offsets
    arrays["ids"], arrays["ids_off"] = ragged_arrays([i.encode() for i in ids], np.uint8)
    path = posixpath.join(plan.spill, f"map-{number:06d}.bin")
    _, nbytes = write_arrays(plan.fs(), filesystem(path, plan.storage_options)[1], arrays)
    digest = hashlib.sha256(b"".join(i.encode() + b"\n" for i in ids)).hexdigest()
    return _MapFile(path, start, n, digest, int(sketch_values.shape[0])), nbytes, BYTES_READ.take()


# Bytes a shingle holds while signatures and sketches are computed: its hash and document
# (16), bin, value, slot and packed copies and the sorts' temporaries (about 64 more).
SHINGLE_BYTES = 80


def _shingle_chunks(texts: list[str], settings: DedupSettings) -> Iterator[tuple[int, int]]:
    """Row ranges of `texts` whose shingles (about one per character) fit half the budget."""
    limit = max(1, int(settings.memory_budget_mb * 2**20 / 2 / SHINGLE_BYTES))
    lo, shingles = 0, 0
    for i, text in enumerate(texts):
        shingles += len(text) + 1
        if shingles > limit and i > lo:
            yield lo, i
            lo, shingles = i, len(text) + 1
    if lo < len(texts) or not texts:
        yield lo, len(texts)


def _sorted_entries(arrays: dict[str, np.ndarray], kind: str, hashes: np.ndarray, rows: np.ndarray) -> None:
    """Entries sorted by (hash, row), with the bounds of each fine hash range."""
    order = np.lexsort((rows, hashes))
    hashes, rows = hashes[order], rows[order]
    arrays[f"{kind}_hash"], arrays[f"{kind}_row"] = hashes, rows
    arrays[f"{kind}_bounds"] = np.searchsorted(_fine(hashes), np.arange(FINE + 1)).astype(np.int64)


class _Files:
    """Open ArrayFiles, once per task."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self._open: dict[str, ArrayFile] = {}

    def __call__(self, url: str) -> ArrayFile:
        if url not in self._open:
            fs, path = filesystem(url, self.plan.storage_options)
            self._open[url] = ArrayFile(fs, path)
        return self._open[url]


def _range_entries(files: _Files, maps: tuple[_MapFile, ...], kind: str, lo: int,
                   hi: int) -> tuple[np.ndarray, np.ndarray]:
    """This partition's (hash, row) entries of fine ranges [lo, hi), sorted by (hash, row)."""
    hashes, rows = [], []
    for m in maps:
        file = files(m.path)
        bounds = file.read(f"{kind}_bounds", lo, hi + 1)
        if bounds.shape[0] and bounds[-1] > bounds[0]:
            hashes.append(file.read(f"{kind}_hash", int(bounds[0]), int(bounds[-1])))
            rows.append(file.read(f"{kind}_row", int(bounds[0]), int(bounds[-1])))
    if not hashes:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    h, r = np.concatenate(hashes), np.concatenate(rows)
    order = np.lexsort((r, h))
    return h[order], r[order]


def _run_entries(files: _Files, run: RunRef, kind: str, lo: int, hi: int) -> tuple[np.ndarray, ArrayFile, int]:
    """An earlier run's sorted hashes in fine ranges [lo, hi) (inside one shard), the file,
    and the position of the first one in it (its rows are read at matches only)."""
    shard = lo >> (FINE_BITS - (run.shards.bit_length() - 1))
    file = files(run.shard_path(shard))
    hashes = file.read(f"{kind}_hash")
    fine = _fine(hashes)
    a, b = np.searchsorted(fine, [lo, hi])
    return hashes[a:b], file, int(a)


def _write_merged(plan: _Plan, kind: str, r: int, hashes: np.ndarray, rows: np.ndarray) -> None:
    """One hash range's entries, merged from every map file and sorted: the add pass reads
    them back instead of merging and sorting again (written only when there is an add pass)."""
    if not plan.adding:
        return
    path = posixpath.join(plan.spill, f"merged-{kind}-{r:05d}.bin")
    write_arrays(plan.fs(), filesystem(path, plan.storage_options)[1], {"hash": hashes, "row": rows})


def _merged_entries(files: _Files, plan: _Plan, kind: str, ranges: range) -> tuple[np.ndarray, np.ndarray]:
    """Entries of consecutive hash ranges from their merged files, in hash order."""
    hashes, rows = [], []
    for r in ranges:
        file = files(posixpath.join(plan.spill, f"merged-{kind}-{r:05d}.bin"))
        hashes.append(file.read("hash"))
        rows.append(file.read("row"))
    return (np.concatenate(hashes) if hashes else np.empty(0, np.uint64),
            np.concatenate(rows) if rows else np.empty(0, np.int64))


def _in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if sorted_set.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), sorted_set.shape[0] - 1)
    return sorted_set[pos] == values


# ---- pass 2: exact --------------------------------------------------------------------------

def _exact_task(plan: _Plan, maps: tuple[_MapFile, ...], r: int, lo: int, hi: int):
    BYTES_READ.take()
    files = _Files(plan)
    hashes, rows = _range_entries(files, maps, "exact", lo, hi)
    _write_merged(plan, "exact", r, hashes, rows)
    own = BYTES_READ.take()
    if hashes.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), own, 0
    first = np.ones(hashes.shape[0], dtype=bool)
    first[1:] = hashes[1:] != hashes[:-1]
    group = np.cumsum(first) - 1
    unique = hashes[first]
    target = key(plan.own_ordinal, rows[first])  # the group's first row ...
    found = np.zeros(unique.shape[0], dtype=bool)
    for run in plan.earlier:  # ... unless an earlier partition has the text (earliest wins)
        run_hashes, file, base = _run_entries(files, run, "exact", lo, hi)
        if run_hashes.shape[0] == 0:
            continue
        pos = np.searchsorted(run_hashes, unique)
        hit = (pos < run_hashes.shape[0]) & ~found
        hit[hit] = run_hashes[pos[hit]] == unique[hit]
        if hit.any():
            target[hit] = key(run.ordinal, file.take("exact_row", base + pos[hit]).astype(np.int64))
            found |= hit
    duplicate = ~first | found[group]
    return rows[duplicate], target[group[duplicate]], own, BYTES_READ.take()


# ---- passes 3-5: fuzzy ----------------------------------------------------------------------

def _fuzzy(plan: _Plan, maps: tuple[_MapFile, ...], excluded: np.ndarray, n: int, ranges: int, client,
           stats: DedupStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verified edges (key a in this partition, key b, similarity)."""
    per_range = np.zeros(ROW_RANGES, dtype=np.int64)
    candidates = []
    for path, counts, pairs, cross, read_bytes, index_bytes in run_tasks(
            _candidates_task, ((r, lo, hi) for r, (lo, hi) in enumerate(_range_bounds(ranges))), client,
            shared=(plan, maps, excluded, n)):
        candidates.append(path)
        per_range += counts
        stats.candidate_pairs += pairs
        stats.cross_candidate_pairs += cross
        stats.bytes_read += read_bytes
        stats.index_bytes_read += index_bytes
    # Verification tasks: consecutive row ranges holding at most the budget's worth of pairs.
    # Half the budget holds the task's sketches (two per pair at most), the other half one
    # chunk of pairs being compared (_verify_chunk_pairs).
    pair_bytes = 2 * _verify_sketch_bytes(maps, n) + 64
    per_task = max(1, int(plan.settings.memory_budget_mb * (1 << 19)) // pair_bytes)
    groups, lo, held = [], 0, 0
    for r in range(ROW_RANGES):
        if held and held + per_range[r] > per_task:
            groups.append((lo, r))
            lo, held = r, 0
        held += int(per_range[r])
    groups.append((lo, ROW_RANGES))
    stats.verify_tasks = len(groups)
    stats.largest_verify_bytes = max(int(per_range[a:b].sum()) for a, b in groups) * pair_bytes * 2
    edges_a, edges_b, sims = [], [], []
    for a, b, s, read_bytes, index_bytes in run_tasks(_verify_task, iter(groups), client,
                                                      shared=(plan, maps, tuple(candidates), n)):
        edges_a.append(a)
        edges_b.append(b)
        sims.append(s)
        stats.bytes_read += read_bytes
        stats.index_bytes_read += index_bytes
    a = np.concatenate(edges_a) if edges_a else np.empty(0, np.int64)
    b = np.concatenate(edges_b) if edges_b else np.empty(0, np.int64)
    sim = np.concatenate(sims) if sims else np.empty(0)
    stats.verified_edges = int(a.shape[0])
    stats.cross_partition_matches = int((key_parts(b)[0] < plan.own_ordinal).sum())
    return a, b, sim


def _row_range(rows: np.ndarray, n: int) -> np.ndarray:
    return (rows * ROW_RANGES) // max(n, 1)


def _candidates_task(plan: _Plan, maps: tuple[_MapFile, ...], excluded: np.ndarray, n: int, r: int, lo: int, hi: int):
    """Candidate pairs of one hash range: (row, row) inside the partition and (row, earlier
    key) with earlier partitions, written to a spill file bounded by row range of the first."""
    BYTES_READ.take()
    settings = plan.settings
    files = _Files(plan)
    hashes, rows = _range_entries(files, maps, "band", lo, hi)
    keep = ~_in_sorted(rows, excluded)
    hashes, rows = hashes[keep], rows[keep]
    _write_merged(plan, "band", r, hashes, rows)
    own = BYTES_READ.take()
    # Inside: in each bucket, every member with the bucket's first member and its predecessor.
    same = np.zeros(hashes.shape[0], dtype=bool)
    same[1:] = hashes[1:] == hashes[:-1]
    members = np.flatnonzero(same)
    bucket_start = np.maximum.accumulate(np.where(same, 0, np.arange(hashes.shape[0])))
    a = np.concatenate([rows[bucket_start[members]], rows[members - 1]])
    b = np.concatenate([rows[members], rows[members]])
    pairs = _unique_pairs(a, b)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    # Earlier partitions: each member of a bucket with up to max_links earliest documents of the
    # same bucket in each earlier run (sorted merge of this range against the run's shard).
    cross_new, cross_key = [], []
    first = ~same
    unique = hashes[first]
    group = np.cumsum(first) - 1
    for run in plan.earlier:
        run_hashes, file, base = _run_entries(files, run, "band", lo, hi)
        if run_hashes.shape[0] == 0 or unique.shape[0] == 0:
            continue
        left = np.searchsorted(run_hashes, unique, side="left")
        right = np.searchsorted(run_hashes, unique, side="right")
        counts = np.minimum(right - left, settings.max_links)
        hit = np.flatnonzero(counts)
        if hit.shape[0] == 0:
            continue
        positions = spans(left[hit], counts[hit])
        earlier_rows = file.take("band_row", base + positions).astype(np.int64)
        bucket_of = np.repeat(hit, counts[hit])  # unique-hash index of each (bucket, earlier row)
        # Join the bucket's members (entries are sorted, so group is non-decreasing) with them.
        m_lo = np.searchsorted(group, bucket_of, side="left")
        sizes = np.searchsorted(group, bucket_of, side="right") - m_lo
        cross_new.append(rows[spans(m_lo, sizes)])
        cross_key.append(np.repeat(key(run.ordinal, earlier_rows), sizes))
    index_bytes = BYTES_READ.take()
    if cross_new:
        cross = _unique_pairs(np.concatenate(cross_new), np.concatenate(cross_key))
    else:
        cross = np.empty((0, 2), np.int64)
    arrays = {
        "within_a": pairs[:, 0], "within_b": pairs[:, 1],
        "within_bounds": np.searchsorted(_row_range(pairs[:, 0], n), np.arange(ROW_RANGES + 1)).astype(np.int64),
        "cross_new": cross[:, 0], "cross_key": cross[:, 1],
        "cross_bounds": np.searchsorted(_row_range(cross[:, 0], n), np.arange(ROW_RANGES + 1)).astype(np.int64),
    }
    path = posixpath.join(plan.spill, f"candidates-{r:05d}.bin")
    write_arrays(plan.fs(), filesystem(path, plan.storage_options)[1], arrays)
    counts_per_range = (np.diff(arrays["within_bounds"]) + np.diff(arrays["cross_bounds"])).astype(np.int64)
    return path, counts_per_range, int(pairs.shape[0]), int(cross.shape[0]), own, index_bytes


def _verify_task(plan: _Plan, maps: tuple[_MapFile, ...], candidates: tuple[str, ...], n: int, lo: int, hi: int):
    """Verified edges (a, b key, similarity) of the candidates whose first row lies in row
    ranges [lo, hi); b is a key (this partition's or an earlier one's)."""
    BYTES_READ.take()
    files = _Files(plan)
    within, cross = [], []
    for path in candidates:
        file = files(path)
        wb = file.read("within_bounds", lo, hi + 1)
        if wb[-1] > wb[0]:
            within.append(np.stack([file.read("within_a", int(wb[0]), int(wb[-1])),
                                    file.read("within_b", int(wb[0]), int(wb[-1]))], axis=1))
        cb = file.read("cross_bounds", lo, hi + 1)
        if cb[-1] > cb[0]:
            cross.append(np.stack([file.read("cross_new", int(cb[0]), int(cb[-1])),
                                   file.read("cross_key", int(cb[0]), int(cb[-1]))], axis=1))
    own = plan.own_ordinal
    pairs = [_unique_pairs(*np.concatenate(within).T)] if within else []
    if pairs:
        pairs[0][:, 1] = key(own, pairs[0][:, 1])
    if cross:
        pairs.append(_unique_pairs(*np.concatenate(cross).T))
    if not pairs:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), BYTES_READ.take(), 0
    pairs = np.concatenate(pairs)
    a_keys, b_keys = key(own, pairs[:, 0]), pairs[:, 1]
    threshold = plan.settings.threshold
    if threshold is None:
        return a_keys, b_keys, np.full(a_keys.shape[0], np.nan), BYTES_READ.take(), 0
    needed = sorted_unique(np, np.concatenate([a_keys, b_keys]))
    earlier = key_parts(needed)[0] < own  # sorted keys: the earlier partitions' come first
    own_bytes = BYTES_READ.take()
    earlier_values, earlier_lengths = _gather(plan, files, maps, needed[earlier], "sketch", "sketch_off")
    index_bytes = BYTES_READ.take()
    own_values, own_lengths = _gather(plan, files, maps, needed[~earlier], "sketch", "sketch_off")
    values = np.concatenate([earlier_values, own_values])
    lengths = np.concatenate([earlier_lengths, own_lengths])
    ends = np.cumsum(lengths)
    starts = ends - lengths
    ai, bi = np.searchsorted(needed, a_keys), np.searchsorted(needed, b_keys)
    sim = np.empty(a_keys.shape[0])
    step = _verify_chunk_pairs(plan.settings, maps, n)
    for lo in range(0, a_keys.shape[0], step):
        a, b = ai[lo:lo + step], bi[lo:lo + step]
        sim[lo:lo + step] = pair_jaccard(values[spans(starts[a], lengths[a])], lengths[a],
                                         values[spans(starts[b], lengths[b])], lengths[b],
                                         plan.settings.sketch_size, chunk_values=1 << 62)
    ok = sim >= threshold
    return a_keys[ok], b_keys[ok], sim[ok], own_bytes + BYTES_READ.take(), index_bytes


# Bytes per sketch value while a chunk of pairs is compared: the gathered values (4), their pair
# numbers, masks, int64 copies and keys in _chunk_jaccard (about 40).
_COMPARE_BYTES_PER_VALUE = 44


def _verify_sketch_bytes(maps: tuple[_MapFile, ...], n: int) -> int:
    """Mean bytes of one sketch (this partition's; earlier ones are alike)."""
    return int(4 * sum(m.sketch_values for m in maps) / max(n, 1)) + 16


def _verify_chunk_pairs(settings: DedupSettings, maps: tuple[_MapFile, ...], n: int) -> int:
    """Pairs compared at once, so that one chunk uses half the budget."""
    per_pair = 2 * (_verify_sketch_bytes(maps, n) // 4) * _COMPARE_BYTES_PER_VALUE + 64
    return max(1, int(settings.memory_budget_mb * (1 << 19)) // per_pair)


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct (a, b) rows sorted by a then b, as an (n, 2) int64 array."""
    if a.shape[0] == 0:
        return np.empty((0, 2), np.int64)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.ones(a.shape[0], dtype=bool)
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64)


def _gather(plan: _Plan, files: _Files, maps: tuple[_MapFile, ...], keys: np.ndarray, values: str,
            offsets: str) -> tuple[np.ndarray, np.ndarray]:
    """Ragged items (sketches or ids) of sorted unique `keys`: this partition's from the map
    files, earlier partitions' from their runs' docs files. (values, lengths) in key order."""
    ordinals, rows = key_parts(keys)
    out_values, out_lengths = [], []
    for ordinal in sorted_unique(np, ordinals).tolist():
        sel = rows[ordinals == ordinal]
        if ordinal == plan.own_ordinal:
            starts = np.array([m.start for m in maps], dtype=np.int64)
            paths = [m.path for m in maps]
        else:
            run = plan.earlier[ordinal]
            starts = np.array(run.doc_starts, dtype=np.int64)
            paths = [run.docs_path(c) for c in range(len(run.doc_starts))]
        which = np.searchsorted(starts, sel, side="right") - 1
        for f in sorted_unique(np, which).tolist():
            part = sel[which == f]
            v, ln = files(paths[f]).ragged(values, offsets, part - starts[f])
            out_values.append(v)
            out_lengths.append(ln)
    if not out_values:
        return np.empty(0, np.uint32), np.empty(0, np.int64)
    return np.concatenate(out_values), np.concatenate(out_lengths)


def _components(own: int, a: np.ndarray, b: np.ndarray, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Duplicates of this partition: (row, key of the kept document, best edge similarity)."""
    if a.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)  # sorted: keys in priority order
    ea, eb = inverse[:a.shape[0]], inverse[a.shape[0]:]
    labels = min_labels(nodes.shape[0], ea, eb)
    best = np.full(nodes.shape[0], -1.0)
    scores = np.nan_to_num(sim, nan=-1.0)
    np.maximum.at(best, ea, scores)
    np.maximum.at(best, eb, scores)
    ordinals, rows = key_parts(nodes)
    duplicate = (labels != np.arange(nodes.shape[0])) & (ordinals == own)
    similarity = np.where(best[duplicate] >= 0, best[duplicate], np.nan)
    return rows[duplicate], nodes[labels[duplicate]], similarity


def _resolve_ids(plan: _Plan, maps: tuple[_MapFile, ...], target_keys: np.ndarray) -> list[str]:
    if target_keys.shape[0] == 0:
        return []
    unique, inverse = np.unique(target_keys, return_inverse=True)
    values, lengths = _gather(plan, _Files(plan), maps, unique, "ids", "ids_off")
    raw = values.tobytes()
    ends = np.cumsum(lengths).tolist()
    starts = [0] + ends[:-1]
    names = [raw[s:e].decode() for s, e in zip(starts, ends)]
    return [names[i] for i in inverse.tolist()]


# ---- pass 6: add to the index ---------------------------------------------------------------

def kept_input_rows(kept: np.ndarray, dup_rows: np.ndarray) -> np.ndarray:
    """Input row of each kept position (the kept rows are the rows not in sorted dup_rows)."""
    before = dup_rows - np.arange(dup_rows.shape[0])  # kept rows before each duplicate
    return kept + np.searchsorted(before, kept, side="right")


def _add_to_index(index: DedupIndex, name: str, plan: _Plan, maps: tuple[_MapFile, ...], dup_rows: np.ndarray,
                  n: int, client, stats: DedupStats, ranges: int = 0, merged: tuple[str, ...] = ()):
    """Build and commit the partition's run. `merged`: kinds whose entries the passes left
    merged per hash range (`ranges` of them); the others are merged from the map files."""
    attempt = index.attempt_url(name)
    documents = n - int(dup_rows.shape[0])
    doc_starts = list(range(0, documents, DOCS_PER_CHUNK)) or [0]
    digests: dict[str, tuple[str, int]] = {}
    shard_tasks = ((("shard", s),) for s in range(plan.shards))
    doc_tasks = ((("docs", c, lo, min(lo + DOCS_PER_CHUNK, documents)),) for c, lo in enumerate(doc_starts))
    for file_name, digest, size, read_bytes in run_tasks(
            _build_task, (t for tasks in (shard_tasks, doc_tasks) for t in tasks), client,
            shared=(plan, maps, dup_rows, attempt, ranges, merged)):
        digests[file_name] = (digest, size)
        stats.bytes_read += read_bytes
    return index.commit(name, attempt, digests, documents, doc_starts)


def _build_task(plan: _Plan, maps: tuple[_MapFile, ...], dup_rows: np.ndarray, attempt: str, ranges: int,
                merged: tuple[str, ...], task: tuple):
    BYTES_READ.take()
    files = _Files(plan)
    fs, attempt_path = filesystem(attempt, plan.storage_options)
    if task[0] == "shard":
        shard = task[1]
        step = FINE // plan.shards
        arrays: dict[str, np.ndarray] = {}
        per_shard = ranges // plan.shards if ranges else 0
        for kind in ("band", "exact"):
            if kind in merged:
                hashes, rows = _merged_entries(files, plan, kind, range(shard * per_shard, (shard + 1) * per_shard))
            else:
                hashes, rows = _range_entries(files, maps, kind, shard * step, (shard + 1) * step)
            keep = ~_in_sorted(rows, dup_rows)
            hashes, rows = hashes[keep], rows[keep]
            kept_rows = rows - np.searchsorted(dup_rows, rows)  # renumbered over kept rows; order kept
            arrays[f"{kind}_hash"] = hashes
            arrays[f"{kind}_row"] = kept_rows.astype(np.uint32)
        file_name = shard_file(shard)
    else:
        _, chunk, lo, hi = task
        rows = kept_input_rows(np.arange(lo, hi, dtype=np.int64), dup_rows)
        keys = key(plan.own_ordinal, rows)
        sketch, sketch_len = _gather(plan, files, maps, keys, "sketch", "sketch_off")
        ids, ids_len = _gather(plan, files, maps, keys, "ids", "ids_off")
        arrays = {"sketch": sketch.astype(np.uint32),
                  "sketch_off": np.concatenate([[0], np.cumsum(sketch_len)]).astype(np.int64),
                  "ids": ids.astype(np.uint8), "ids_off": np.concatenate([[0], np.cumsum(ids_len)]).astype(np.int64)}
        file_name = docs_file(chunk)
    digest, size = write_arrays(fs, posixpath.join(attempt_path, file_name), arrays)
    return file_name, digest, size, BYTES_READ.take()


def rebuild_index(index: DedupIndex, partitions: Iterable[tuple[str, Callable[[], Iterable[pa.Table]]]],
                  settings: DedupSettings, client: Any = None) -> list[str]:
    """Add every partition's kept documents to `index`, in order, without deduplicating them
    again (they were kept): for a changed MinHash configuration. Returns the names added."""
    added = []
    quiet = replace(settings, exact=False, threshold=None)
    for name, read in partitions:
        _add_only(read, name, quiet, index, client)
        added.append(name)
    return added


def _add_only(read, name: str, settings: DedupSettings, index: DedupIndex, client) -> None:
    spill = _default_spill(index)
    try:
        plan = _Plan(settings, index.layout.shards, spill, index.storage_options, (), 0)
        maps = tuple(file for file, _, _ in run_tasks(_map_task, _map_batches(read, settings.map_rows), client,
                                                      shared=(plan,)))
        n = sum(m.rows for m in maps)
        _add_to_index(index, name, plan, maps, np.empty(0, np.int64), n, client, DedupStats())
    finally:
        _remove(spill, index.storage_options)
