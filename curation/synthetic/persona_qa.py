"""Persona-grounded questions and answers, after the Nemotron-4 synthetic pipeline: a
macro-topic -> subtopic hierarchy, a question a given persona would ask about a subtopic
(first request), then an answer to that question (second request). The persona shapes the
question (who asks, in which words, about which concern); the answer is written for the
question alone, as an assistant would answer anyone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

import pyarrow as pa

from curation.documents import document_id, document_schema
from curation.llm import Completion
from curation.synthetic.styles import SYSTEM
from curation.synthetic.tasks import Outcome, Task
from curation.synthetic.validate import Checked, OutputLimits, check_output

TOPICS: dict[str, list[str]] = {
    "건강과 의료": ["만성질환 관리", "건강검진 결과 이해", "운동과 재활", "정신 건강"],
    "경제와 금융": ["가계 예산 관리", "연금과 노후 준비", "주택 대출", "세금 신고"],
    "교육과 학습": ["자녀 진학 상담", "외국어 공부", "자격증 준비", "평생교육 프로그램"],
    "일과 직업": ["이직과 경력 전환", "직장 내 소통", "창업 준비", "근로 계약과 권리"],
    "생활과 가정": ["집안일과 살림", "육아와 돌봄", "이웃과의 관계", "반려동물 돌보기"],
    "문화와 여가": ["국내 여행 계획", "전통 음식 만들기", "독서와 글쓰기", "지역 축제와 행사"],
    "과학과 기술": ["스마트폰 활용", "인공지능 이해", "개인정보 보호", "에너지 절약 기술"],
    "사회와 제도": ["공공 서비스 이용", "복지 제도 신청", "지역 주민 참여", "환경 보호 실천"],
}
QA_SCHEMA = document_schema(nullable=("source", "snapshot"), extra=[
    pa.field("uuid", pa.string()),
    pa.field("macro_topic", pa.string()),
    pa.field("subtopic", pa.string()),
    pa.field("question", pa.string()),
    pa.field("model", pa.string()),
    pa.field("prompt_tokens", pa.int64()),
    pa.field("completion_tokens", pa.int64()),
])


def subtopics_for(uuid: str, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` (macro-topic, subtopic) pairs for a persona, the same on every run."""
    pairs = [(macro, sub) for macro, subs in TOPICS.items() for sub in subs]
    digest = int(hashlib.sha256(f"{seed}:{uuid}".encode()).hexdigest()[:16], 16)
    return random.Random(digest).sample(pairs, min(count, len(pairs)))


def question_tasks(personas: pa.Table, release: str, topics_per_persona: int = 2, seed: int = 0) -> list[Task]:
    """First requests: one question per (persona, subtopic). `personas` has uuid and text (the
    persona description) and may carry demographics (sex, age, province, occupation)."""
    rows = personas.to_pylist()
    tasks = []
    for row in rows:
        profile = ", ".join(f"{k}: {row[k]}" for k in ("sex", "age", "province", "occupation") if row.get(k))
        for macro, sub in subtopics_for(row["uuid"], topics_per_persona, seed):
            prompt = (f"다음 사람이 '{macro}' 분야의 '{sub}'에 대해 AI 도우미에게 실제로 물어볼 법한 질문 하나를 "
                      f"한국어로 쓰세요. 그 사람의 상황과 말투가 드러나야 하며, 질문만 한 문단으로 출력하세요.\n\n"
                      f"사람: {row['text']}\n({profile})")
            doc_id = document_id("synthetic", release, f"{row['uuid']}|{macro}|{sub}|{seed}")
            tasks.append(Task(doc_id, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                              len(row["text"]), row={"uuid": row["uuid"], "macro_topic": macro, "subtopic": sub,
                                                     "source": "synthetic", "snapshot": release, "url": None}))
    return tasks


QUESTION_LIMITS = OutputLimits(min_chars=10, max_length_ratio=0.0, slack_chars=400)  # 10-400 characters


def check_question(task: Task, completion: Completion) -> Checked:
    """A question: Korean, 10 to 400 characters, quotes stripped."""
    return check_output(completion.text.strip().strip('"“”'), completion.finish_reason, 0, limits=QUESTION_LIMITS)


def answer_tasks(questions: Iterable[tuple[Task, str]]) -> list[Task]:
    """Second requests: answer each validated question."""
    tasks = []
    for question_task, question in questions:
        prompt = f"다음 질문에 정확하고 친절하게 한국어로 답하세요. 답변만 출력하세요.\n\n질문: {question}"
        tasks.append(Task(question_task.id,
                          [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                          source_chars=2000, row={**question_task.row, "question": question}))
    return tasks


def as_qa_documents(outcomes: list[Outcome]) -> list[Outcome]:
    """Kept answers become documents holding the question and the answer."""
    for outcome in outcomes:
        if outcome.reason is None:
            outcome.text = f"질문: {outcome.task.row['question']}\n\n답변: {outcome.text}"
    return outcomes
