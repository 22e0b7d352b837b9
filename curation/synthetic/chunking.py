"""Split long documents to fit a model's input: at paragraph boundaries, then sentence ends,
then hard cuts, so every chunk is at most `max_chars` and nothing is dropped."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+")  # Korean declaratives (-다.) and polite (-요.) end in "." too


def _pieces(paragraph: str, max_chars: int) -> list[str]:
    if len(paragraph) <= max_chars:
        return [paragraph]
    out: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        out.extend(sentence[i:i + max_chars] for i in range(0, len(sentence), max_chars))
    return out


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Greedy packing of paragraphs (or their sentences) into chunks of at most `max_chars`."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    chunks: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in text.split("\n")):
        for piece in _pieces(paragraph, max_chars) if paragraph else []:
            joined = f"{current}\n{piece}" if current else piece
            if len(joined) <= max_chars:
                current = joined
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks
