"""Korean heuristic filters: one small class per rule, thresholds as constructor defaults.

Each filter scores a text (`score`, stored as columns before any threshold applies, as NeMo
Curator splits score from keep) and names the reason when it drops it (`reason`, as datatrove
gives every drop a reason). `HeuristicFilter` runs them in order; a document is rejected with
the first failing filter's reason, and the details list every score.

Thresholds were set on clean Korean prose (KLUE news/policy/Wikipedia sentences, LibreOffice
help pages, Nemotron persona narratives) by loosening every rule that clean documents failed
until 98.2-99.9 % of each source passes; the comment on each says what it is aimed at.
Korean differs from English here: an eojeol (space-separated unit) carries particles and
endings, so mean eojeol length is about 3-4 syllables rather than 4-5 letters per word, and
laughter/crying runs are written with bare jamo (ㅋㅋㅋ, ㅠㅠ).
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.stage import Decision, DocumentStage, text_array
from curation.text import BARE_JAMO, DIGIT, HANGUL_SYLLABLE, LETTER, SYMBOL, TextBatch

URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+", re.IGNORECASE)
BULLET_LINE = re.compile(r"^\s*(?:[-*•·▪◦‣○●■□▶►※]|\d{1,2}[.)])\s+")
ELLIPSIS_END = re.compile(r"(?:\.\.\.|…|‥)\s*$")
ELLIPSIS_MARKS = ("...", "…", "‥")  # ELLIPSIS_END's, for str.endswith
# Lines of site chrome that Korean pages repeat: login, sign-up, terms, privacy policy,
# copyright and reprint bans, sharing, navigation.
BOILERPLATE = re.compile(
    r"로그인|회원가입|이용약관|개인정보\s*처리\s*방침|무단\s*전재|재배포\s*금지|all rights reserved|copyright|ⓒ|©"
    r"|바로가기|사이트\s*맵|고객센터|공유하기|스크랩|인쇄하기|댓글\s*\d|이전\s*글|다음\s*글|목록으로|top\s*$|맨\s*위로",
    re.IGNORECASE,
)


def _re2(pattern: re.Pattern) -> str:
    """The same pattern for Arrow's RE2 kernels (only URL goes through here: explicit classes,
    IGNORECASE as (?i))."""
    return ("(?i)" + pattern.pattern) if pattern.flags & re.IGNORECASE else pattern.pattern


def line_words(text: str) -> list[list[str]]:
    """A text's lines (str.splitlines), each as its words (str.split). Every line break is
    whitespace to str.split, so the words of all lines in order are `text.split()`."""
    return [line.split() for line in text.splitlines()]


def _columns(rows) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return columns


class Texts(TextBatch):
    """A batch of texts as the rules read it: code-point counts, each text's words by line
    (read by two rules), and the text without URLs."""

    @cached_property
    def line_words(self) -> list[list[list[str]]]:
        return [line_words(text) for text in self.strings]

    @cached_property
    def without_urls(self) -> TextBatch:
        """The texts with their URLs removed (URL.sub(" ", ...) leaves a space for each: the
        counts of digits and symbols are the same, and one RE2 pass gives both these and
        `url_chars`)."""
        return TextBatch(pc.replace_substring_regex(self.arrow, _re2(URL), ""))

    @cached_property
    def url_chars(self) -> np.ndarray:
        return self.lengths - self.without_urls.lengths


class TextFilter:
    """One rule: `score(text)` -> named values, `reason(scores)` -> None to keep."""

    name = "filter"

    def score(self, text: str) -> dict[str, float]:
        raise NotImplementedError

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        """Scores of a batch of texts: one `score` per text, unless a rule counts over the
        whole batch at once (the same values)."""
        return _columns(map(self.score, texts.strings))

    def reason(self, scores: dict[str, float]) -> str | None:
        raise NotImplementedError


class LengthFilter(TextFilter):
    """Too little text to be a document (one-line comments, titles): fewer Hangul syllables
    than `min_syllables`. Clean KLUE sentences start at about 15 syllables."""

    name = "length"

    def __init__(self, min_syllables: int = 15, max_chars: int = 1_000_000) -> None:
        self.min_syllables, self.max_chars = min_syllables, max_chars

    def score(self, text: str) -> dict[str, float]:
        return {"syllables": len(HANGUL_SYLLABLE.findall(text)), "chars": len(text)}

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        return {"syllables": texts.count("syllable"), "chars": texts.lengths}

    def reason(self, s: dict[str, float]) -> str | None:
        if s["syllables"] < self.min_syllables:
            return "too_short"
        return "too_long" if s["chars"] > self.max_chars else None


class CharacterRatioFilter(TextFilter):
    """Text that is mostly not words: digits (price lists, tables), symbols (decorated spam)
    or URLs (link farms), each as a share of all non-space characters."""

    name = "character_ratios"

    # News sentences with dates and amounts reach 0.35 digits, a policy notice citing its
    # web address 0.35 URL characters; tables and link lists go far beyond.
    def __init__(self, max_digit_ratio: float = 0.45, max_symbol_ratio: float = 0.1,
                 max_url_ratio: float = 0.5) -> None:
        self.max_digit_ratio, self.max_symbol_ratio, self.max_url_ratio = (max_digit_ratio, max_symbol_ratio,
                                                                           max_url_ratio)

    def score(self, text: str) -> dict[str, float]:
        visible = max(len(text) - text.count(" ") - text.count("\n"), 1)
        url_chars = sum(len(m) for m in URL.findall(text))
        without_urls = URL.sub(" ", text)
        return {"digit_ratio": len(DIGIT.findall(without_urls)) / visible,
                "symbol_ratio": len(SYMBOL.findall(without_urls)) / visible,
                "url_ratio": url_chars / visible}

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        cps = texts.codepoints
        visible = np.maximum(texts.lengths - texts.per_text((cps == 0x20) | (cps == 0x0A)), 1)
        return {"digit_ratio": texts.without_urls.count("decimal") / visible,
                "symbol_ratio": texts.without_urls.count("symbol") / visible,
                "url_ratio": texts.url_chars / visible}

    def reason(self, s: dict[str, float]) -> str | None:
        if s["url_ratio"] > self.max_url_ratio:
            return "url_ratio"
        if s["digit_ratio"] > self.max_digit_ratio:
            return "digit_ratio"
        return "symbol_ratio" if s["symbol_ratio"] > self.max_symbol_ratio else None


class JamoRunFilter(TextFilter):
    """Chat-style noise: bare jamo (ㅋㅋㅋ, ㅎㅎ, ㅠㅠ) as a share of Hangul. Edited prose has
    none; a comment thread is full of them."""

    name = "jamo"

    def __init__(self, max_jamo_ratio: float = 0.05) -> None:
        self.max_jamo_ratio = max_jamo_ratio

    def score(self, text: str) -> dict[str, float]:
        jamo = len(BARE_JAMO.findall(text))
        return {"jamo_ratio": jamo / max(jamo + len(HANGUL_SYLLABLE.findall(text)), 1)}

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        jamo = texts.count("jamo")
        return {"jamo_ratio": jamo / np.maximum(jamo + texts.count("syllable"), 1)}

    def reason(self, s: dict[str, float]) -> str | None:
        return "jamo_ratio" if s["jamo_ratio"] > self.max_jamo_ratio else None


class RepetitionFilter(TextFilter):
    """Repeated lines, and text dominated by one repeated eojeol bigram (keyword stuffing,
    templated spam), after Gopher. Both are measured in characters, so that short repeated
    labels of a help page ("Syntax", "2") weigh little; a bigram counts only from its
    `min_repeats`-th occurrence (a name said twice in a sentence is prose)."""

    name = "repetition"

    def __init__(self, max_duplicate_line_chars: float = 0.3, max_top_bigram_ratio: float = 0.2,
                 min_repeats: int = 3) -> None:
        self.max_duplicate_line_chars = max_duplicate_line_chars
        self.max_top_bigram_ratio = max_top_bigram_ratio
        self.min_repeats = min_repeats

    def score(self, text: str) -> dict[str, float]:
        return self.score_lines(text, line_words(text))

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        return _columns(self.score_lines(text, lines) for text, lines in zip(texts.strings, texts.line_words))

    def score_lines(self, text: str, lines_words: list[list[str]]) -> dict[str, float]:
        """`score` of a text given its `line_words`."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        seen: set[str] = set()
        duplicate_chars = 0
        for line in lines:
            if line in seen:
                duplicate_chars += len(line)
            seen.add(line)
        words = [word for line in lines_words for word in line]  # text.split(): line breaks are whitespace
        bigrams = Counter(zip(words, words[1:]))
        top = bigrams.most_common(1)[0] if bigrams else (("", ""), 0)
        top_chars = (len(top[0][0]) + len(top[0][1])) * top[1]
        letters = max(sum(map(len, words)), 1)
        return {"duplicate_line_chars": duplicate_chars / max(len("".join(lines)), 1),
                "top_bigram_ratio": top_chars / letters if top[1] >= self.min_repeats else 0.0}

    def reason(self, s: dict[str, float]) -> str | None:
        if s["duplicate_line_chars"] > self.max_duplicate_line_chars:
            return "duplicate_lines"
        return "repeated_ngram" if s["top_bigram_ratio"] > self.max_top_bigram_ratio else None


