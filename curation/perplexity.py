"""Perplexity under a KenLM n-gram model over SentencePiece pieces, CCNet style.

Training: a SentencePiece unigram model on the reference corpus, then KenLM's own `lmplz`
on the piece-tokenised corpus and `build_binary` for a fast binary model. Scoring: the
document's pieces line by line, perplexity = 10 ** (-sum(log10 p) / pieces). Buckets: head /
middle / tail by cut-offs fitted as percentiles of the reference corpus's own perplexities
(by default its 50th and 95th), so that "tail" means "less fluent than 95 % of the prose the
model was built from".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.stage import Decision, DocumentStage, text_column
from curation.text import DIGIT, INLINE_SPACE, fold

BUCKETS = ("head", "middle", "tail")


class KenLMToolsMissing(RuntimeError):
    pass


def _one_spaced(line: str) -> str:
    # INLINE_SPACE turns runs of spaces and tabs into one space: a line without a tab or two
    # spaces in a row has no run to rewrite (most lines; the substitution built every match)
    return INLINE_SPACE.sub(" ", line) if "\t" in line or "  " in line else line


def normalize_for_lm(text: str) -> list[str]:
    """NFKC, lower case, digits -> 0 (CCNet), one entry per non-empty line."""
    text = DIGIT.sub("0", fold(text))
    return [_one_spaced(line).strip() for line in text.splitlines() if line.strip()]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise KenLMToolsMissing(f"{name} not found on PATH: run scripts/env.sh (it builds KenLM) or install KenLM")
    return path


@dataclass
class PerplexityModelFiles:
    """Where a trained model lives: SentencePiece model, KenLM binary, fitted cut-offs."""

    directory: Path
    sentencepiece: Path = field(init=False)
    kenlm: Path = field(init=False)
    cutoffs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.sentencepiece = self.directory / "sp.model"
        self.kenlm = self.directory / "lm.binary"
        self.cutoffs = self.directory / "cutoffs.json"


def is_held_out(index: int, every: int = 5) -> bool:
    """The calibration rule shared by every model trained on the reference: every `every`-th
    text is held out of training, so cut-offs and buckets are fitted on text the model has not
    seen (perplexities of training text are far lower than of unseen prose)."""
    return index % every == every - 1


def train_sentencepiece(lines: Sequence[str], out_model: Path, vocab_size: int) -> None:
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus.txt"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(work) / "sp"), vocab_size=vocab_size, model_type="unigram",
            character_coverage=0.9995, hard_vocab_limit=False, num_threads=1, minloglevel=2)
        shutil.copy(Path(work) / "sp.model", out_model)


def train_kenlm(lines: Iterable[str], sentencepiece_model: Path, out_binary: Path, order: int = 4,
                memory: str = "256M") -> None:
    """KenLM's own lmplz over the SentencePiece pieces of `lines`, then build_binary."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(sentencepiece_model))
    with tempfile.TemporaryDirectory() as work:
        pieces = Path(work) / "pieces.txt"
        with pieces.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(" ".join(processor.encode(line, out_type=str)) + "\n")
        arpa = Path(work) / "lm.arpa"
        # --discount_fallback: a small corpus lacks the counts-of-counts Kneser-Ney needs.
        with pieces.open("rb") as source, arpa.open("wb") as sink:
            run = subprocess.run([_tool("lmplz"), "-o", str(order), "-S", memory, "-T", work, "--discount_fallback"],
                                 stdin=source, stdout=sink, stderr=subprocess.PIPE, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"lmplz failed: {run.stderr.decode(errors='replace')[-2000:]}")
        tmp_binary = out_binary.with_suffix(".tmp")
        run = subprocess.run([_tool("build_binary"), str(arpa), str(tmp_binary)], capture_output=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"build_binary failed: {run.stderr.decode(errors='replace')[-2000:]}")
        os.replace(tmp_binary, out_binary)


