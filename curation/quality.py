"""Quality buckets, Nemotron-CC style: two independent signals, 20 buckets each, ensembled
by the maximum bucket.

1. A supervised fastText classifier separates reference prose (`__label__hq`) from a random
   sample of web documents (`__label__lq`); its score is P(hq).
2. Moore-Lewis cross-entropy difference: mean log10 probability per SentencePiece piece under
   the reference KenLM (the perplexity model) minus under a KenLM trained on the same web
   sample. It is the second signal because it is independent of the first in the ways that
   matter: generative rather than discriminative, sensitive to word order, and relative to
   the web rather than absolute. Raw perplexity rescues fluent chatter: in bench/quality.py, at
   the default minimum bucket, a max-ensemble of the classifier with raw perplexity buckets
   kept 0.247 of held-out user comments, with Moore-Lewis 0.032 (the classifier alone 0.027).

Each score becomes one of 20 buckets (0-19) by thresholds fitted once on a calibration sample
and stored with the model: they split the sample's *tokens* (not documents) into 20 equal
shares, so long documents weigh by their size. The calibration sample is the held-out fifth
of both classes (`is_held_out`), text neither model was trained on, each class holding half of
the weight. Bucket 10 and up thus means "more like the reference than the middle of a half
reference, half web mix", whatever the sizes of the two samples: the default minimum. Named ranges: high = 19,
medium-high = 18, medium = 12-17, medium-low = 7-11, low = 0-6.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.perplexity import PerplexityModelFiles, PieceLanguageModel, is_held_out, normalize_for_lm, train_kenlm
from curation.stage import Decision, DocumentStage, text_array
from curation.text import TextBatch, fold, one_line, one_line_array

NUM_BUCKETS = 20
BUCKET_RANGES = {"high": (19, 19), "medium-high": (18, 18), "medium": (12, 17), "medium-low": (7, 11), "low": (0, 6)}
# Balanced calibration puts the reference-like half of the mix in buckets 10-19. On held-out
# data (bench/quality.py) 10 kept 0.981 of clean prose (the heuristics let through 0.982) and
# 0.032 of user comments; 11 kept only 0.938 of clean prose, 9 kept 0.140 of comments.
DEFAULT_MIN_BUCKET = 10


def bucket_name(bucket: int) -> str:
    for name, (low, high) in BUCKET_RANGES.items():
        if low <= bucket <= high:
            return name
    raise ValueError(f"bucket {bucket} outside 0-{NUM_BUCKETS - 1}")


def fasttext_line(text: str) -> str:
    """One line, NFKC, lower case: fastText reads a document per line."""
    return one_line(fold(text))


def token_count(text: str) -> int:
    return max(len(text.split()), 1)


def fit_bucket_thresholds(scores: Sequence[float], weights: Sequence[float],
                          buckets: int = NUM_BUCKETS) -> list[float]:
    """`buckets - 1` increasing thresholds that split the total weight into equal shares."""
    scores = np.asarray(scores, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if scores.shape[0] < buckets:
        raise ValueError(f"need at least {buckets} calibration documents, got {scores.shape[0]}")
    order = np.argsort(scores, kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    targets = np.arange(1, buckets) / buckets
    positions = np.searchsorted(cumulative, targets, side="left")
    return [float(scores[order][min(p, len(order) - 1)]) for p in positions]


def assign_buckets(scores: Sequence[float], thresholds: Sequence[float]) -> np.ndarray:
    """Bucket b holds scores above threshold b-1 and up to threshold b (0 lowest)."""
    return np.searchsorted(np.asarray(thresholds), np.asarray(scores, dtype=float), side="left").astype(np.int64)


def train_fasttext_classifier(positives: Sequence[str], negatives: Sequence[str], model_path: Path, epoch: int = 25,
                              lr: float = 0.1, word_ngrams: int = 2, minn: int = 1, maxn: int = 3, dim: int = 64,
                              bucket: int = 2**18, seed: int = 0) -> dict:
    """Korean eojeol carry particles and endings, so character n-grams of 1-3 (minn/maxn) let
    inflected forms share evidence. On tiny vocabularies fastText's trainer can diverge
    ("Encountered NaN"); training retries once at a tenth of the learning rate.

    `bucket`: rows of the hashed n-gram table. fastText's default (2,000,000 x dim 64) made a
    520 MB model that every worker process loads, for a few hundred thousand distinct n-grams;
    at 2**18 the model is 67 MB and, on bench/quality.py's held-out data, keeps the same shares
    of every kind at the default minimum bucket (AUC within 0.002)."""
    import fasttext

    counts = {"hq": 0, "lq": 0}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as handle:
        for label, texts in (("hq", positives), ("lq", negatives)):
            for text in texts:
                line = fasttext_line(text)
                if line:
                    handle.write(f"__label__{label} {line}\n")
                    counts[label] += 1
        train_file = handle.name
    try:
        if min(counts.values()) == 0:
            raise ValueError(f"need positive and negative examples, got {counts}")
        options = dict(epoch=epoch, wordNgrams=word_ngrams, minn=minn, maxn=maxn, dim=dim, bucket=bucket, seed=seed,
                       thread=1, verbose=0)
        try:
            model = fasttext.train_supervised(train_file, lr=lr, **options)
        except RuntimeError as error:
            if "NaN" not in str(error):
                raise
            model = fasttext.train_supervised(train_file, lr=lr / 10, **options)
    finally:
        Path(train_file).unlink(missing_ok=True)
    model.save_model(str(model_path))
    return {"examples": counts, "options": {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "minn": minn,
                                            "maxn": maxn, "dim": dim, "bucket": bucket}}


def _split(texts: Iterable[str], every: int) -> tuple[list[str], list[str]]:
    train: list[str] = []
    held_out: list[str] = []
    for i, text in enumerate(texts):
        (held_out if is_held_out(i, every) else train).append(text)
    return train, held_out


def train_quality_model(positives: Iterable[str], negatives: Iterable[str], out_dir: str | Path,
                        language_model_dir: str | Path | None = None, calibration_every: int = 5,
                        seed: int = 0) -> dict:
    """Train the classifier (and, given the perplexity model's folder, the web KenLM of the
    Moore-Lewis signal) on all but every `calibration_every`-th text of each class, then fit
    each signal's 20 bucket thresholds on the held-out texts. Give `positives` in the order the
    perplexity model was trained on, so that its held-out texts are held out here too.
    Writes a self-contained model folder (quality.bin, the two KenLM models, card.json)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_positive, held_positive = _split(positives, calibration_every)
    train_negative, held_negative = _split(negatives, calibration_every)
    calibration = held_positive + held_negative
    if len(calibration) < NUM_BUCKETS:
        raise ValueError(f"need at least {NUM_BUCKETS} held-out calibration documents (every "
                         f"{calibration_every}th of each class), got {len(calibration)}")
    card = train_fasttext_classifier(train_positive, train_negative, out / "quality.bin", seed=seed)
    if language_model_dir is not None:
        reference = PerplexityModelFiles(Path(language_model_dir))
        files = QualityModelFiles(out)
        shutil.copy(reference.sentencepiece, files.sentencepiece)
        shutil.copy(reference.kenlm, files.reference_lm)
        train_kenlm((line for text in train_negative for line in normalize_for_lm(text)), files.sentencepiece,
                    files.web_lm)
    scorer = QualityScorer(out, thresholds={})
    weights = class_balanced_token_weights(held_positive, held_negative)
    card["signals"] = {name: {"thresholds": fit_bucket_thresholds(scores, weights)}
                       for name, scores in scorer.signal_scores(calibration).items()}
    card["calibration_documents"] = {"positive": len(held_positive), "negative": len(held_negative)}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def class_balanced_token_weights(positives: Sequence[str], negatives: Sequence[str]) -> np.ndarray:
    """Token weights scaled so that each class holds half of the calibration weight: the
    buckets then mean the same whatever the sizes of the reference and the web sample (bucket
    10 and up: more like the reference than the middle of the mix)."""
    weights = []
    for texts in (positives, negatives):
        tokens = np.array([token_count(t) for t in texts], dtype=float)
        weights.append(tokens / tokens.sum() / 2)
    return np.concatenate(weights)


class QualityModelFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.classifier = self.directory / "quality.bin"
        self.sentencepiece = self.directory / "sp.model"
        self.reference_lm = self.directory / "reference_lm.binary"
        self.web_lm = self.directory / "web_lm.binary"
        self.card = self.directory / "card.json"


class QualityScorer:
    """Scores and buckets of each signal from a trained model folder; loads lazily."""

    def __init__(self, model_dir: str | Path, thresholds: dict[str, Sequence[float]] | None = None) -> None:
        self.files = QualityModelFiles(Path(model_dir))
        self._thresholds = dict(thresholds) if thresholds is not None else None

    def __getstate__(self) -> dict:
        return {"files": self.files, "_thresholds": self._thresholds}

    @cached_property
    def classifier(self):
        import fasttext

        if not self.files.classifier.exists():
            raise FileNotFoundError(f"no quality model at {self.files.classifier}: train it first")
        return fasttext.load_model(str(self.files.classifier))

    @cached_property
    def language_models(self) -> tuple[PieceLanguageModel, PieceLanguageModel] | None:
        if not self.files.web_lm.exists():
            return None
        return (PieceLanguageModel(self.files.sentencepiece, self.files.reference_lm),
                PieceLanguageModel(self.files.sentencepiece, self.files.web_lm))

    @property
    def thresholds(self) -> dict[str, list[float]]:
        if self._thresholds is None:
            card = json.loads(self.files.card.read_text())
            self._thresholds = {name: signal["thresholds"] for name, signal in card["signals"].items()}
        return self._thresholds

    def classifier_scores(self, texts: Sequence[str]) -> np.ndarray:
        """P(hq) under the fastText classifier."""
        if not texts:
            return np.empty(0)
        # fasttext_line over the column: fold per text, whitespace runs by RE2 (the same strings)
        lines = one_line_array(pa.array([fold(t) for t in texts], pa.string())).to_pylist()
        labels, probs = self.classifier.predict(lines, k=2)
        # fastText's softmax can round above 1 (1.00001): a probability stays in [0, 1].
        return np.clip([float(p[list(lab).index("__label__hq")]) if "__label__hq" in lab else 0.0
                        for lab, p in zip(labels, probs)], 0.0, 1.0)

    def moore_lewis_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Mean log10 p per piece, reference LM minus web LM; -inf for a text with no pieces."""
        reference, web = self.language_models
        encoded = reference.encode(texts)
        difference = reference.mean_log10(texts, encoded) - web.log10_per_piece(encoded)
        return np.where(np.isnan(difference), -np.inf, difference)

    def signal_scores(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        scores = {"classifier": self.classifier_scores(texts)}
        if self.language_models is not None:
            scores["moore_lewis"] = self.moore_lewis_scores(texts)
        return scores

    def buckets(self, signal: str, scores: np.ndarray) -> np.ndarray:
        return assign_buckets(scores, self.thresholds[signal])


class QualityFilter(DocumentStage):
    """Adds each signal's score and bucket (`quality_score`/`quality_classifier_bucket`,
    `moore_lewis_score`/`moore_lewis_bucket`) and `quality_bucket`, their maximum (Nemotron-CC's
    ensemble: any signal that finds a document good lifts it). Rejects `quality_bucket` below
    `min_bucket` (default 10, chosen on held-out data in bench/quality.py) with reason
    `quality_low`. A text without a single letter (empty, null, digits and symbols only) says
    nothing to either model: its scores and buckets are null and it is rejected as
    `no_letters`, never kept on a model's guess (fastText gave such text 1.00001)."""

    name = "quality_filtered"

    def __init__(self, scorer: QualityScorer, min_bucket: int = DEFAULT_MIN_BUCKET) -> None:
        if not 0 <= min_bucket < NUM_BUCKETS:
            raise ValueError(f"min_bucket must be in 0-{NUM_BUCKETS - 1}")
        self.scorer, self.min_bucket = scorer, min_bucket

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        column = TextBatch(text_array(batch))
        texts = column.strings
        signals = self.scorer.signal_scores(texts)
        buckets = {name: self.scorer.buckets(name, scores) for name, scores in signals.items()}
        unscorable = column.count("letter") == 0
        mask = unscorable if unscorable.any() else None

        def column(values, kind):
            return pa.array(values, kind, mask=mask)

        columns = {"quality_score": column(signals["classifier"], pa.float64()),
                   "quality_classifier_bucket": column(buckets["classifier"], pa.int64())}
        if "moore_lewis" in signals:
            columns["moore_lewis_score"] = column(signals["moore_lewis"], pa.float64())
            columns["moore_lewis_bucket"] = column(buckets["moore_lewis"], pa.int64())
        columns["quality_bucket"] = column(np.maximum.reduce(list(buckets.values())), pa.int64())
        return columns

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        unscorable = scores["quality_bucket"].is_null().to_numpy(zero_copy_only=False)
        buckets = scores["quality_bucket"].fill_null(-1).to_numpy(zero_copy_only=False)
        keep = (buckets >= self.min_bucket) & ~unscorable
        signal_columns = [c for c in ("quality_score", "quality_classifier_bucket", "moore_lewis_score",
                                      "moore_lewis_bucket") if c in scores]
        values = {c: scores[c].to_pylist() for c in signal_columns}
        details = []
        for i, (k, b) in enumerate(zip(keep.tolist(), buckets.tolist())):
            if k:
                details.append(None)
            elif unscorable[i]:
                details.append({"letters": 0})
            else:
                row = {c: (round(v[i], 4) if isinstance(v[i], float) else v[i]) for c, v in values.items()}
                details.append({**row, "quality_bucket": int(b), "bucket_name": bucket_name(int(b)),
                                "min_bucket": self.min_bucket})
        reasons = [None if k else "no_letters" if u else "quality_low" for k, u in zip(keep.tolist(), unscorable)]
        return Decision(keep=keep, reasons=reasons, details=details)
