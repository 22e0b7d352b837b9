"""The stage CLI: every stage runs without Dagster on JSONL or Parquet files with `id` and `text`.

    python -m curation langid IN OUT [--threshold 0.5] [--rejects REJECTS]

OUT holds the kept documents with the stage's columns added; rejected documents go to REJECTS
(default: OUT with `.rejects` before the extension) with stage, reason and details. Prints one
summary line; exits 2 on bad arguments or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from curation.documents import REJECT_SCHEMA
from curation.io import AtomicTableWriter, iter_document_batches
from curation.stage import DocumentStage, run_stage

EXIT_BAD_INPUT = 2


def default_rejects_path(out: str) -> str:
    for ext in (".parquet", ".jsonl", ".json"):
        if out.endswith(ext):
            return out[: -len(ext)] + ".rejects" + ext
    return out + ".rejects"


def _langid(args: argparse.Namespace) -> DocumentStage:
    from curation.langid import LanguageFilter

    return LanguageFilter(threshold=args.threshold, min_letters=args.min_letters)


def _add_io(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="JSONL or Parquet file with at least id and text")
    parser.add_argument("output", metavar="OUT", help="kept documents (.jsonl or .parquet)")
    parser.add_argument("--rejects", help="rejected documents (default: OUT with .rejects before the extension)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m curation", description="Korean curation stages")
    commands = parser.add_subparsers(dest="command", required=True)
    langid = commands.add_parser("langid", help="keep Korean documents; adds language, language_score")
    _add_io(langid)
    langid.add_argument("--threshold", type=float, default=0.5, help="minimum Korean score (0-1)")
    langid.add_argument("--min-letters", type=int, default=1)
    langid.set_defaults(make_stage=_langid)
    return parser


def run_file_stage(make_stage: Callable[[argparse.Namespace], DocumentStage], args: argparse.Namespace) -> int:
    if not os.path.exists(args.input) and "://" not in args.input:
        print(f"error: input {args.input} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    stage = make_stage(args)
    kept_out = AtomicTableWriter(args.output)
    rejects_out = AtomicTableWriter(args.rejects or default_rejects_path(args.output))
    try:
        counts = run_stage(stage, iter_document_batches(args.input), kept_out.write, rejects_out.write)
        kept_out.close()
        rejects_out.close(empty_schema=REJECT_SCHEMA)
    except (ValueError, OSError) as error:
        kept_out.abort()
        rejects_out.abort()
        print(f"error: {args.input}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(counts.summary(args.command))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_file_stage(args.make_stage, args)


if __name__ == "__main__":
    sys.exit(main())
