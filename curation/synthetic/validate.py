"""Post-processing and validation of LLM outputs: a kept output is Korean, within length
bounds and has the structure its style promises; anything else is a rejection with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from curation.text import hangul_ratio

_FENCE = re.compile(r"^```[a-z]*\s*|\s*```$")
# Chat models like to announce their answer ("다음은 ... 입니다:", "물론입니다!", "Sure, here is ...").
_PREAMBLE = re.compile(r"^(?:(?:물론|네[,!. ]|좋습니다|알겠습니다|sure|certainly|here is|here's)[^\n]*"
                       r"|다음은[^\n]*[:：])\s*\n",
                       re.IGNORECASE)
_QA = re.compile(r"질문\s*\d*\s*[:：]\s*(?P<q>.+?)\s*\n\s*답변\s*\d*\s*[:：]\s*(?P<a>.+?)"
                 r"(?=\n\s*질문\s*\d*\s*[:：]|\Z)",
                 re.DOTALL)
_LIST_ITEM = re.compile(r"^\s*(?:[-•*·]|\d+[.)])\s+\S", re.MULTILINE)


@dataclass(frozen=True)
class OutputLimits:
    min_chars: int = 40
    max_length_ratio: float = 3.0  # output chars per input char (plus slack), against run-on generations
    slack_chars: int = 400
    min_hangul_ratio: float = 0.5
    min_qa_pairs: int = 2
    min_list_items: int = 2


@dataclass
class Checked:
    text: str
    reason: str | None  # None: valid
    details: dict


def clean(text: str) -> str:
    text = _FENCE.sub("", text.strip()).strip()
    return _PREAMBLE.sub("", text, count=1).strip()


def qa_pairs(text: str) -> list[tuple[str, str]]:
    return [(m.group("q").strip(), m.group("a").strip()) for m in _QA.finditer(text)]


def check_output(text: str, finish_reason: str | None, source_chars: int, structure: str | None = None,
                 limits: OutputLimits = OutputLimits()) -> Checked:
    """Cleans the output and says why it is not usable, if it is not."""
    text = clean(text)
    details: dict = {"chars": len(text)}
    if finish_reason == "length":
        return Checked(text, "truncated", details)
    if not text:
        return Checked(text, "empty_output", details)
    ratio = hangul_ratio(text)
    details["hangul_ratio"] = round(ratio, 3)
    if ratio < limits.min_hangul_ratio:
        return Checked(text, "not_korean", details)
    if len(text) < limits.min_chars:
        return Checked(text, "too_short", details)
    if len(text) > limits.max_length_ratio * source_chars + limits.slack_chars:
        return Checked(text, "too_long", {**details, "source_chars": source_chars})
    if structure == "qa":
        pairs = qa_pairs(text)
        details["qa_pairs"] = len(pairs)
        if len(pairs) < limits.min_qa_pairs:
            return Checked(text, "missing_qa_pairs", details)
        text = "\n\n".join(f"질문: {q}\n답변: {a}" for q, a in pairs)  # one canonical layout
    elif structure == "list":
        items = len(_LIST_ITEM.findall(text))
        details["list_items"] = items
        if items < limits.min_list_items:
            return Checked(text, "missing_list_items", details)
    return Checked(text, None, details)
