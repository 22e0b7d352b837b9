"""The stage CLI: every stage runs without Dagster on JSONL or Parquet files with `id` and `text`.

    python -m curation langid IN OUT [--threshold 0.5] [--rejects REJECTS]
    python -m curation train-kenlm --corpus C --out MODEL
    python -m curation perplexity IN OUT --model MODEL [--reject tail]
    python -m curation train-quality --positive P --negative N --out MODEL [--language-model LM]
    python -m curation quality IN OUT --model MODEL [--min-bucket 10]
    python -m curation heuristics IN OUT [--skip-column quality_bucket --skip-at-or-above 18]
    python -m curation dedup  IN OUT [--threshold 0.8] [--backend cpu|gpu] [--rejects REJECTS]
    python -m curation pii IN OUT [--types RRN PHONE ...]

OUT holds the kept documents with the stage's columns added; rejected documents go to REJECTS
(default: OUT with `.rejects` before the extension) with stage, reason and details. Prints one
summary line; exits 2 on bad arguments or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Iterable

import pyarrow as pa

from curation.documents import REJECT_SCHEMA
from curation.io import AtomicTableWriter, iter_document_batches
from curation.quality import DEFAULT_MIN_BUCKET
from curation.stage import StageCounts

EXIT_BAD_INPUT = 2


def default_rejects_path(out: str) -> str:
    for ext in (".parquet", ".jsonl", ".json"):
        if out.endswith(ext):
            return out[: -len(ext)] + ".rejects" + ext
    return out + ".rejects"


ReadBatches = Callable[[], Iterable[pa.Table]]
Split = tuple[StageCounts, Iterable[tuple[pa.Table, pa.Table]]]


def _langid(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.langid import LanguageFilter

    stage = LanguageFilter(threshold=args.threshold, min_letters=args.min_letters)
    return stage.counts, (stage.process(batch) for batch in read())


def _heuristics(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.heuristics import HeuristicFilter

    stage = HeuristicFilter(skip_column=args.skip_column, skip_at_or_above=args.skip_at_or_above)
    return stage.counts, (stage.process(batch) for batch in read())


def _perplexity(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.perplexity import PerplexityFilter, PerplexityScorer

    stage = PerplexityFilter(PerplexityScorer(args.model), reject=args.reject)
    return stage.counts, (stage.process(batch) for batch in read())


def _quality(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.quality import QualityFilter, QualityScorer

    stage = QualityFilter(QualityScorer(args.model), min_bucket=args.min_bucket)
    return stage.counts, (stage.process(batch) for batch in read())


def _texts(path: str) -> Iterable[str]:
    from curation.stage import text_column

    for batch in iter_document_batches(path):
        yield from text_column(batch)


def _train_kenlm(args: argparse.Namespace) -> str:
    from curation.perplexity import train_perplexity_model

    card = train_perplexity_model(_texts(args.corpus), args.out, vocab_size=args.vocab_size, order=args.order)
    return (f"train-kenlm: {card['lines']} lines, {card['calibration_texts']} calibration texts, "
            f"head <= {card['head_max']:.1f} < middle <= {card['middle_max']:.1f} < tail -> {args.out}")


def _train_quality(args: argparse.Namespace) -> str:
    from curation.quality import train_quality_model

    card = train_quality_model(_texts(args.positive), _texts(args.negative), args.out,
                               language_model_dir=args.language_model)
    held = card["calibration_documents"]
    return (f"train-quality: {card['examples']['hq']} positive, {card['examples']['lq']} negative, signals "
            f"{'+'.join(card['signals'])}, buckets fitted on {held['positive']}+{held['negative']} held-out "
            f"documents -> {args.out}")


def _pii(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.pii import PiiRedactor

    stage = PiiRedactor(types=args.types)
    return stage.counts, (stage.process(batch) for batch in read())


def _dedup_settings(args: argparse.Namespace):
    from curation.dedup.engine import DedupSettings
    from curation.dedup.minhash import MinHashConfig

    minhash = MinHashConfig(ngram=args.ngram, num_perm=args.num_perm, bands=args.bands)
    return DedupSettings(minhash=minhash, threshold=None if getattr(args, "no_verify", False) else getattr(args, "threshold", 0.8),
                         exact=not getattr(args, "no_exact", False), sketch_size=args.sketch_size,
                         shards=args.shards, memory_budget_mb=args.memory_budget_mb, backend=args.backend)


def _dedup(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.dedup.engine import deduplicate_partition
    from curation.dedup.index import DedupIndex, DedupIndexError
    from curation.parallel import dask_client

    if not 0.0 < args.threshold <= 1.0:
        raise ValueError(f"--threshold must be in (0, 1], not {args.threshold}")
    settings = _dedup_settings(args)
    try:
        index = DedupIndex.open(args.index, settings.layout()) if args.index else None
    except DedupIndexError as error:
        raise ValueError(str(error)) from error
    name = args.partition or os.path.splitext(os.path.basename(args.input.rstrip("/")))[0]
    with dask_client(args.dask) as client:
        result = deduplicate_partition(read, name, settings, index=index, client=client, progress=_terminal_progress)
    counts = StageCounts()
    return counts, result.split(read(), counts)


def _terminal_progress(message: str) -> None:
    """Progress lines (documents hashed, rate, passes) on stderr when it is a terminal."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def _rebuild_index(args: argparse.Namespace) -> str:
    from curation.dedup.engine import rebuild_index
    from curation.dedup.index import DedupIndex
    from curation.parallel import dask_client

    sources = [_kept_documents(path) for path in args.kept]
    names = args.names or [name for name, _ in sources]
    if len(names) != len(args.kept):
        raise ValueError(f"{len(args.kept)} inputs but {len(names)} --names")
    settings = _dedup_settings(args)
    index = DedupIndex.open(args.index, settings.layout())
    if index.entries():
        raise ValueError(f"{args.index} already holds partitions: rebuild into a new, empty folder")
    with dask_client(args.dask) as client:
        added = rebuild_index(index, [(n, read) for n, (_, read) in zip(names, sources)], settings, client)
    documents = sum(e.documents for e in index.entries())
    return f"rebuild-index: {len(added)} partitions ({', '.join(added)}), {documents} documents -> {args.index}"


