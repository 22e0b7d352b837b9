"""The five Nemotron-CC rephrasing styles, written for Korean, and the bucket -> style routing.

Nemotron-CC rephrases low-quality documents into Wikipedia style (the content is kept, the
noise goes) and turns high-quality documents into four kinds of new text (diverse QA pairs, a
distilled version, extracted knowledge, a knowledge list), so that the best data is seen in
several forms. The prompts follow the paper's (Su et al., 2024, appendix) in Korean; each asks
for the output alone, in Korean, without facts the text does not contain.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation.quality import bucket_name

SYSTEM = ("당신은 한국어 글을 정확하고 자연스럽게 다루는 편집자입니다. 항상 한국어로 답하고, 원문에 없는 사실을 "
          "지어내지 않으며, 요청한 결과물만 출력합니다.")


@dataclass(frozen=True)
class Style:
    name: str
    instruction: str  # the user prompt; {text} is the document (chunk)
    structure: str | None = None  # "qa" or "list": what validation requires of the output


STYLES: dict[str, Style] = {s.name: s for s in (
    Style("wikipedia",
          "다음 글을 위키백과 문체의 한국어로 다시 쓰세요. 담긴 정보는 빠짐없이 유지하되, 중립적이고 명확하며 "
          "잘 정리된 문장으로 쓰세요. 광고, 메뉴, 잡담처럼 내용이 아닌 부분은 빼세요. "
          "다시 쓴 글만 출력하세요.\n\n글:\n{text}"),
    Style("diverse_qa",
          "다음 글의 내용에 대해 다양한 형식의 질문과 답변을 한국어로 만드세요: 사실 확인, 이유, 비교, 정의, 요약 등. "
          "각 쌍은 '질문:'으로 시작하는 줄과 '답변:'으로 시작하는 줄로 쓰고, 쌍 사이는 빈 줄로 나누세요. 최대 8쌍, "
          "답은 글에 근거해야 합니다.\n\n글:\n{text}", structure="qa"),
    Style("distill",
          "다음 글을 핵심 정보만 남긴 간결하고 명료한 한국어 글로 다시 쓰세요. 중요한 개념, 수치, 사실은 모두 "
          "유지하고 군더더기는 빼세요. 결과만 출력하세요.\n\n글:\n{text}"),
    Style("extract_knowledge",
          "다음 글에서 지식과 유용한 정보를 뽑아 교과서처럼 설명하는 한국어 글로 다시 쓰세요. 의미 없는 부분(광고, "
          "탐색 메뉴, 인사말)은 빼고, 글에 없는 내용은 더하지 마세요. 결과만 출력하세요.\n\n글:\n{text}"),
    Style("knowledge_list",
          "다음 글에 담긴 핵심 지식을 한국어 목록으로 정리하세요. 각 항목은 '- '로 시작하는 한 줄의 완결된 문장으로 "
          "쓰세요. 목록만 출력하세요.\n\n글:\n{text}", structure="list"),
)}

HIGH_QUALITY_STYLES = ["diverse_qa", "distill", "extract_knowledge", "knowledge_list"]
# Nemotron-CC: low-quality documents are rephrased Wikipedia-style, high-quality ones are turned
# into the four new forms; the medium range is used as it is. Keys are bucket range names.
DEFAULT_ROUTING: dict[str, list[str]] = {
    "low": ["wikipedia"], "medium-low": ["wikipedia"], "medium": [],
    "medium-high": HIGH_QUALITY_STYLES, "high": HIGH_QUALITY_STYLES,
}


def styles_for(bucket: int, routing: dict[str, list[str]] = DEFAULT_ROUTING) -> list[Style]:
    """The styles a document of this quality bucket is rephrased into."""
    names = routing.get(bucket_name(bucket), [])
    unknown = [n for n in names if n not in STYLES]
    if unknown:
        raise ValueError(f"unknown rephrasing style(s) {unknown}; known: {sorted(STYLES)}")
    return [STYLES[n] for n in names]


def messages_for(style: Style, text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": style.instruction.format(text=text)}]
