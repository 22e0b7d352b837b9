"""A training-ready release from curated sources: cross-source dedup (synthetic copies of web
and persona documents), benchmark decontamination, a blend by weight, a deterministic global
shuffle in bounded memory, fixed-size Parquet shards, token counts and a dataset card.

Every step streams batches; the only state held whole is one shuffle bucket (a release's
rows / `buckets`) at a time, and the dedup index (on disk, in the work folder).

- Cross-source dedup: the original sources (web, personas) go into a temporary dedup index
  first; the synthetic sources (rephrased web, persona QA, SFT conversations) are then
  deduplicated against them with our exact + MinHash dedup. A synthetic document whose
  duplicate is an original is a `cross_source_duplicate` reject, unless `keep_synthetic_copies`.
- Blend: a weight per source multiplies its documents: 1.0 takes each once, 0.5 a
  deterministic half (by a hash of the seed and the id), 2.0 each twice. Copies get the id
  `ID#k` for k > 0.
- Shuffle: each copy's key is a 64-bit hash of (seed, id, copy); rows go to spill files by
  key % buckets, then each bucket is sorted by key and written in order: the same seed gives
  the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.dedup.engine import dedup_settings, deduplicate_partition
from curation.dedup.index import DedupIndex
from curation.documents import details_json, rejects_table
from curation.io import atomic_write_bytes
from curation.progress import Progress

RELEASE_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("source", pa.string()),
    pa.field("snapshot", pa.string()), pa.field("licence", pa.string()), pa.field("tokens", pa.int64()),
])
ORIGINAL, SYNTHETIC = "original", "synthetic"


@dataclass
class ReleaseSource:
    """One input: its name in the blend, where its batches come from, its licence, whether it is
    generated from another source's documents (deduplicated against the originals)."""

    name: str
    batches: Callable[[], Iterable[pa.Table]]  # called once per pass
    licence: str  # of documents that `url_licences` does not name
    kind: str = ORIGINAL
    partitions: list[str] = field(default_factory=list)
    url_licences: Mapping[str, str] = field(default_factory=dict)  # URL prefix -> licence of the pages under it
    documents: int | None = None  # rows its batches hold, when known (the progress line's total and ETA)


def read_url_licences(path: str) -> dict[str, str]:
    """A TSV of `url_prefix<TAB>licence` lines (header `url_prefix\tlicence`); an empty path is
    no mapping. A line without both fields is an error naming the line."""
    if not path:
        return {}
    mapping: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            if (number == 1 and fields == ["url_prefix", "licence"]) or not line.strip():
                continue
            if len(fields) != 2 or not all(f.strip() for f in fields):
                raise ValueError(f"{path}:{number}: expected url_prefix<TAB>licence, got {line.rstrip()!r}")
            mapping[fields[0].strip()] = fields[1].strip()
    return mapping


def licences_of(urls: Sequence[str | None], url_licences: Mapping[str, str], default: str) -> list[str]:
    """Each URL's licence: the longest prefix of `url_licences` it starts with, else `default`."""
    prefixes = sorted(url_licences, key=len, reverse=True)
    out = []
    for url in urls:
        match = next((p for p in prefixes if url and url.startswith(p)), None) if url else None
        out.append(url_licences[match] if match is not None else default)
    return out


@dataclass
class ReleaseStats:
    documents_in: Counter = field(default_factory=Counter)
    tokens_in: Counter = field(default_factory=Counter)
    documents_out: Counter = field(default_factory=Counter)
    tokens_out: Counter = field(default_factory=Counter)
    rejects: Counter = field(default_factory=Counter)  # (source, reason) as "source:reason"
    decontamination: Counter = field(default_factory=Counter)
    licences_out: Counter = field(default_factory=Counter)  # "source\tlicence" -> documents out

    def as_dict(self) -> dict[str, Any]:
        return {name: dict(getattr(self, name)) for name in ("documents_in", "tokens_in", "documents_out",
                                                             "tokens_out", "rejects", "decontamination",
                                                             "licences_out")}


