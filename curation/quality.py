"""fastText quality classifier with Nemotron-CC style buckets.

A supervised fastText model separates reference prose (`__label__hq`) from web negatives
(`__label__lq`). Its P(hq) becomes one of 20 buckets (0-19) by thresholds fitted once on a
calibration sample and stored with the model: the thresholds split the sample's *tokens* (not
documents) into 20 equal shares, so that long documents weigh by their size, as in
Nemotron-CC. Named ranges: high = 19, medium-high = 18, medium = 12-17, medium-low = 7-11,
low = 0-6.

A second signal can be ensembled by the maximum bucket (Nemotron-CC's rule): any signal that
finds a document good keeps it in a high bucket.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa

from curation.stage import Decision, DocumentStage, text_column

NUM_BUCKETS = 20
BUCKET_RANGES = {"high": (19, 19), "medium-high": (18, 18), "medium": (12, 17), "medium-low": (7, 11), "low": (0, 6)}
_SPACES = re.compile(r"\s+")


def bucket_name(bucket: int) -> str:
    for name, (low, high) in BUCKET_RANGES.items():
        if low <= bucket <= high:
            return name
    raise ValueError(f"bucket {bucket} outside 0-{NUM_BUCKETS - 1}")


def fasttext_line(text: str) -> str:
    """One line, NFKC, lower case: fastText reads a document per line."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def token_count(text: str) -> int:
    return max(len(text.split()), 1)


def fit_bucket_thresholds(scores: Sequence[float], weights: Sequence[float], buckets: int = NUM_BUCKETS) -> list[float]:
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


def train_quality_classifier(positives: Iterable[str], negatives: Iterable[str], out_dir: str | Path,
                             calibration: Sequence[str] | None = None, epoch: int = 25, lr: float = 0.1,
                             word_ngrams: int = 2, minn: int = 1, maxn: int = 3, dim: int = 64, seed: int = 0) -> dict:
    """Train, then fit the bucket thresholds on `calibration` (default: the training texts).

    Korean eojeol carry particles and endings, so character n-grams of 1-3 (minn/maxn) let
    inflected forms share evidence. On tiny vocabularies fastText's trainer can diverge
    ("Encountered NaN"); training retries once at a tenth of the learning rate.
    """
    import fasttext

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kept_texts: list[str] = []
    counts = {"hq": 0, "lq": 0}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as handle:
        for label, texts in (("hq", positives), ("lq", negatives)):
            for text in texts:
                line = fasttext_line(text)
                if line:
                    handle.write(f"__label__{label} {line}\n")
                    counts[label] += 1
                    kept_texts.append(text)
        train_file = handle.name
    if min(counts.values()) == 0:
        raise ValueError(f"need positive and negative examples, got {counts}")
    options = dict(epoch=epoch, wordNgrams=word_ngrams, minn=minn, maxn=maxn, dim=dim, seed=seed, thread=1, verbose=0)
    try:
        model = fasttext.train_supervised(train_file, lr=lr, **options)
    except RuntimeError as error:
        if "NaN" not in str(error):
            raise
        model = fasttext.train_supervised(train_file, lr=lr / 10, **options)
    finally:
        Path(train_file).unlink(missing_ok=True)
    model_path = out / "quality.bin"
    model.save_model(str(model_path))
    scorer = QualityScorer(out, thresholds=[0.0] * (NUM_BUCKETS - 1))
    sample = list(calibration) if calibration is not None else kept_texts
    scores = scorer.scores(sample)
    thresholds = fit_bucket_thresholds(scores, [token_count(t) for t in sample])
    card = {"examples": counts, "calibration_documents": len(sample), "thresholds": thresholds,
            "options": {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "minn": minn, "maxn": maxn, "dim": dim}}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


class QualityScorer:
    """P(hq) and buckets from a trained model folder; the model loads lazily."""

    def __init__(self, model_dir: str | Path, thresholds: Sequence[float] | None = None) -> None:
        self.model_dir = Path(model_dir)
        self._thresholds = list(thresholds) if thresholds is not None else None

    def __getstate__(self) -> dict:
        return {"model_dir": self.model_dir, "_thresholds": self._thresholds}

    @cached_property
    def model(self):
        import fasttext

        path = self.model_dir / "quality.bin"
        if not path.exists():
            raise FileNotFoundError(f"no quality model at {path}: train it first")
        return fasttext.load_model(str(path))

    @property
    def thresholds(self) -> list[float]:
        if self._thresholds is None:
            self._thresholds = json.loads((self.model_dir / "card.json").read_text())["thresholds"]
        return self._thresholds

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.empty(0)
        labels, probs = self.model.predict([fasttext_line(t) for t in texts], k=2)
        return np.array([float(p[list(lab).index("__label__hq")]) if "__label__hq" in lab else 0.0
                         for lab, p in zip(labels, probs)])

    def buckets(self, scores: np.ndarray) -> np.ndarray:
        return assign_buckets(scores, self.thresholds)


class QualityFilter(DocumentStage):
    """Adds `quality_score` and `quality_bucket` (0-19); with `ensemble_column` (another
    signal's 0-19 bucket, e.g. from perplexity) the bucket is the maximum of both. Rejects
    buckets below `min_bucket` (default 7: the low range) with reason `quality_low`."""

    name = "quality_filter"

    def __init__(self, scorer: QualityScorer, min_bucket: int = 7, ensemble_column: str | None = None) -> None:
        super().__init__()
        if not 0 <= min_bucket < NUM_BUCKETS:
            raise ValueError(f"min_bucket must be in 0-{NUM_BUCKETS - 1}")
        self.scorer, self.min_bucket, self.ensemble_column = scorer, min_bucket, ensemble_column
        self._other: np.ndarray | None = None

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        scores = self.scorer.scores(text_column(batch))
        buckets = self.scorer.buckets(scores)
        columns = {"quality_score": pa.array(scores, pa.float64()),
                   "quality_classifier_bucket": pa.array(buckets, pa.int64())}
        if self.ensemble_column and self.ensemble_column in batch.column_names:
            other = batch.column(self.ensemble_column).to_numpy(zero_copy_only=False).astype(np.int64)
            buckets = np.maximum(buckets, other)
        columns["quality_bucket"] = pa.array(buckets, pa.int64())
        return columns

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        buckets = scores["quality_bucket"].to_numpy(zero_copy_only=False)
        values = scores["quality_score"].to_numpy(zero_copy_only=False)
        keep = buckets >= self.min_bucket
        return Decision(
            keep=keep,
            reasons=[None if k else "quality_low" for k in keep.tolist()],
            details=[None if k else {"quality_score": round(float(v), 4), "quality_bucket": int(b),
                                     "bucket_name": bucket_name(int(b)), "min_bucket": self.min_bucket}
                     for k, v, b in zip(keep.tolist(), values.tolist(), buckets.tolist())],
        )
