"""The persistent dedup index: what later partitions need of the kept documents, and no more.

One index per source (or per CLI `--index DIR`), on any fsspec filesystem:

    {root}/config.json                         MinHash configuration, shard count, sketch size
    {root}/partitions/{name}.json              one entry per partition: the commit point
    {root}/runs/{name}-{digest}/shard-NNNN.bin band hashes and exact text hashes of the kept
                                               documents in one hash range, sorted, with each
                                               one's row (8 + 4 bytes per band per document)
    {root}/runs/{name}-{digest}/docs-NNNNN.bin  verification sketches and ids of kept rows

A partition's run is immutable. It is written into an attempt folder, renamed after a digest
of its files, and becomes visible only when its entry is replaced atomically: a run killed
mid-update leaves the entry (and the index) as it was, and re-adding the same documents writes
the same folder and a byte-identical entry. Entries are separate files, so runs adding different
partitions never race on a shared file.

Rows are numbered in the kept order of the partition; a document of an earlier partition is
named by `key(ordinal, row)`, where ordinal is the partition's position among the earlier
partitions a lookup was given.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from curation.dedup.minhash import MinHashConfig
from curation.dedup.sketch import DEFAULT_SKETCH_SIZE
from curation.io import atomic_write_bytes, filesystem

INDEX_FORMAT = "dedup-index-v1"
DEFAULT_SHARDS = 64
DOCS_PER_CHUNK = 65_536
RUN_DIGEST_CHARS = 20  # of a run folder's name: {partition}-{digest}
ROW_BITS = 40  # key = ordinal << ROW_BITS | row: a trillion rows per partition


def key(ordinal, row):
    """The int64 key of row `row` of the partition at `ordinal` (arrays or ints)."""
    return (ordinal << ROW_BITS) | row


def key_parts(keys):
    return keys >> ROW_BITS, keys & ((1 << ROW_BITS) - 1)


class DedupIndexError(RuntimeError):
    """An index that cannot serve the request (missing partition, other configuration)."""


@dataclass(frozen=True)
class IndexLayout:
    """What every run of one index shares; fixed when the index is created."""

    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    shards: int = DEFAULT_SHARDS
    sketch_size: int = DEFAULT_SKETCH_SIZE

    def __post_init__(self) -> None:
        if self.shards < 1 or self.shards & (self.shards - 1) or self.shards > 4096:
            raise ValueError(f"shards must be a power of two up to 4096, not {self.shards}")
        if self.sketch_size < 1:
            raise ValueError("sketch_size must be positive")

    def as_dict(self) -> dict[str, Any]:
        return {"format": INDEX_FORMAT, "minhash": self.minhash.as_dict(), "shards": self.shards,
                "sketch_size": self.sketch_size}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> IndexLayout:
        return cls(MinHashConfig.from_dict(values["minhash"]), values["shards"], values["sketch_size"])


@dataclass
class IndexEntry:
    """One committed partition of the index."""

    name: str
    sequence: int  # insertion order, for callers that do not pass the order (the CLI)
    run: str  # folder under runs/
    documents: int  # kept documents
    doc_starts: list[int]  # first row of each docs file
    bytes: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()


@dataclass(frozen=True)
class RunRef:
    """An earlier partition's run as a lookup task needs it (picklable, small)."""

    ordinal: int
    name: str
    url: str
    shards: int
    doc_starts: tuple[int, ...]
    documents: int

    def shard_path(self, shard: int) -> str:
        return posixpath.join(self.url, shard_file(shard))

    def docs_path(self, chunk: int) -> str:
        return posixpath.join(self.url, docs_file(chunk))


def shard_file(shard: int) -> str:
    return f"shard-{shard:04d}.bin"


def docs_file(chunk: int) -> str:
    return f"docs-{chunk:05d}.bin"


def safe_name(name: str) -> str:
    return name.replace("/", "_").replace("|", "__")