def _unit(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def _key(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"k{seed}\0{key}".encode(), digest_size=8).digest(), "little")


def copies(weight: float, seed: int, doc_id: str) -> int:
    """How many times a document goes into the blend: floor(weight), plus one with probability
    frac(weight), decided by a hash of the seed and the id."""
    whole = int(weight)
    return whole + (1 if _unit(seed, doc_id) < weight - whole else 0)


def _documents(table: pa.Table, source: ReleaseSource) -> pa.Table:
    """id, text, source, snapshot of a source's batch (SFT conversations rendered as text)."""
    if "text" not in table.column_names and "messages" in table.column_names:
        texts = ["\n\n".join(m["content"] for m in json.loads(value))
                 for value in table.column("messages").to_pylist()]
        table = table.append_column("text", pa.array(texts, pa.string()))
    n = table.num_rows
    snapshot = table.column("snapshot") if "snapshot" in table.column_names else pa.nulls(n, pa.string())
    if source.url_licences and "url" in table.column_names:
        licence = pa.array(licences_of(table.column("url").to_pylist(), source.url_licences, source.licence),
                           pa.string())
    else:
        licence = pa.array([source.licence] * n, pa.string())
    return pa.table({"id": table.column("id").cast(pa.string()), "text": table.column("text").cast(pa.string()),
                     "source": pa.array([source.name] * n, pa.string()), "snapshot": snapshot.cast(pa.string()),
                     "licence": licence})


class Tokenizer:
    """Token counts with a SentencePiece model (the perplexity model's `sp.model` by default) or,
    for a path ending in `.json`, a Hugging Face `tokenizer.json` (the `tokenizers` library; no
    special tokens added, so counts are of the text alone)."""

    def __init__(self, model_path: str) -> None:
        self.path = model_path
        if model_path.endswith(".json"):
            import tokenizers

            self.kind = "tokenizer.json"
            self._hf = tokenizers.Tokenizer.from_file(model_path)
        else:
            import sentencepiece

            self.kind = "sentencepiece"
            self._sp = sentencepiece.SentencePieceProcessor(model_file=model_path)

    def count(self, texts: Sequence[str]) -> list[int]:
        if self.kind == "tokenizer.json":
            return [len(e.ids) for e in self._hf.encode_batch(list(texts), add_special_tokens=False)]
        return [len(ids) for ids in self._sp.encode(list(texts))]


def jsonl_zst_bytes(table: pa.Table, level: int = 10) -> bytes:
    """One shard as zstd-compressed JSON lines (one object per row, non-ASCII kept)."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=level)
    chunks = []
    with compressor.stream_writer(_Collect(chunks), closefd=False) as out:
        for batch in table.to_batches(max_chunksize=1024):
            out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch.to_pylist()).encode())
    return b"".join(chunks)


class _Collect:
    """A write-only file object that keeps what is written (zstd's stream writer needs one)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


HUB_PATTERNS = ["README.md", "*/kept/*.parquet", "*/jsonl/*.jsonl.zst"]


def push_to_hub(folder: str, repo_id: str, token: str | None = None, private: bool = True, api=None) -> str:
    """Upload a release folder (the card and the shards, not its rejects or manifest) to a
    Hugging Face Hub dataset repository, creating it (private by default) if it is missing.
    The token comes from the caller or `$HF_TOKEN`; `api` is an `huggingface_hub.HfApi`."""
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise ValueError("pushing to the Hub needs a token: set $HF_TOKEN")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset",
                               allow_patterns=HUB_PATTERNS, commit_message=f"release {os.path.basename(folder)}")
    return str(getattr(commit, "commit_url", commit))


