"""Character classes and normalisers of Korean text, in one place.

Two notions of "Hangul" are both needed, and named apart so that nobody swaps them:
- HANGUL_LETTER: any Hangul letter, bare jamo included (Jamo, Compatibility Jamo, Jamo
  Extended-A, Syllables and Jamo Extended-B up to U+D7FF). Language ID counts these: ㅋㅋ is
  Korean, whatever else it is.
- HANGUL_SYLLABLE: complete syllables only (U+AC00-U+D7A3), and BARE_JAMO: the jamo written on
  their own (ㅋㅋㅋ, ㅠㅠ). The heuristics count these apart: syllables measure how much text
  there is, bare jamo how chat-like it is.

Whitespace likewise: WHITESPACE is any run of whitespace, newlines included (a document becomes
one line); INLINE_SPACE is spaces and tabs only (lines are kept apart).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HANGUL_LETTER = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff]")
HANGUL_SYLLABLE = re.compile("[\uac00-\ud7a3]")
BARE_JAMO = re.compile("[\u3131-\u318e\u1100-\u11ff]")
# Symbols of decorated spam, counted by the heuristics.
SYMBOL = re.compile(r"[#@$%^&*+=<>|~\\/{}\[\]★☆♥♡◆◇■□▶►●○※]")
LETTER = re.compile(r"[^\W\d_]")  # a letter of any script: word characters without digits and _
DIGIT = re.compile(r"\d")
WHITESPACE = re.compile(r"\s+")
INLINE_SPACE = re.compile(r"[ \t]+")


def nfc(text: str | None) -> str | None:
    """Canonical composition: decomposed Hangul (NFD, from macOS copy-paste and some CMSs: a
    syllable as two or three bare jamo) becomes the syllables an NFC twin has. Every document
    text is made NFC where it enters the system (`nfc_text`), so every stage sees one form."""
    if not text or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def nfc_text(table: pa.Table, column: str = "text") -> pa.Table:
    """`table` with its text column in NFC (unchanged, and not copied, when it already is)."""
    if column not in table.column_names:
        return table
    values = table.column(column)
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        return table
    texts = values.to_pylist()
    composed = [nfc(t) for t in texts]
    if all(a is b for a, b in zip(texts, composed)):
        return table
    return table.set_column(table.column_names.index(column), column, pa.array(composed, values.type))


def fold(text: str) -> str:
    """NFKC then lower case: full-width forms, compatibility characters and case folded, as
    every model and hash of the chain reads text."""
    return unicodedata.normalize("NFKC", text).lower()


def one_line(text: str) -> str:
    """Every run of whitespace (newlines included) as one space, ends trimmed."""
    return WHITESPACE.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _python_whitespace() -> tuple[str, str]:
    r"""Python's whitespace (`\s` of str patterns, str.isspace, str.strip) as an RE2 class of
    explicit code points, and as the characters to trim: RE2's own \s is ASCII only."""
    points = np.flatnonzero(character_classes()["space"]).tolist()
    return _re2_class_of("space") + "+", "".join(chr(p) for p in points)


@lru_cache(maxsize=8)
def _re2_class_of(name: str) -> str:
    """`character_classes()[name]` as an RE2 class of its code points."""
    return re2_class(np.flatnonzero(character_classes()[name]).tolist())


def re2_class(points: list[int]) -> str:
    """An RE2 character class of exactly these code points (sorted), as ranges."""
    ranges: list[list[int]] = []
    for point in points:
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "[" + "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]"


@lru_cache(maxsize=1)
def _code_points() -> np.ndarray:
    """Every code point but the surrogates (which no str holds alone), in order."""
    points = np.arange(0x110000, dtype=np.uint32)
    return points[(points < 0xD800) | (points > 0xDFFF)]


@lru_cache(maxsize=1)
def _all_code_points() -> str:
    """`_code_points` as one string."""
    return _code_points().tobytes().decode("utf-32-le")


@lru_cache(maxsize=8)
def re2_screen(pattern: re.Pattern) -> str:
    r"""An RE2 pattern that finds a match in every text in which `pattern` (Python's `re`)
    finds one, for a pattern of literal characters, `\s`, `\d`, `*` and `|`, with `$`
    (dropped: the screen matches more, never less). Each atom becomes the class of exactly the
    code points Python's re matches for it with the pattern's flags (IGNORECASE included),
    read off Python itself, so nothing rests on RE2's own Unicode tables or case folding (RE2's
    \s and \d are ASCII only, and its case folding is not Python's). A text the screen does
    not match cannot match `pattern`; a text it matches is checked with `pattern` itself."""
    if pattern.flags & (re.VERBOSE | re.ASCII) or not isinstance(pattern.pattern, str):
        raise ValueError("re2_screen reads str patterns without VERBOSE or ASCII")
    flags = pattern.flags & re.IGNORECASE
    source, tokens, i = pattern.pattern, [], 0
    while i < len(source):  # ("escape", "s" | "d"), ("operator", "|" | "*" | "$") or ("literal", c)
        if source[i] == "\\":
            if source[i + 1:i + 2] not in ("s", "d"):
                raise ValueError(f"re2_screen does not handle {source[i:i + 2]!r}")
            tokens.append(("escape", source[i + 1]))
            i += 2
            continue
        if source[i] in "()[]{}?+.^":
            raise ValueError(f"re2_screen handles literals, \\s, \\d, *, | and $ only, not {source[i]!r}")
        tokens.append(("operator" if source[i] in "|*$" else "literal", source[i]))
        i += 1
    literals = sorted({c for kind, c in tokens if kind == "literal"})
    # every code point some literal matches, in one pass over all of them; then which literal each matches
    candidates = re.findall(f"[{''.join(map(re.escape, literals))}]", _all_code_points(), flags) if literals else []
    atoms = {("literal", c): re2_class(sorted(ord(x) for x in candidates if re.fullmatch(re.escape(c), x, flags)))
             for c in literals}
    atoms.update({("escape", "s"): _re2_class_of("space"), ("escape", "d"): _re2_class_of("decimal"),
                  ("operator", "$"): ""})  # `|` and `*` stay as they are
    return "".join(atoms.get(token, token[1]) for token in tokens)