class LineStructureFilter(TextFilter):
    """Menus, lists and teasers rather than prose: share of boilerplate lines, of bulleted
    lines, of lines cut off with an ellipsis, and of lines too short to be sentences."""

    name = "lines"

    # Help pages have UI-label lines (about half of their lines at most); a menu is nearly all
    # short lines.
    def __init__(self, max_boilerplate_ratio: float = 0.3, max_bullet_ratio: float = 0.9,
                 max_ellipsis_ratio: float = 0.3, max_short_line_ratio: float = 0.8,
                 short_line_chars: int = 10) -> None:
        self.max_boilerplate_ratio = max_boilerplate_ratio
        self.max_bullet_ratio = max_bullet_ratio
        self.max_ellipsis_ratio = max_ellipsis_ratio
        self.max_short_line_ratio = max_short_line_ratio
        self.short_line_chars = short_line_chars

    def score(self, text: str, may_hold_boilerplate: bool = True) -> dict[str, float]:
        lines = [line for line in text.splitlines() if line.strip()] or [""]
        n = len(lines)
        boilerplate = sum(bool(BOILERPLATE.search(line)) for line in lines) if may_hold_boilerplate else 0
        # One line alone is judged by the other filters (a sentence citing copyright.or.kr).
        return {"boilerplate_ratio": boilerplate / n if n >= 3 else 0.0,
                "bullet_ratio": sum(bool(BULLET_LINE.match(line)) for line in lines) / n,
                # ELLIPSIS_END.search on a line (it holds no line break): the same test, no regex
                "ellipsis_ratio": sum(line.rstrip().endswith(ELLIPSIS_MARKS) for line in lines) / n,
                "short_line_ratio": (sum(len(line.strip()) < self.short_line_chars for line in lines) / n
                                     if n >= 5 else 0.0)}

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        # BOILERPLATE searched line by line cost more than the other rules of this filter
        # together; one RE2 pass over the column finds the few texts where it can match at all.
        return _columns(map(self.score, texts.strings, texts.may_match(BOILERPLATE).tolist()))

    def reason(self, s: dict[str, float]) -> str | None:
        if s["boilerplate_ratio"] > self.max_boilerplate_ratio:
            return "boilerplate_lines"
        if s["short_line_ratio"] > self.max_short_line_ratio:
            return "short_lines"
        if s["bullet_ratio"] > self.max_bullet_ratio:
            return "bullet_lines"
        return "ellipsis_lines" if s["ellipsis_ratio"] > self.max_ellipsis_ratio else None