def cross_source_duplicates(sources: Sequence[ReleaseSource], work: str) -> dict[str, tuple[str, str]]:
    """Synthetic document id -> (original id, reason) for synthetic documents that duplicate an
    original one, by our exact + MinHash dedup (originals indexed first)."""
    originals = [s for s in sources if s.kind == ORIGINAL]
    synthetic = [s for s in sources if s.kind == SYNTHETIC]
    if not originals or not synthetic:
        return {}
    settings = dedup_settings()
    index = DedupIndex.open(os.path.join(work, "release_index"), settings.layout())

    def read(group: Sequence[ReleaseSource], prefix: str):
        # ids tagged by side, so that a match's target says whether it is an original
        def batches():
            for source in group:
                for batch in source.batches():
                    table = _documents(batch, source)
                    tagged = pc.binary_join_element_wise(prefix, table.column("id"), "")
                    yield pa.table({"id": tagged, "text": table.column("text")})
        return batches

    spill = os.path.join(work, "dedup_spill")
    deduplicate_partition(read(originals, "o:"), "originals", settings, index=index, add=True, spill=spill)
    result = deduplicate_partition(read(synthetic, "s:"), "synthetic", settings, index=index, earlier=["originals"],
                                   add=False, spill=spill)
    found = {row: (target[2:], reason) for row, (target, reason) in result.duplicates().items()
             if target.startswith("o:")}
    if not found:
        return {}
    ids, position = {}, 0  # rows are positions in the synthetic stream
    for source in synthetic:
        for batch in source.batches():
            for doc_id in batch.column("id").cast(pa.string()).to_pylist():
                if position in found:
                    ids[doc_id] = found[position]
                position += 1
    return ids


@dataclass(frozen=True)
class BlendSettings:
    """`weights` per source (missing: 1.0). With `weights_as="documents"` a weight multiplies the
    source's documents; with "tokens" the weights are shares of the release's tokens (normalised
    to sum to 1): each source's multiplier is share x total tokens / its tokens, from a counting
    pass, so the blend meets the shares within the rounding of whole documents."""

    weights: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    buckets: int = 16
    keep_synthetic_copies: bool = False
    weights_as: str = "documents"


def token_multipliers(shares: Mapping[str, float], tokens: Mapping[str, int]) -> dict[str, float]:
    """Per-source multipliers that give each source `shares` of the total tokens (sources with
    no tokens get 0)."""
    total_share = sum(shares.get(name, 1.0) for name in tokens)
    total = sum(tokens.values())
    return {name: (shares.get(name, 1.0) / total_share) * total / count if count else 0.0
            for name, count in tokens.items()}


