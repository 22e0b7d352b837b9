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

import pyarrow as pa

HANGUL_LETTER = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff]")
HANGUL_SYLLABLE = re.compile("[\uac00-\ud7a3]")
BARE_JAMO = re.compile("[\u3131-\u318e\u1100-\u11ff]")
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


def letter_count(text: str) -> int:
    return len(LETTER.findall(text))


def hangul_ratio(text: str) -> float:
    """Share of Hangul among letters (0.0 when the text has no letters)."""
    letters = letter_count(text)
    return len(HANGUL_LETTER.findall(text)) / letters if letters else 0.0
