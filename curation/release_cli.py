"""`python -m curation release OUT --source NAME=PATH ... --tokenizer MODEL`: a training release
outside Dagster, through the same library code as the `release/training_release` asset.

    python -m curation release out/releases --name v1 \
        --source web=out/store/web/quality_filtered/CC-MAIN-2026-04 \
        --source personas=personas.parquet --synthetic rephrased=rephrased.jsonl \
        --weight personas=0.5 --tokenizer tokenizer.json [--benchmark kmmlu.jsonl] [--jsonl-zst]

Each PATH is a JSONL or Parquet file of documents (`id`, `text`) or a committed store partition
(a folder with manifest.json); a NAME given several times gathers its paths. `--synthetic`
sources are deduplicated against the `--source` ones. OUT/NAME/ is laid out as the store's
release partition: manifest.json, data-*/kept/part-*.parquet, data-*/rejects/, README.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

import pyarrow as pa

from curation.progress import terminal


def add_commands(commands) -> None:
    release = commands.add_parser("release", help="assemble a training release: cross-source dedup, "
                                                  "decontamination, blend, shuffle, shards, token counts, card")
    release.add_argument("out", metavar="OUT", help="folder; the release is written to OUT/NAME/")
    release.add_argument("--name", default="release", help="the release's name (its folder under OUT)")
    release.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                         help="an original source's documents (file or store partition); repeatable")
    release.add_argument("--synthetic", action="append", default=[], metavar="NAME=PATH",
                         help="a generated source, deduplicated against the originals; repeatable")
    release.add_argument("--licence", action="append", default=[], metavar="NAME=TEXT",
                         help="a source's licence for the card and the `licence` column")
    release.add_argument("--url-licences", default="", help="TSV url_prefix<TAB>licence: per-page licences")
    release.add_argument("--weight", action="append", default=[], metavar="NAME=W", help="a source's weight")
    release.add_argument("--weights-as", choices=("documents", "tokens"), default="documents")
    release.add_argument("--seed", type=int, default=0)
    release.add_argument("--buckets", type=int, default=16, help="shuffle buckets: memory holds one")
    release.add_argument("--keep-synthetic-copies", action="store_true")
    release.add_argument("--benchmark", action="append", default=[], help="benchmark file to decontaminate against")
    release.add_argument("--tokenizer", required=True, help="SentencePiece .model or Hugging Face tokenizer.json")
    release.add_argument("--rows-per-shard", type=int, default=None)
    release.add_argument("--jsonl-zst", action="store_true", help="also write each shard as jsonl.zst")
    release.set_defaults(train=run_release)


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ValueError(f"{flag} wants NAME=VALUE, got {value!r}")
        pairs.append((name, rest))
    return pairs


def _reader(paths: list[str]):
    from curation.__main__ import _kept_documents

    readers = [_kept_documents(path)[1] for path in paths]

    def batches() -> Iterable[pa.Table]:
        for read in readers:
            yield from read()
    return batches


def _rows(paths: list[str]) -> int | None:
    """Documents in the paths when every one says so cheaply (manifests, Parquet footers)."""
    from pathlib import Path

    from curation.io import MANIFEST_NAME, Manifest, parquet_rows

    folders = [Path(p) for p in paths if Path(p).is_dir()]
    files = [p for p in paths if not Path(p).is_dir()]
    from_files = parquet_rows(files) if files else 0
    if from_files is None:
        return None
    return from_files + sum(Manifest.from_json((f / MANIFEST_NAME).read_text(encoding="utf-8")).rows_kept
                            for f in folders)


def run_release(args: argparse.Namespace) -> str:
    from curation.decontaminate import Decontaminator
    from curation.release import ORIGINAL, SYNTHETIC, BlendSettings, ReleaseSource, Tokenizer, read_url_licences
    from curation.release import write_release as write

    licences = dict(_pairs(args.licence, "--licence"))
    url_licences = read_url_licences(args.url_licences)
    grouped: dict[str, tuple[str, list[str]]] = {}
    for flag, kind in (("source", ORIGINAL), ("synthetic", SYNTHETIC)):
        for name, path in _pairs(getattr(args, flag), f"--{flag}"):
            if name in grouped and grouped[name][0] != kind:
                raise ValueError(f"{name} is given both as --source and as --synthetic")
            grouped.setdefault(name, (kind, []))[1].append(path)
    if not grouped:
        raise ValueError("no --source given")
    unknown = sorted(set(licences) - set(grouped))
    if unknown:
        raise ValueError(f"--licence names no source: {', '.join(unknown)}")
    sources = [ReleaseSource(name, _reader(paths), licences.get(name, "unstated"), kind, paths, url_licences,
                             _rows(paths)) for name, (kind, paths) in grouped.items()]
    weights = {name: float(value) for name, value in _pairs(args.weight, "--weight")}
    settings = BlendSettings(weights, args.seed, args.buckets, args.keep_synthetic_copies, args.weights_as)
    manifest, stats, _ = write(args.out, args.name, sources, settings, Tokenizer(args.tokenizer),
                               Decontaminator(args.benchmark) if args.benchmark else None, args.rows_per_shard,
                               args.jsonl_zst, progress=terminal)
    by_source = ", ".join(f"{k}={v:,}" for k, v in sorted(stats.documents_out.items()))
    reasons = dict(manifest.rejects_by_reason)
    rejected = f"; rejected {manifest.rows_rejected:,} ({reasons})" if manifest.rows_rejected else ""
    return (f"release {args.name}: {manifest.rows_kept:,} documents ({by_source}), "
            f"{sum(stats.tokens_out.values()):,} tokens, {len(manifest.kept_shards)} shard(s){rejected} -> "
            f"{args.out.rstrip('/')}/{args.name}/README.md")