def assemble(sources: Sequence[ReleaseSource], settings: BlendSettings, stats: ReleaseStats,
             tokenizer: Tokenizer | None = None, decontaminator=None, work_dir: str | None = None,
             progress: Callable[[str], None] | None = None,
             progress_every_s: float = 30.0) -> Iterator[tuple[pa.Table, pa.Table]]:
    """The release as (rows, rejects) pairs: the shuffled rows (RELEASE_SCHEMA) in order, bucket
    by bucket, and every dropped document with its stage and reason; `stats` fills as it goes."""
    pending_rejects: list[pa.Table] = []
    write_rejects = pending_rejects.append
    counts = [s.documents for s in sources]
    meter = Progress("release", total=None if None in counts else sum(counts), report=progress,
                     every_s=progress_every_s)
    if settings.weights_as not in ("documents", "tokens"):
        raise ValueError(f"weights_as must be documents or tokens, not {settings.weights_as!r}")
    multipliers = dict(settings.weights)
    if settings.weights_as == "tokens":
        if tokenizer is None:
            raise ValueError("token-share weights need a tokenizer")
        counted = {s.name: sum(sum(tokenizer.count(_documents(b, s).column("text").to_pylist()))
                               for b in s.batches()) for s in sources}
        multipliers = token_multipliers(settings.weights, counted)
    work = work_dir or tempfile.mkdtemp(prefix="release-")
    os.makedirs(work, exist_ok=True)
    spill = os.path.join(work, "buckets")
    shutil.rmtree(spill, ignore_errors=True)
    os.makedirs(spill)
    try:
        duplicates = {} if settings.keep_synthetic_copies else cross_source_duplicates(sources, work)
        writers: dict[int, pq.ParquetWriter] = {}
        spill_schema = RELEASE_SCHEMA.append(pa.field("key", pa.uint64()))
        for source in sources:
            weight = float(multipliers.get(source.name, 1.0))
            for batch in source.batches():
                table = _documents(batch, source)
                tokens = tokenizer.count(table.column("text").to_pylist()) if tokenizer else [0] * table.num_rows
                table = table.append_column("tokens", pa.array(tokens, pa.int64()))
                stats.documents_in[source.name] += table.num_rows
                stats.tokens_in[source.name] += sum(tokens)
                meter.add(table.num_rows, sum(tokens))
                table = _drop(table, duplicates, source, stats, write_rejects)
                if decontaminator is not None and table.num_rows:
                    kept, contaminated, batch_stats = decontaminator.process(table)
                    for name, count in batch_stats.extra.items():
                        stats.decontamination[name.removeprefix("matches.")] += count
                    for reason, count in batch_stats.rejects_by_reason.items():
                        stats.rejects[f"{source.name}:{reason}"] += count
                    write_rejects(contaminated)
                    table = kept.select(RELEASE_SCHEMA.names)
                _spill(table, weight, settings, source, writers, spill, spill_schema)
                while pending_rejects:
                    yield RELEASE_SCHEMA.empty_table(), pending_rejects.pop(0)
            if progress:
                progress(f"release: {source.name}: {stats.documents_in[source.name]:,} documents, "
                         f"{stats.tokens_in[source.name]:,} tokens read")
        for writer in writers.values():
            writer.close()
        for bucket in sorted(writers):
            rows = pq.read_table(os.path.join(spill, f"{bucket:05d}.parquet"))
            rows = rows.sort_by([("key", "ascending"), ("id", "ascending")]).drop_columns(["key"])
            for name, count in Counter(rows.column("source").to_pylist()).items():
                stats.documents_out[name] += count
            for name, tokens in zip(rows.column("source").to_pylist(), rows.column("tokens").to_pylist()):
                stats.tokens_out[name] += tokens
            for name, licence in zip(rows.column("source").to_pylist(), rows.column("licence").to_pylist()):
                stats.licences_out[f"{name}\t{licence}"] += 1
            yield rows, rejects_table(rows.slice(0, 0), "release", [], [])
    finally:
        shutil.rmtree(spill, ignore_errors=True)
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _drop(table: pa.Table, duplicates: Mapping[str, tuple[str, str]], source: ReleaseSource, stats: ReleaseStats,
          write_rejects: Callable[[pa.Table], None]) -> pa.Table:
    if source.kind != SYNTHETIC or not duplicates:
        return table
    ids = table.column("id").to_pylist()
    drop = np.array([doc_id in duplicates for doc_id in ids], dtype=bool)
    if not drop.any():
        return table
    dropped = table.filter(pa.array(drop))
    details = [details_json({"duplicate_of": duplicates[i][0], "match": duplicates[i][1]})
               for i in dropped.column("id").to_pylist()]
    write_rejects(rejects_table(dropped, "release", ["cross_source_duplicate"] * dropped.num_rows, details))
    stats.rejects[f"{source.name}:cross_source_duplicate"] += dropped.num_rows
    return table.filter(pa.array(~drop))