def _add_io(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="JSONL or Parquet file with at least id and text")
    parser.add_argument("output", metavar="OUT", help="kept documents (.jsonl or .parquet)")
    parser.add_argument("--rejects", help="rejected documents (default: OUT with .rejects before the extension)")


def _kept_documents(path: str) -> tuple[str, ReadBatches]:
    """(partition name, reader) of a file of kept documents, or of a committed store partition
    (a folder with manifest.json, e.g. out/store/web/fuzzy_deduplicated/CC-MAIN-2026-04)."""
    from curation.io import MANIFEST_NAME, Manifest, filesystem, iter_parquet_batches

    fs, local = filesystem(path)
    if not fs.exists(local):
        raise ValueError(f"input {path} does not exist")
    manifest_path = path.rstrip("/") + "/" + MANIFEST_NAME
    if fs.isdir(local):
        if not fs.exists(filesystem(manifest_path)[1]):
            raise ValueError(f"{path} is a folder without {MANIFEST_NAME}: not a committed store partition")
        manifest = Manifest.from_json(fs.cat_file(filesystem(manifest_path)[1]).decode())
        shards = [path.rstrip("/") + "/" + name for name in manifest.kept_shards]
        return manifest.partition, lambda: iter_parquet_batches(shards)
    return os.path.splitext(os.path.basename(path.rstrip("/")))[0], lambda: iter_document_batches(path)


