"""The stage CLI: every stage runs without Dagster on JSONL or Parquet files with `id` and `text`.

Every per-document stage of `curation/catalog.py` is a subcommand named after it (with a short
alias), with one flag per parameter of its spec, defaults from the stage's constructor:

    python -m curation language_filtered IN OUT [--threshold 0.5]          (alias: langid)
    python -m curation heuristic_filtered IN OUT [--min-syllables 15 ...]  (alias: heuristics)
    python -m curation pii_redacted IN OUT [--types RRN PHONE ...]         (alias: pii)
    python -m curation perplexity_filtered IN OUT --model MODEL [--reject tail]  (alias: perplexity)
    python -m curation quality_filtered IN OUT --model MODEL [--min-bucket 10]   (alias: quality)
    python -m curation extracted_text IN.parquet OUT                        (alias: extract)

Dedup and training keep their own commands:

    python -m curation dedup IN OUT [--threshold 0.8] [--index DIR] [--dask local|ADDRESS]
    python -m curation rebuild-index KEPT... --index DIR
    python -m curation train-kenlm --corpus C --out MODEL
    python -m curation train-quality --positive P --negative N --out MODEL [--language-model LM]
    python -m curation release OUT --source NAME=PATH ... --tokenizer MODEL   (curation/release_cli.py)

OUT holds the kept documents with the stage's columns added; rejected documents go to REJECTS
(default: OUT with `.rejects` before the extension) with stage, reason and details. Prints one
summary line; exits 2 on bad arguments or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pyarrow as pa

from curation.documents import REJECT_SCHEMA
from curation.io import AtomicTableWriter, default_rejects_path, iter_document_batches, parquet_rows
from curation.progress import Progress, terminal
from curation.stage import BatchStats

EXIT_BAD_INPUT = 2


ReadBatches = Callable[[], Iterable[pa.Table]]
Split = Iterable[tuple[pa.Table, pa.Table, BatchStats]]


def _run_document_stage(args: argparse.Namespace, read: ReadBatches) -> Split:
    """The one adapter of every per-document stage: its spec builds it from the flags."""
    spec = args.spec
    values = {p.name: getattr(args, p.name) for p in spec.parameters}
    models = {name: args.model for name in spec.models}
    stage = spec.stage(values, models)
    return (stage.process(batch) for batch in read())


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


def _dedup_settings(args: argparse.Namespace):
    from curation.dedup.engine import dedup_settings

    return dedup_settings(**{p.name: getattr(args, p.name) for p in _dedup_parameters() if hasattr(args, p.name)})


def _dedup_parameters():
    from curation.dedup.engine import dedup_settings
    from curation.spec import parameters_of

    return parameters_of(dedup_settings, exclude=("fuzzy",), help=DEDUP_HELP)


DEDUP_HELP = {"threshold": "Jaccard similarity of duplicates (0-1]", "verify": "verify LSH candidate pairs by Jaccard",
              "exact": "run the exact-hash pass", "backend": "signatures on the CPU or a GPU (cpu, gpu, auto: cupy; "
              "falls back to cpu with a warning)", "ngram": "character n-gram length", "num_perm": "signature length",
              "bands": "LSH bands (divides --num-perm)", "sketch_size": "fingerprints per verification sketch",
              "shards": "hash-range shards of a new index", "memory_budget_mb": "working set per task"}


def _dedup(args: argparse.Namespace, read: ReadBatches) -> Split:
    from curation.dedup.engine import deduplicate_partition
    from curation.dedup.index import DedupIndex, DedupIndexError
    from curation.parallel import dask_client

    settings = _dedup_settings(args)
    try:
        index = DedupIndex.open(args.index, settings.layout()) if args.index else None
    except DedupIndexError as error:
        raise ValueError(str(error)) from error
    name = args.partition or os.path.splitext(os.path.basename(args.input.rstrip("/")))[0]
    with dask_client(args.dask) as client:
        result = deduplicate_partition(read, name, settings, index=index, client=client, progress=_terminal_progress)
    return result.split(read())


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


def _add_io(parser: argparse.ArgumentParser, warc_inputs: bool = False) -> None:
    if warc_inputs:
        parser.add_argument("inputs", nargs="+", metavar="IN", help="WARC files (.warc.gz, .warc), folders of them, "
                            "or JSONL/Parquet records with a payload column")
        parser.add_argument("--snapshot", default="cli", help="snapshot name in the documents' ids (default: cli)")
    else:
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


def _add_parameters(parser: argparse.ArgumentParser, parameters) -> None:
    """One flag per parameter (--min-syllables for min_syllables), typed, with its default."""
    for p in parameters:
        flag = "--" + p.name.replace("_", "-")
        shown = f"default: {p.json_default()}" if p.default not in (None, (), []) else ""
        help_text = "; ".join(t for t in (p.help, shown) if t) or None
        if p.kind is bool:
            parser.add_argument(flag, dest=p.name, action=argparse.BooleanOptionalAction, default=p.default,
                                help=help_text)
        elif p.kind is list:
            parser.add_argument(flag, dest=p.name, nargs="*", default=p.default, metavar="VALUE", help=help_text)
        else:
            parser.add_argument(flag, dest=p.name, type=p.kind, default=p.default, help=help_text)


def _add_dedup_options(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    _add_parameters(parser, [p for p in _dedup_parameters() if p.name not in exclude])
    parser.add_argument("--dask", default="", help="'local' (a LocalCluster) or a scheduler address; default: "
                                                    "in process")


def build_parser() -> argparse.ArgumentParser:
    from curation.catalog import DOCUMENT_STAGES

    parser = argparse.ArgumentParser(prog="python -m curation", description="Korean curation stages")
    commands = parser.add_subparsers(dest="command", required=True)
    for spec in DOCUMENT_STAGES:
        stage = commands.add_parser(spec.name, aliases=list(spec.cli_aliases), help=spec.cli_help or spec.description,
                                    description=spec.description)
        _add_io(stage, warc_inputs=spec.extra.get("warc_inputs", False))
        if spec.models:
            stage.add_argument("--model", required=True, help=f"model folder ({', '.join(spec.models)}), as "
                               "written by the train-* commands")
        _add_parameters(stage, spec.parameters)
        stage.set_defaults(run=_run_document_stage, spec=spec)

    train_kenlm = commands.add_parser("train-kenlm", help="train SentencePiece + KenLM (lmplz) on reference prose")
    train_kenlm.add_argument("--corpus", required=True, help="JSONL or Parquet with text")
    train_kenlm.add_argument("--out", required=True, help="model folder")
    train_kenlm.add_argument("--vocab-size", type=int, default=2000)
    train_kenlm.add_argument("--order", type=int, default=4)
    train_kenlm.set_defaults(train=_train_kenlm)

    train_quality = commands.add_parser("train-quality", help="train the fastText quality classifier")
    train_quality.add_argument("--positive", required=True, help="JSONL or Parquet of good documents")
    train_quality.add_argument("--negative", required=True, help="JSONL or Parquet of web documents")
    train_quality.add_argument("--language-model", help="folder written by train-kenlm on the positives: adds the "
                               "Moore-Lewis signal (a web KenLM is trained on the negatives)")
    train_quality.add_argument("--out", required=True, help="model folder")
    train_quality.set_defaults(train=_train_quality)

    dedup = commands.add_parser("dedup", help="exact + MinHash fuzzy dedup; adds duplicate_of")
    _add_io(dedup)
    dedup.add_argument("--index", help="persistent index (folder or URL): deduplicate IN against it, then add "
                                       "IN's kept documents (created when missing)")
    dedup.add_argument("--partition", help="IN's name in the index (default: IN's file name without extension)")
    _add_dedup_options(dedup)
    dedup.set_defaults(run=_dedup, summary_name="dedup")
    rebuild = commands.add_parser("rebuild-index", help="build a new index from partitions' kept documents, "
                                                        "in order (e.g. after changing the MinHash configuration)")
    rebuild.add_argument("kept", nargs="+", metavar="KEPT", help="kept documents of each partition, in keep order: "
                         "files, or committed store partitions (.../fuzzy_deduplicated/PARTITION)")
    rebuild.add_argument("--index", required=True, help="new, empty index folder or URL")
    rebuild.add_argument("--names", nargs="+", help="partition names (default: file names without extension)")
    _add_dedup_options(rebuild, exclude=("threshold", "verify", "exact"))
    rebuild.set_defaults(train=_rebuild_index)
    from curation import cc_cli, instruct_cli, release_cli

    cc_cli.add_commands(commands)
    instruct_cli.add_commands(commands)
    release_cli.add_commands(commands)
    return parser


MAX_MESSAGE_CHARS = 300  # an error quotes a line or a value, never a whole document


class OutputError(Exception):
    """Writing an output file failed: the message names that file, not the input."""

    def __init__(self, path: str, error: Exception) -> None:
        super().__init__(f"{path}: {error}")


class DuplicateIds:
    """Ids seen in the input, as 64-bit hashes (8 bytes a document): rows whose id an earlier
    row has are reported at the end."""

    def __init__(self) -> None:
        self.hashes: list = []

    def __call__(self, batches: Iterable[pa.Table]) -> Iterable[pa.Table]:
        import numpy as np

        self.hashes = []  # a stage that reads its input twice (dedup) counts it once
        for batch in batches:
            if "id" in batch.column_names:
                self.hashes.append(np.fromiter((hash(i) for i in batch.column("id").to_pylist()), np.int64,
                                               count=batch.num_rows))
            yield batch

    def report(self) -> str | None:
        import numpy as np

        if not self.hashes:
            return None
        hashes = np.concatenate(self.hashes)
        order = np.argsort(hashes, kind="stable")
        repeated = order[1:][hashes[order[1:]] == hashes[order[:-1]]]
        if not repeated.size:
            return None
        return f"{repeated.size} row(s) repeat an earlier row's id (first: row {int(repeated.min()) + 1})"


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """An OSError or Arrow error inside names the output file it happened to."""
    try:
        yield
    except (OSError, pa.ArrowException) as error:
        raise OutputError(path, error) from error


def _warc_files(path: str) -> tuple[list[str], str | None] | None:
    """(WARC files, their root folder) when `path` is a WARC file or a folder of them."""
    from curation.sources.warc import WARC_SUFFIXES

    if os.path.isdir(path):
        files = sorted(os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names
                       if name.endswith(WARC_SUFFIXES))
        if not files:
            raise ValueError(f"{path}: a folder without .warc.gz or .warc files")
        return files, path
    return ([path], os.path.dirname(path) or None) if path.lower().endswith(WARC_SUFFIXES) else None


def _read_inputs(paths: list[str], snapshot: str, reader: BatchStats, reader_rejects: list) -> Iterable[pa.Table]:
    """Batches of every input: WARC files through the WARC reader (its rejects, such as corrupt
    records and unreadable files, collected for the rejects output), other files as documents."""
    from curation.sources.warc import WarcFileStats, record_batches

    for path in paths:
        warc = _warc_files(path)
        if warc is None:
            yield from iter_document_batches(path)
            continue
        for kept, rejected, stats in record_batches(warc[0], snapshot, WarcFileStats(), root=warc[1]):
            reader += BatchStats(rows_in=stats.rows_rejected, rejects_by_reason=stats.rejects_by_reason)
            if rejected.num_rows:
                reader_rejects.append(rejected)
            yield kept


def run_file_stage(args: argparse.Namespace) -> int:
    inputs = getattr(args, "inputs", None) or [args.input]
    args.input = inputs[0] if len(inputs) == 1 else " ".join(inputs)
    for path in inputs:
        if not os.path.exists(path) and "://" not in path:
            print(f"error: input {path} does not exist", file=sys.stderr)
            return EXIT_BAD_INPUT
    rejects_path = args.rejects or default_rejects_path(args.output)
    kept_out = AtomicTableWriter(args.output)
    rejects_out = AtomicTableWriter(rejects_path)
    duplicates = DuplicateIds()
    reader, reader_rejects = BatchStats(), []
    snapshot = getattr(args, "snapshot", "cli")
    name = args.spec.name if hasattr(args, "spec") else args.summary_name
    progress = Progress(name, total=parquet_rows(inputs), report=terminal)
    try:
        totals = BatchStats()
        read = lambda: duplicates(_read_inputs(inputs, snapshot, reader, reader_rejects))  # noqa: E731
        def write_reader_rejects() -> None:  # records the WARC reader could not read: rejects too
            while reader_rejects:
                with _writing(rejects_path):
                    rejects_out.write(reader_rejects.pop(0))

        for kept, rejected, stats in args.run(args, read):
            with _writing(args.output):
                kept_out.write(kept)
            with _writing(rejects_path):
                rejects_out.write(rejected)
            write_reader_rejects()
            totals += stats
            progress.add(stats.rows_in)
        write_reader_rejects()
        totals += reader
        for writer, path, schema in ((kept_out, args.output, None), (rejects_out, rejects_path, REJECT_SCHEMA)):
            with _writing(path):
                writer.close(empty_schema=schema)
    except (ValueError, OSError, OutputError) as error:
        kept_out.abort()
        rejects_out.abort()
        message = str(error)
        where = "" if isinstance(error, OutputError) or message.startswith(args.input) else f"{args.input}: "
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + "…"
        print(f"error: {where}{message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    repeated = duplicates.report()
    if repeated:  # reported, not fatal: every row was processed and is in OUT or the rejects
        print(f"warning: {args.input}: {repeated}", file=sys.stderr)
    print(totals.summary(args.spec.name if hasattr(args, "spec") else args.summary_name))
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