LETTER_UNIT = re.compile(r"[^\W\d_]\S*")  # from a unit's first letter to its end


class EojeolLengthFilter(TextFilter):
    """Mean eojeol length (letters per space-separated unit) outside what Korean prose has:
    very short units are keyword lists and chat; very long ones are text with its spacing
    lost or run-together spam."""

    name = "eojeol_length"

    def __init__(self, min_mean_eojeol_length: float = 2.0, max_mean_eojeol_length: float = 8.0) -> None:
        self.min_mean, self.max_mean = min_mean_eojeol_length, max_mean_eojeol_length

    def score(self, text: str) -> dict[str, float]:
        # Over the whole text rather than unit by unit (66 regex calls a document before): the
        # letters of the units that have one are all the text's letters, and one match of
        # LETTER_UNIT per whitespace-separated unit that holds a letter counts those units.
        units = len(LETTER_UNIT.findall(text))
        return {"mean_eojeol_length": len(LETTER.findall(text)) / units if units else 0.0}

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        units = texts.units_with("letter")
        letters = texts.count("letter")
        return {"mean_eojeol_length": np.where(units > 0, letters / np.maximum(units, 1), 0.0)}

    def reason(self, s: dict[str, float]) -> str | None:
        if s["mean_eojeol_length"] < self.min_mean:
            return "eojeol_too_short"
        return "eojeol_too_long" if s["mean_eojeol_length"] > self.max_mean else None


# A Korean sentence ends in terminal punctuation or a sentence-final ending (-다, -요, -음,
# -함, -임, -죠, -니까), maybe followed by closing quotes or brackets.
SENTENCE_END = re.compile(r"(?:[.!?。…]|[다요음함임죠니까])[\"'”’)\]」』]*$")
SENTENCE_FINAL = frozenset(".!?。…다요음함임죠니까")
CLOSERS = "\"'”’)]」』"


def ends_sentence(word: str) -> bool:
    """SENTENCE_END.search(word) for a word without whitespace, without the regex: the closers
    stripped from its end, its last character ends a sentence (the two sets share none)."""
    return word.rstrip(CLOSERS)[-1:] in SENTENCE_FINAL