def _add_dedup_options(parser: argparse.ArgumentParser) -> None:
    from curation.dedup.engine import DEFAULT_MEMORY_BUDGET_MB
    from curation.dedup.index import DEFAULT_SHARDS
    from curation.dedup.minhash import MinHashConfig
    from curation.dedup.sketch import DEFAULT_SKETCH_SIZE

    defaults = MinHashConfig()
    parser.add_argument("--backend", choices=["cpu", "gpu", "auto"], default="cpu",
                        help="signatures on the CPU or a GPU (cupy; falls back to cpu with a warning)")
    parser.add_argument("--ngram", type=int, default=defaults.ngram, help="character n-gram length")
    parser.add_argument("--num-perm", type=int, default=defaults.num_perm, help="signature length")
    parser.add_argument("--bands", type=int, default=defaults.bands, help="LSH bands (divides --num-perm)")
    parser.add_argument("--sketch-size", type=int, default=DEFAULT_SKETCH_SIZE,
                        help="fingerprints per verification sketch")
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS, help="hash-range shards of a new index")
    parser.add_argument("--memory-budget-mb", type=float, default=DEFAULT_MEMORY_BUDGET_MB, help="working set per task")
    parser.add_argument("--dask", default="", help="'local' (a LocalCluster) or a scheduler address; default: "
                                                    "in process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m curation", description="Korean curation stages")
    commands = parser.add_subparsers(dest="command", required=True)
    langid = commands.add_parser("langid", help="keep Korean documents; adds language, language_score")
    _add_io(langid)
    langid.add_argument("--threshold", type=float, default=0.5, help="minimum Korean score (0-1)")
    langid.add_argument("--min-letters", type=int, default=1)
    langid.set_defaults(run=_langid)

    heuristics = commands.add_parser("heuristics", help="Korean heuristic filters; adds their scores")
    _add_io(heuristics)
    heuristics.add_argument("--skip-column", help="column of a quality bucket (e.g. quality_bucket)")
    heuristics.add_argument("--skip-at-or-above", type=float, help="documents at or above this bucket skip the filters")
    heuristics.set_defaults(run=_heuristics)

    train_kenlm = commands.add_parser("train-kenlm", help="train SentencePiece + KenLM (lmplz) on reference prose")
    train_kenlm.add_argument("--corpus", required=True, help="JSONL or Parquet with text")
    train_kenlm.add_argument("--out", required=True, help="model folder")
    train_kenlm.add_argument("--vocab-size", type=int, default=2000)
    train_kenlm.add_argument("--order", type=int, default=4)
    train_kenlm.set_defaults(train=_train_kenlm)

    perplexity = commands.add_parser("perplexity", help="adds perplexity, perplexity_bucket")
    _add_io(perplexity)
    perplexity.add_argument("--model", required=True, help="folder written by train-kenlm")
    perplexity.add_argument("--reject", nargs="*", default=[], choices=["head", "middle", "tail"])
    perplexity.set_defaults(run=_perplexity)

    train_quality = commands.add_parser("train-quality", help="train the fastText quality classifier")
    train_quality.add_argument("--positive", required=True, help="JSONL or Parquet of good documents")
    train_quality.add_argument("--negative", required=True, help="JSONL or Parquet of web documents")
    train_quality.add_argument("--language-model", help="folder written by train-kenlm on the positives: adds the "
                               "Moore-Lewis signal (a web KenLM is trained on the negatives)")
    train_quality.add_argument("--out", required=True, help="model folder")
    train_quality.set_defaults(train=_train_quality)

    quality = commands.add_parser("quality", help="adds quality_score, quality_bucket")
    _add_io(quality)
    quality.add_argument("--model", required=True, help="folder written by train-quality")
    quality.add_argument("--min-bucket", type=int, default=DEFAULT_MIN_BUCKET, help="reject buckets below (0-19)")
    quality.set_defaults(run=_quality)

    dedup = commands.add_parser("dedup", help="exact + MinHash fuzzy dedup; adds duplicate_of")
    _add_io(dedup)
    dedup.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity of duplicates (0-1)")
    dedup.add_argument("--no-verify", action="store_true", help="keep every LSH candidate pair unverified")
    dedup.add_argument("--no-exact", action="store_true", help="skip the exact-hash pass")
    dedup.add_argument("--index", help="persistent index (folder or URL): deduplicate IN against it, then add "
                                       "IN's kept documents (created when missing)")
    dedup.add_argument("--partition", help="IN's name in the index (default: IN's file name without extension)")
    _add_dedup_options(dedup)
    rebuild = commands.add_parser("rebuild-index", help="build a new index from partitions' kept documents, "
                                                        "in order (e.g. after changing the MinHash configuration)")
    rebuild.add_argument("kept", nargs="+", metavar="KEPT", help="kept documents of each partition, in keep order: "
                         "files, or committed store partitions (.../fuzzy_deduplicated/PARTITION)")
    rebuild.add_argument("--index", required=True, help="new, empty index folder or URL")
    rebuild.add_argument("--names", nargs="+", help="partition names (default: file names without extension)")
    _add_dedup_options(rebuild)
    rebuild.set_defaults(train=_rebuild_index)
    dedup.set_defaults(run=_dedup)

    from curation.pii import PII_TYPES

    pii = commands.add_parser("pii", help="redact PII with typed placeholders (<RRN>, <PHONE>...); keeps every "
                              "document, adds pii_redactions (counts by type)")
    _add_io(pii)
    pii.add_argument("--types", nargs="+", choices=PII_TYPES, metavar="TYPE",
                     help=f"types to redact (default all: {' '.join(PII_TYPES)})")
    pii.set_defaults(run=_pii)
    return parser


def run_file_stage(args: argparse.Namespace) -> int:
    if not os.path.exists(args.input) and "://" not in args.input:
        print(f"error: input {args.input} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    kept_out = AtomicTableWriter(args.output)
    rejects_out = AtomicTableWriter(args.rejects or default_rejects_path(args.output))
    try:
        counts, split = args.run(args, lambda: iter_document_batches(args.input))
        for kept, rejected in split:
            kept_out.write(kept)
            rejects_out.write(rejected)
        kept_out.close()
        rejects_out.close(empty_schema=REJECT_SCHEMA)
    except (ValueError, OSError) as error:
        kept_out.abort()
        rejects_out.abort()
        print(f"error: {args.input}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(counts.summary(args.command))
    return 0


def run_training(args: argparse.Namespace) -> int:
    try:
        print(args.train(args))
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "train"):
        return run_training(args)
    return run_file_stage(args)


if __name__ == "__main__":
    sys.exit(main())