def one_line_array(texts: pa.Array) -> pa.Array:
    """`one_line` over a whole string column (RE2 with Python's whitespace set): the same strings."""
    pattern, characters = _python_whitespace()
    return pc.utf8_trim(pc.replace_substring_regex(texts, pattern, " "), characters)


def letter_count(text: str) -> int:
    return len(LETTER.findall(text))


def hangul_ratio(text: str) -> float:
    """Share of Hangul among letters (0.0 when the text has no letters)."""
    letters = letter_count(text)
    return len(HANGUL_LETTER.findall(text)) / letters if letters else 0.0


@lru_cache(maxsize=1)
def character_classes() -> dict[str, np.ndarray]:
    """Per code point (0..0x10FFFF), what Python's `re` says of it: a letter ([^\\W\\d_]:
    alphanumeric, not a decimal digit, not _), a decimal digit (\\d: Unicode Nd), whitespace
    (\\s, str.split's), a symbol of SYMBOL, bare jamo, a Hangul syllable, a Hangul letter.
    Read off the patterns themselves, one pass over every code point each (about 0.1 s once
    per process; the str predicates `re` uses give the same tables, tested)."""
    return {name: _matched(pattern) for name, pattern in (
        ("letter", LETTER), ("decimal", DIGIT), ("space", re.compile(r"\s")), ("symbol", SYMBOL),
        ("jamo", BARE_JAMO), ("syllable", HANGUL_SYLLABLE), ("hangul", HANGUL_LETTER))}


def _matched(pattern: re.Pattern) -> np.ndarray:
    """Per code point: True where `pattern` matches that character alone."""
    table = np.zeros(0x110000, bool)
    starts = np.fromiter((m.start() for m in pattern.finditer(_all_code_points())), np.int64)
    table[_code_points()[starts]] = True
    return table


class TextBatch:
    """One batch of texts with what several rules count computed once: the code points of all
    of them in one array, so a character class is counted per text by one table lookup and one
    cumulative sum over the batch instead of a regex call per text and class."""

    def __init__(self, arrow: pa.Array) -> None:
        self.arrow = arrow

    @cached_property
    def strings(self) -> list[str]:
        return self.arrow.to_pylist()

    @cached_property
    def lengths(self) -> np.ndarray:
        return pc.utf8_length(self.arrow).to_numpy().astype(np.int64)

    @cached_property
    def codepoints(self) -> np.ndarray:
        return np.frombuffer("".join(self.strings).encode("utf-32-le"), dtype=np.uint32)

    @cached_property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def per_text(self, mask: np.ndarray) -> np.ndarray:
        """Sum of a per-code-point 0/1 mask within each text."""
        total = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
        return total[self.starts + self.lengths] - total[self.starts]

    def count(self, name: str) -> np.ndarray:
        return self.per_text(character_classes()[name][self.codepoints])

    def may_match(self, pattern: re.Pattern) -> np.ndarray:
        """Per text: False where `pattern` matches nowhere in it, by one RE2 pass over the
        column (`re2_screen`); True where it may match."""
        return pc.match_substring_regex(self.arrow, re2_screen(pattern)).to_numpy(zero_copy_only=False)

    def units_with(self, name: str) -> np.ndarray:
        """Whitespace-separated units (str.split's) that hold at least one `name` character."""
        cps = self.codepoints
        if not cps.size:
            return np.zeros(len(self.lengths), np.int64)
        solid = ~character_classes()["space"][cps]
        before = np.concatenate([[False], solid[:-1]])
        before[self.starts[self.lengths > 0]] = False  # a unit never continues into the next text
        unit = np.cumsum(solid & ~before) * solid  # 1, 2, ... per unit; 0 on whitespace
        # unit numbers never decrease along the batch, so the distinct ones are where they change
        # (an O(n) pass instead of np.unique's hashing)
        found = unit[character_classes()[name][cps] & solid]
        hits = found[np.concatenate([[True], found[1:] != found[:-1]])] if found.size else found
        owner = np.searchsorted(self.starts, np.flatnonzero(solid & ~before), side="right") - 1
        return np.bincount(owner[hits - 1], minlength=len(self.lengths)).astype(np.int64)