class DedupIndex:
    def __init__(self, root: str, layout: IndexLayout, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        self.layout = layout
        self.storage_options = storage_options or None
        self.fs, self.path = filesystem(self.root, self.storage_options)

    @classmethod
    def open(cls, root: str, layout: IndexLayout | None = None,
             storage_options: dict[str, Any] | None = None) -> DedupIndex:
        """The index at `root`; created with `layout` when missing. An existing index with
        another MinHash configuration or sketch size is an error naming both (rebuild it to
        change them); its shard count is kept whatever `layout` says."""
        fs, path = filesystem(root, storage_options)
        config = posixpath.join(path, "config.json")
        if fs.exists(config):
            stored = json.loads(fs.cat_file(config))
            found = IndexLayout.from_dict(stored)
            # The shard count is the index's own: a run asking for another still uses it.
            if layout is not None and (found.minhash, found.sketch_size) != (layout.minhash, layout.sketch_size):
                raise DedupIndexError(
                    f"dedup index {root} was built with {stored}, this run asks for {layout.as_dict()}: "
                    "use the index's configuration, or rebuild the index with the new one "
                    "(python -m curation rebuild-index)")
            return cls(root, found, storage_options)
        if layout is None:
            raise DedupIndexError(f"no dedup index at {root}")
        atomic_write_bytes(fs, config, json.dumps(layout.as_dict(), sort_keys=True, indent=1).encode())
        return cls(root, layout, storage_options)

    def url(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def _local(self, *parts: str) -> str:
        return posixpath.join(self.path, *parts)

    def entries(self) -> list[IndexEntry]:
        """Every committed partition, in insertion order."""
        folder = self._local("partitions")
        if not self.fs.exists(folder):
            return []
        found = [IndexEntry(**json.loads(self.fs.cat_file(p))) for p in self.fs.ls(folder, detail=False)
                 if p.endswith(".json")]
        return sorted(found, key=lambda e: e.sequence)

    def entry(self, name: str) -> IndexEntry | None:
        path = self._local("partitions", f"{safe_name(name)}.json")
        return IndexEntry(**json.loads(self.fs.cat_file(path))) if self.fs.exists(path) else None

    def names_before(self, name: str) -> list[str]:
        """Partitions added before `name` (all of them when `name` is new): the CLI's order."""
        entries = self.entries()
        own = next((e.sequence for e in entries if e.name == name), None)
        return [e.name for e in entries if own is None or e.sequence < own]

    def runs(self, names: list[str]) -> list[RunRef]:
        """The runs of `names`, in that order (their ordinals); a missing one is an error."""
        refs = []
        for ordinal, name in enumerate(names):
            entry = self.entry(name)
            if entry is None:
                raise DedupIndexError(f"partition {name!r} is not in the dedup index {self.root}: add it first "
                                  "(deduplicate the partitions in order)")
            refs.append(RunRef(ordinal, name, self.url("runs", entry.run), self.layout.shards,
                               tuple(entry.doc_starts), entry.documents))
        return refs

    def attempt_url(self, name: str) -> str:
        return self.url("runs", f"{safe_name(name)}.attempt-{uuid.uuid4().hex[:12]}")

    def commit(self, name: str, attempt: str, file_digests: dict[str, tuple[str, int]], documents: int,
               doc_starts: list[int]) -> IndexEntry:
        """Make the run written into `attempt` the partition's entry (atomically)."""
        digest = hashlib.sha256()
        for file_name in sorted(file_digests):
            digest.update(f"{file_name}\0{file_digests[file_name][0]}\n".encode())
        run = f"{safe_name(name)}-{digest.hexdigest()[:RUN_DIGEST_CHARS]}"
        target = self._local("runs", run)
        _, attempt_path = filesystem(attempt, self.storage_options)
        if self.fs.exists(target):  # the same documents were added before: same bytes
            self.fs.rm(attempt_path, recursive=True)
        else:
            self.fs.mv(attempt_path, target, recursive=True)
        previous = self.entry(name)
        sequence = previous.sequence if previous else 1 + max((e.sequence for e in self.entries()), default=-1)
        entry = IndexEntry(name, sequence, run, documents, doc_starts,
                           sum(size for _, size in file_digests.values()))
        atomic_write_bytes(self.fs, self._local("partitions", f"{safe_name(name)}.json"), entry.to_json())
        self._remove_other_runs(name, keep=run)
        return entry

    def _remove_other_runs(self, name: str, keep: str) -> None:
        """Replaced runs and attempts of killed runs of this partition."""
        folder = self._local("runs")
        prefix = safe_name(name)
        for entry in self.fs.ls(folder, detail=False):
            base = posixpath.basename(entry.rstrip("/"))
            if base != keep and (base.startswith(prefix + ".attempt-") or
                                 (base.startswith(prefix + "-") and len(base) == len(prefix) + 1 + RUN_DIGEST_CHARS)):
                self.fs.rm(entry, recursive=True)