class TerminalEndingFilter(TextFilter):
    """Lines of five or more eojeol that do not end like a Korean sentence, as a share of the
    characters of such lines. Word salad (prose with its words shuffled) ends a line on a
    random eojeol; keyword lists and most chat do not end sentences either. Headings and menu
    items are shorter than five eojeol and are not counted. On the quality benchmark 1.1 % of
    clean prose exceeds 0.5, against 90.6 % of word salad."""

    name = "terminal_ending"

    def __init__(self, max_unterminated_share: float = 0.5, min_eojeol: int = 5) -> None:
        self.max_unterminated_share, self.min_eojeol = max_unterminated_share, min_eojeol

    def score(self, text: str) -> dict[str, float]:
        return self.score_lines(line_words(text))

    def score_texts(self, texts: Texts) -> dict[str, Sequence[float]]:
        return _columns(map(self.score_lines, texts.line_words))

    def score_lines(self, lines_words: list[list[str]]) -> dict[str, float]:
        """`score` of a text given its `line_words`."""
        long_lines = [words for words in lines_words if len(words) >= self.min_eojeol]
        total = sum(sum(map(len, words)) for words in long_lines)
        open_ended = sum(sum(map(len, words)) for words in long_lines if not ends_sentence(words[-1]))
        return {"unterminated_share": open_ended / total if total else 0.0}

    def reason(self, s: dict[str, float]) -> str | None:
        return "unterminated_sentences" if s["unterminated_share"] > self.max_unterminated_share else None


FILTER_CLASSES: tuple[type[TextFilter], ...] = (LengthFilter, CharacterRatioFilter, JamoRunFilter, RepetitionFilter,
                                                LineStructureFilter, EojeolLengthFilter, TerminalEndingFilter)


def default_filters(**thresholds: float) -> list[TextFilter]:
    """The filters in order, each given the thresholds its constructor names (the rest keep
    their defaults): one flat set of names, so run config and CLI flags can set any of them."""
    known = {name for klass in FILTER_CLASSES for name in inspect.signature(klass).parameters}
    unknown = set(thresholds) - known
    if unknown:
        raise ValueError(f"unknown heuristic thresholds {sorted(unknown)}")
    return [klass(**{k: v for k, v in thresholds.items() if k in inspect.signature(klass).parameters})
            for klass in FILTER_CLASSES]


SKIPPED_COLUMN = "heuristics_skipped"


class HeuristicFilter(DocumentStage):
    """Runs the filters in order; the first failing one names the reason.

    As in Nemotron-CC, documents already in a high-quality bucket can skip the heuristics:
    pass `skip_column` (e.g. "quality_bucket") and `skip_at_or_above` (e.g. 18). Which rows
    skipped is then a score column (`heuristics_skipped`), so `decide` needs nothing else.

    Rules score at most the first `score_prefix_chars` characters (the `chars` column is the
    whole length): a longer document is rejected as too_long by default anyway, and scoring a
    50 MB document whole took 15 s.
    """

    name = "heuristic_filtered"

    def __init__(self, filters: Sequence[TextFilter] | None = None, skip_column: str | None = None,
                 skip_at_or_above: float | None = None, score_prefix_chars: int = 1_000_000) -> None:
        self.filters = list(filters) if filters is not None else default_filters()
        self.skip_column, self.skip_at_or_above = skip_column, skip_at_or_above
        self.score_prefix_chars = score_prefix_chars

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        whole = text_array(batch)
        texts = Texts(pc.utf8_slice_codeunits(whole, 0, self.score_prefix_chars))
        columns: dict[str, Sequence[float]] = {}
        for f in self.filters:
            columns.update(f.score_texts(texts))
        if "chars" in columns:
            columns["chars"] = Texts(whole).lengths  # the whole length; the rules read a prefix
        scores = {key: pa.array(np.asarray(values, dtype=np.float64), pa.float64()) for key, values in columns.items()}
        if self.skip_column and self.skip_at_or_above is not None:
            skip = np.zeros(batch.num_rows, dtype=bool)
            if self.skip_column in batch.column_names:
                values = batch.column(self.skip_column).to_numpy(zero_copy_only=False)
                skip = np.nan_to_num(values.astype(float), nan=-np.inf) >= self.skip_at_or_above
            scores[SKIPPED_COLUMN] = pa.array(skip, pa.bool_())
        return scores

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        skipped = scores[SKIPPED_COLUMN].to_pylist() if SKIPPED_COLUMN in scores else None
        values = {key: array.to_pylist() for key, array in scores.items() if key != SKIPPED_COLUMN}
        n = len(next(iter(values.values()))) if values else 0
        keep = np.ones(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        details: list[dict | None] = [None] * n
        for i in range(n):
            if skipped is not None and skipped[i]:
                continue
            row = {key: column[i] for key, column in values.items()}
            for f in self.filters:
                reason = f.reason(row)
                if reason is not None:
                    keep[i] = False
                    reasons[i] = reason
                    details[i] = {"filter": f.name, **{k: round(v, 4) for k, v in row.items()}}
                    break
        return Decision(keep=keep, reasons=reasons, details=details)