def train_perplexity_model(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 2000, order: int = 4,
                           percentiles: tuple[float, float] = (50.0, 95.0), calibration_every: int = 5,
                           memory: str = "256M") -> dict:
    """Train SentencePiece + KenLM on the reference `texts` and fit the bucket cut-offs on the
    held-out share of them (`is_held_out`). Returns the model card (sizes, cut-offs), also
    written as cutoffs.json."""
    files = PerplexityModelFiles(Path(out_dir))
    files.directory.mkdir(parents=True, exist_ok=True)
    calibration: list[str] = []
    lines: list[str] = []
    for i, text in enumerate(texts):
        if is_held_out(i, calibration_every):
            calibration.append(text)
        else:
            lines.extend(normalize_for_lm(text))
    if len(lines) < 10:
        raise ValueError(f"need at least 10 lines of reference text to train a language model, got {len(lines)}")
    if not calibration:
        raise ValueError("no calibration texts: give at least calibration_every reference texts")
    train_sentencepiece(lines, files.sentencepiece, vocab_size)
    train_kenlm(lines, files.sentencepiece, files.kenlm, order, memory)
    scorer = PerplexityScorer(files.directory, cutoffs=(np.inf, np.inf))
    reference = scorer.perplexities(calibration)
    head, tail = (float(np.percentile(reference, p)) for p in percentiles)
    card = {"lines": len(lines), "calibration_texts": len(calibration), "vocab_size": vocab_size, "order": order,
            "percentiles": list(percentiles),
            "head_max": head, "middle_max": tail,
            "reference_median": float(np.median(reference))}
    files.cutoffs.write_text(json.dumps(card, indent=2) + "\n")
    return card


class LastBatchMemo:
    """One model's values for the texts of the last batch it was asked about, by text.

    The quality stage's Moore-Lewis reference LM is the perplexity model (train_quality_model
    copies its files), and the fused chain runs the perplexity stage, then quality, on the same
    rows in one process: quality finds the pieces and reference scores already computed.
    Entries are keyed by the model files' content, so a hit is the value the model computes;
    only the last batch per memo is kept (bounded by the batch size), and a batch from another
    thread meanwhile only turns hits into misses."""

    def __init__(self) -> None:
        self._last: tuple[tuple, dict] = ((), {})

    def lookup(self, key: tuple, texts: Sequence[str]) -> list:
        """The remembered value of each text, None where there is none."""
        last_key, values = self._last
        if last_key != key:
            return [None] * len(texts)
        return [values.get(t) for t in texts]

    def remember(self, key: tuple, texts: Sequence[str], values: Sequence) -> None:
        self._last = (key, dict(zip(texts, values)))