def _spill(table: pa.Table, weight: float, settings: BlendSettings, source: ReleaseSource,
           writers: dict[int, pq.ParquetWriter], folder: str, schema: pa.Schema) -> None:
    """Each document's copies, keyed for the shuffle, into their buckets' spill files."""
    rows, keys = [], []
    for position, doc_id in enumerate(table.column("id").to_pylist()):
        for copy in range(copies(weight, settings.seed, f"{source.name}\0{doc_id}")):
            rows.append(position)
            keys.append((copy, _key(settings.seed, f"{source.name}\0{doc_id}\0{copy}")))
    if not rows:
        return
    picked = table.take(pa.array(rows, pa.int64()))
    ids = [doc_id if copy == 0 else f"{doc_id}#{copy}" for doc_id, (copy, _) in zip(picked.column("id").to_pylist(),
                                                                                     keys)]
    picked = picked.set_column(0, "id", pa.array(ids, pa.string()))
    key_values = np.array([key for _, key in keys], dtype=np.uint64)
    picked = picked.append_column("key", pa.array(key_values, pa.uint64()))
    buckets = key_values % np.uint64(settings.buckets)
    for bucket in np.unique(buckets).tolist():
        part = picked.filter(pa.array(buckets == bucket))
        if bucket not in writers:
            writers[bucket] = pq.ParquetWriter(os.path.join(folder, f"{bucket:05d}.parquet"), schema)
        writers[bucket].write_table(part.cast(schema))


def dataset_card(name: str, stats: ReleaseStats, sources: Sequence[ReleaseSource], settings: BlendSettings,
                 lineage: Mapping[str, Any], tokenizer: str, shards: int,
                 upstream_rejects: Mapping[str, Mapping[str, int]] | None = None, shard_folder: str = "kept",
                 jsonl_zst: bool = False) -> str:
    """README.md of the release: sources and licences, documents and tokens before and after the
    blend, rejects, decontamination hits, lineage."""
    rows = "\n".join(
        f"| {s.name} | {'per page (below); otherwise ' if s.url_licences else ''}{s.licence} | "
        f"{settings.weights.get(s.name, 1.0)} | {stats.documents_in[s.name]:,} | "
        f"{stats.tokens_in[s.name]:,} | {stats.documents_out[s.name]:,} | {stats.tokens_out[s.name]:,} |"
        for s in sources)
    rejects = "\n".join(f"| {k} | {v:,} |" for k, v in sorted(stats.rejects.items())) or "| (none) | 0 |"
    hits = "\n".join(f"| {k} | {v:,} |" for k, v in sorted(stats.decontamination.items())) or "| (none) | 0 |"
    licences = "\n".join("| {} | {} | {:,} |".format(*key.split("\t", 1), count)
                         for key, count in sorted(stats.licences_out.items())) or "| (none) | | 0 |"
    inputs = "\n".join(f"- {s.name}: {', '.join(s.partitions) or '-'}" for s in sources)
    upstream = sorted((upstream_rejects or {}).items())
    jsonl_folder = posixpath.join(posixpath.dirname(shard_folder), "jsonl")
    jsonl_note = f" and as jsonl.zst in `{jsonl_folder}/`" if jsonl_zst else ""
    chain = "\n".join(f"| {stage} | {reason} | {count:,} |" for stage, reasons in upstream
                      for reason, count in sorted(reasons.items())) or "| (none) | | 0 |"
    return (f"# Korean training release `{name}`\n\n"
            f"{sum(stats.documents_out.values()):,} documents, {sum(stats.tokens_out.values()):,} tokens "
            f"({tokenizer}), {shards} Parquet shards (`text` and metadata) in `{shard_folder}/`"
            f"{jsonl_note}"
            f", shuffled with seed {settings.seed}. Load: `datasets.load_dataset(\"parquet\", "
            f"data_dir=\"<this folder>/{shard_folder}\", split=\"train\")`.\n\n"
            "| source | licence | weight | documents in | tokens in | documents out | tokens out |\n"
            f"|---|---|---|---|---|---|---|\n{rows}\n\n"
            "## Licences of the documents out (each input's licence carried through)\n\n"
            f"| source | licence | documents |\n|---|---|---|\n{licences}\n\n"
            "## Rejects of the release (by source and reason)\n\n"
            f"| source:reason | documents |\n|---|---|\n{rejects}\n\n"
            "## Rejects upstream (per stage, summed over the partitions that went in)\n\n"
            f"| stage | reason | documents |\n|---|---|---|\n{chain}\n\n"
            f"## Decontamination hits\n\n| benchmark | documents |\n|---|---|\n{hits}\n\n"
            f"## Lineage\n\nPartitions that went in:\n{inputs}\n\n"
            f"Code and model versions: `{json.dumps(dict(lineage), ensure_ascii=False, sort_keys=True)}`\n")


