"""Flat array files for the dedup index and its spill: several named arrays in one file, each
readable whole, as a slice, or at scattered rows, on any fsspec filesystem.

Why not Parquet: lookups read a slice of one sorted array, or a few thousand scattered rows of
another, and the raw layout turns both into byte ranges (a memory map locally, ranged GETs on
object stores) with no decoding. Files are immutable once written.

Layout: 8 bytes little-endian header length, a JSON header {name: [dtype, offset, count]},
then the arrays, each at its offset.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from typing import Any

import fsspec
import numpy as np

from curation.io import _is_local

_HEADER_LENGTH = struct.Struct("<Q")


class ReadCounter:
    """Bytes read from array files by this process (the bench reports them per partition)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n

    def take(self) -> int:
        with self._lock:
            n, self.bytes = self.bytes, 0
            return n


BYTES_READ = ReadCounter()


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions starts[i] + 0..lengths[i]-1 for every i, concatenated."""
    total = int(lengths.sum())
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)


def write_arrays(fs: fsspec.AbstractFileSystem, path: str, arrays: dict[str, np.ndarray]) -> tuple[str, int]:
    """Write `arrays` into one file; returns (sha256 of the bytes, size). Deterministic: the
    same arrays give the same bytes."""
    header: dict[str, list[Any]] = {}
    offset = 0
    parts = []
    for name, array in arrays.items():
        data = np.ascontiguousarray(array)
        header[name] = [data.dtype.str, offset, int(data.shape[0])]
        parts.append(memoryview(data).cast("B") if data.nbytes else b"")
        offset += data.nbytes
    head = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.sha256()
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:  # streamed: no joined copy of the arrays
        for part in (_HEADER_LENGTH.pack(len(head)), head, *parts):
            digest.update(part)
            handle.write(part)
    return digest.hexdigest(), _HEADER_LENGTH.size + len(head) + offset


class ArrayFile:
    """Reads the arrays of one file written by `write_arrays`."""

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str) -> None:
        self.fs, self.path = fs, path
        self.local = _is_local(fs)
        first = self._read(0, _HEADER_LENGTH.size)
        (length,) = _HEADER_LENGTH.unpack(first)
        self._base = _HEADER_LENGTH.size + length
        self.header = {name: (np.dtype(dtype), offset, count)
                       for name, (dtype, offset, count)
                       in json.loads(self._read(_HEADER_LENGTH.size, self._base)).items()}

    def _read(self, start: int, end: int) -> bytes:
        BYTES_READ.add(end - start)
        return self.fs.cat_file(self.path, start=start, end=end)

    def _read_into(self, start: int, count: int, dtype: np.dtype) -> np.ndarray:
        """`count` items at byte `start` (after the header) into a fresh, writable array."""
        out = np.empty(count, dtype)
        with open(self.path, "rb") as handle:
            handle.seek(self._base + start)
            handle.readinto(memoryview(out).cast("B"))
        return out

    def count(self, name: str) -> int:
        return self.header[name][2]

    def _memmap(self, name: str) -> np.ndarray:
        """A transient map for scattered reads: callers drop it at once, so only the pages
        of one lookup are resident (a map kept open would keep every page it touched)."""
        dtype, offset, count = self.header[name]
        return (np.memmap(self.path, dtype=dtype, mode="r", offset=self._base + offset, shape=(count,))
                if count else np.empty(0, dtype))

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Items [start, stop) of one array, as an ordinary (copied) array."""
        dtype, offset, count = self.header[name]
        stop = count if stop is None else min(stop, count)
        if stop <= start:
            return np.empty(0, dtype)
        if self.local:
            BYTES_READ.add((stop - start) * dtype.itemsize)
            return self._read_into(offset + start * dtype.itemsize, stop - start, dtype)
        raw = self._read(self._base + offset + start * dtype.itemsize, self._base + offset + stop * dtype.itemsize)
        return np.frombuffer(raw, dtype=dtype).copy()

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Items at scattered positions `rows` (any order): only those bytes are read."""
        dtype, offset, count = self.header[name]
        rows = np.asarray(rows, dtype=np.int64)
        if rows.shape[0] == 0:
            return np.empty(0, dtype)
        BYTES_READ.add(rows.shape[0] * dtype.itemsize)
        if self.local:
            return np.asarray(self._memmap(name)[rows])
        starts = (self._base + offset + rows * dtype.itemsize).tolist()
        ends = [s + dtype.itemsize for s in starts]
        raw = self.fs.cat_ranges([self.path] * len(starts), starts, ends)
        return np.frombuffer(b"".join(raw), dtype=dtype).copy()

    def ragged(self, values: str, offsets: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Variable-length items (item i is values[offsets[i]:offsets[i+1]]) at `rows`: the
        concatenated values and each item's length, in the order of `rows`."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.take(offsets, rows).astype(np.int64)
        ends = self.take(offsets, rows + 1).astype(np.int64)
        lengths = ends - starts
        dtype, offset, _ = self.header[values]
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype), lengths
        BYTES_READ.add(total * dtype.itemsize)
        if self.local:
            return np.asarray(self._memmap(values)[spans(starts, lengths)]), lengths
        base = self._base + offset
        raw = self.fs.cat_ranges([self.path] * rows.shape[0], (base + starts * dtype.itemsize).tolist(),
                                 (base + ends * dtype.itemsize).tolist())
        return np.frombuffer(b"".join(raw), dtype=dtype).copy(), lengths


def ragged_arrays(items: list[bytes] | list[np.ndarray], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of a list of variable-length items, for `write_arrays`."""
    lengths = np.fromiter((len(item) for item in items), dtype=np.int64, count=len(items))
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if dtype == np.uint8:
        values = np.frombuffer(b"".join(items), dtype=np.uint8) if items else np.empty(0, np.uint8)
    else:
        values = np.concatenate(items).astype(dtype) if items else np.empty(0, dtype)
    return values, offsets