PIECES = LastBatchMemo()  # normalised lines as pieces, by SentencePiece model
MEAN_LOG10 = LastBatchMemo()  # mean log10 p per piece, by (SentencePiece, KenLM) model


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class PieceLanguageModel:
    """A KenLM model over SentencePiece pieces; loads lazily, so it pickles to workers."""

    def __init__(self, sentencepiece_model: str | Path, kenlm_model: str | Path) -> None:
        self.sentencepiece_model, self.kenlm_model = Path(sentencepiece_model), Path(kenlm_model)

    def __getstate__(self) -> dict:
        return {"sentencepiece_model": self.sentencepiece_model, "kenlm_model": self.kenlm_model}

    @cached_property
    def identity(self) -> tuple[str, str]:
        """The two model files' content digests: copies of the same model share them. Hashed
        once per process (sha256 reads about 1 GB/s: seconds for a large KenLM binary, beside
        the minutes of materialising a partition)."""
        if not self.kenlm_model.exists():  # reported as missing, as loading it would, not as unreadable
            raise FileNotFoundError(f"no KenLM model at {self.kenlm_model}: train it first")
        return file_digest(self.sentencepiece_model), file_digest(self.kenlm_model)

    @cached_property
    def _models(self):
        import kenlm
        import sentencepiece as spm

        if not self.kenlm_model.exists():
            raise FileNotFoundError(f"no KenLM model at {self.kenlm_model}: train it first")
        return spm.SentencePieceProcessor(model_file=str(self.sentencepiece_model)), kenlm.Model(str(self.kenlm_model))

    def encode(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text as its normalised lines of space-joined pieces (remembered for the batch)."""
        processor, _ = self._models
        key = self.identity[:1]
        encoded = PIECES.lookup(key, texts)
        for i, lines in enumerate(encoded):
            if lines is None:
                encoded[i] = [" ".join(processor.encode(line, out_type=str)) for line in normalize_for_lm(texts[i])]
        PIECES.remember(key, texts, encoded)
        return encoded

    def mean_log10(self, texts: Sequence[str], encoded: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """`log10_per_piece` of each text (remembered for the batch); `encoded`, when given, is
        `encode(texts)`."""
        values = MEAN_LOG10.lookup(self.identity, texts)
        missing = [i for i, value in enumerate(values) if value is None]
        if missing:
            if encoded is None:
                lines = self.encode([texts[i] for i in missing])
            else:
                lines = [encoded[i] for i in missing]
            for i, value in zip(missing, self.log10_per_piece(lines).tolist()):
                values[i] = value
        MEAN_LOG10.remember(self.identity, texts, values)
        return np.array(values, dtype=np.float64)

    def log10_per_piece(self, encoded: Sequence[Sequence[str]]) -> np.ndarray:
        """Mean log10 probability per piece (incl. each line's </s>); NaN for empty texts."""
        _, model = self._models
        out = np.full(len(encoded), np.nan)
        for i, lines in enumerate(encoded):
            pieces = sum(line.count(" ") + 2 for line in lines)  # pieces + </s> per line
            if pieces:
                out[i] = sum(model.score(line, bos=True, eos=True) for line in lines) / pieces
        return out


class PerplexityScorer:
    """Perplexity of texts under a trained model folder; loads lazily (pickles to workers)."""

    def __init__(self, model_dir: str | Path, cutoffs: tuple[float, float] | None = None) -> None:
        self.files = PerplexityModelFiles(Path(model_dir))
        self.model = PieceLanguageModel(self.files.sentencepiece, self.files.kenlm)
        self._cutoffs = cutoffs

    @property
    def cutoffs(self) -> tuple[float, float]:
        if self._cutoffs is None:
            card = json.loads(self.files.cutoffs.read_text())
            self._cutoffs = (card["head_max"], card["middle_max"])
        return self._cutoffs

    def perplexities(self, texts: Sequence[str]) -> np.ndarray:
        """10 ** -(mean log10 p per piece); inf for a text with no pieces."""
        mean_log10 = self.model.mean_log10(texts)
        return np.where(np.isnan(mean_log10), np.inf, 10.0 ** -np.nan_to_num(mean_log10))

    def buckets(self, perplexities: np.ndarray) -> list[str]:
        head, middle = self.cutoffs
        return ["head" if p <= head else "middle" if p <= middle else "tail" for p in perplexities.tolist()]


class PerplexityFilter(DocumentStage):
    """Adds `perplexity` and `perplexity_bucket`; rejects the buckets in `reject` with reason
    `perplexity_<bucket>`. None by default: with the small shipped reference (KLUE news/policy
    sentences) the tail holds ~60 % of the sample's help pages, which is domain shift, not bad
    text; the cut-offs need a broader reference before they filter."""

    name = "perplexity_filtered"

    def __init__(self, scorer: PerplexityScorer, reject: Sequence[str] = ()) -> None:
        unknown = set(reject) - set(BUCKETS)
        if unknown:
            raise ValueError(f"unknown perplexity buckets {sorted(unknown)}; use {BUCKETS}")
        self.scorer, self.reject = scorer, tuple(reject)

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        values = self.scorer.perplexities(text_column(batch))
        return {"perplexity": pa.array(values, pa.float64()),
                "perplexity_bucket": pa.array(self.scorer.buckets(values), pa.string())}

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        buckets = scores["perplexity_bucket"].to_pylist()
        values = scores["perplexity"].to_pylist()
        keep = np.array([b not in self.reject for b in buckets], dtype=bool)
        head, middle = self.scorer.cutoffs
        return Decision(
            keep=keep,
            reasons=[None if k else f"perplexity_{b}" for k, b in zip(keep, buckets)],
            details=[None if k else {"perplexity": round(v, 2), "head_max": round(head, 2),
                                     "middle_max": round(middle, 2)}
                     for k, v in zip(keep, values)],
        )