def batches_of(tables: Iterator[pa.Table] | Iterable[pa.Table]) -> Callable[[], Iterable[pa.Table]]:
    """A re-readable source over tables already in memory (tests, small inputs)."""
    tables = list(tables)
    return lambda: iter(tables)


def write_jsonl_zst(fs, folder: str, kept_shards: Sequence[str], wanted: bool) -> None:
    """jsonl/part-NNNNN.jsonl.zst beside each kept Parquet shard of a committed release folder,
    one shard in memory at a time; removed when not wanted (a re-run of the same bytes keeps its
    data folder)."""
    for shard in kept_shards:
        target_dir = posixpath.join(folder, posixpath.dirname(posixpath.dirname(shard)), "jsonl")
        if not wanted:
            if fs.exists(target_dir):
                fs.rm(target_dir, recursive=True)
            continue
        with fs.open(posixpath.join(folder, shard), "rb") as handle:
            table = pq.read_table(handle)
        name = posixpath.basename(shard).removesuffix(".parquet") + ".jsonl.zst"
        atomic_write_bytes(fs, posixpath.join(target_dir, name), jsonl_zst_bytes(table))


def finish_release(fs, folder: str, manifest, name: str, stats: ReleaseStats, sources: Sequence[ReleaseSource],
                   settings: BlendSettings, lineage: Mapping[str, Any], tokenizer_name: str,
                   upstream_rejects: Mapping[str, Mapping[str, int]] | None = None, jsonl_zst: bool = False) -> str:
    """After the shards are committed: the jsonl.zst copies (if wanted) and the card, written
    atomically beside the shards. Returns the card."""
    shard_folder = posixpath.dirname(manifest.kept_shards[0]) if manifest.kept_shards else "."
    write_jsonl_zst(fs, folder, manifest.kept_shards, jsonl_zst)
    card = dataset_card(name, stats, sources, settings, lineage, tokenizer_name, len(manifest.kept_shards),
                        upstream_rejects, shard_folder, jsonl_zst=jsonl_zst)
    atomic_write_bytes(fs, f"{folder}/README.md", card.encode("utf-8"))
    return card


def write_release(out: str, name: str, sources: Sequence[ReleaseSource], settings: BlendSettings,
                  tokenizer: Tokenizer, decontaminator=None, rows_per_shard: int | None = None,
                  jsonl_zst: bool = False, progress: Callable[[str], None] | None = None,
                  lineage: Mapping[str, Any] | None = None) -> tuple[Any, ReleaseStats, str]:
    """A release outside Dagster (the CLI): `{out}/{name}/` laid out as the store's release
    partition (manifest.json, data-*/kept/, data-*/rejects/, README.md), committed atomically.
    Returns (manifest, stats, card)."""
    from curation.io import PartitionWriter

    stats = ReleaseStats()
    kwargs = {"rows_per_shard": rows_per_shard} if rows_per_shard else {}
    writer = PartitionWriter(out, "", name, **kwargs)
    try:
        for rows, rejects in assemble(sources, settings, stats, tokenizer, decontaminator, progress=progress,
                                      progress_every_s=5.0):
            writer.write_kept(rows)
            writer.write_rejects(rejects)
        manifest = writer.commit(writer.rows_kept + writer.rows_rejected, stats.as_dict())
    except BaseException:
        writer.abort()
        raise
    folder = writer.dir
    lineage = {**(lineage or {}), "tokenizer_sha256": file_sha256(tokenizer.path)}
    card = finish_release(writer.fs, folder, manifest, name, stats, sources, settings, lineage,
                          posixpath.basename(tokenizer.path), None, jsonl_zst)
    return manifest, stats, card


def file_sha256(path: str, digits: int = 16) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:digits]
