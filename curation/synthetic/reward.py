"""Reward scoring of conversations on the five HelpSteer2 attributes, filtering and preference
pairs, after the Nemotron-4 340B recipe (generate, score every response, keep the best).

Two backends, one `RewardScorer`:
- "nim": an OpenAI-compatible reward endpoint as NIM serves Nemotron-4-340B-Reward: the
  conversation POSTed to chat/completions, the scores in `choices[0].logprobs.content` as
  [{"token": "helpfulness", "logprob": 3.1}, ...].
- "judge": any instruct model as judge, with a Korean rubric on HelpSteer2's 0-4 scale per
  attribute, answered as JSON (the server's structured output via `response_format` where it
  has it). A malformed judgement is asked again (a different seed, so not the cached answer),
  then becomes a `judge_malformed` reject.

Scores stay per attribute; `weighted_score` combines them only where asked (filtering by a
weighted minimum, choosing preference pairs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from curation.llm import Completion, LLMClient, LLMError

ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
# The combination the Nemotron-4-340B-Reward model card recommends for one scalar (its weights
# [0, 0, 0, 0, 0.3, 0.74, 0.46, 0.47, -0.33] over the 9 outputs, of which the last five are these).
DEFAULT_WEIGHTS: dict[str, float] = {"helpfulness": 0.3, "correctness": 0.74, "coherence": 0.46,
                                     "complexity": 0.47, "verbosity": -0.33}
BACKENDS = ("nim", "judge")

JUDGE_SYSTEM = "당신은 AI 도우미의 답변을 엄격하고 공정하게 평가하는 한국어 평가자입니다. JSON만 출력합니다."
JUDGE_RUBRIC = """다음 대화에서 마지막 도우미(assistant) 답변을 HelpSteer2 기준의 다섯 항목으로 평가하세요.
각 항목은 0부터 4까지의 정수입니다(0: 매우 나쁨 또는 매우 적음, 4: 매우 좋음 또는 매우 많음).
- helpfulness(유용성): 사용자의 요청에 전체적으로 얼마나 도움이 되는가
- correctness(정확성): 필요한 사실을 오류 없이 모두 담았는가
- coherence(일관성): 표현이 일관되고 명확한가
- complexity(복잡성): 답을 쓰는 데 필요한 지적 깊이(누구나 쓸 수 있으면 0, 깊은 전문 지식이 필요하면 4)
- verbosity(장황함): 요청에 비해 담은 세부 내용의 양(간결하면 0, 매우 길고 자세하면 4)
다른 말 없이 다음 형식의 JSON 한 개만 출력하세요:
{"helpfulness": 0, "correctness": 0, "coherence": 0, "complexity": 0, "verbosity": 0}

대화:
"""
JUDGE_SCHEMA = {"type": "object", "additionalProperties": False, "required": list(ATTRIBUTES),
                "properties": {name: {"type": "integer", "minimum": 0, "maximum": 4} for name in ATTRIBUTES}}
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
ROLE_NAMES = {"user": "사용자", "assistant": "도우미", "system": "시스템"}


class RewardParseError(ValueError):
    """A reward answer without the five attribute scores."""


def parse_nim_reward(completion: Completion) -> dict[str, float]:
    """The five scores from a NIM reward answer (choices[0].logprobs.content)."""
    if not completion.logprobs:
        raise RewardParseError("no choices[0].logprobs.content in the reward answer")
    scores = {token.strip().lower(): value for token, value in completion.logprobs}
    missing = [name for name in ATTRIBUTES if name not in scores]
    if missing:
        raise RewardParseError(f"reward answer lacks {', '.join(missing)} (got {sorted(scores)})")
    return {name: float(scores[name]) for name in ATTRIBUTES}


def parse_judgement(text: str) -> dict[str, float]:
    """The five 0-4 integer scores of a judge's JSON answer (a fenced or prefixed object too)."""
    found = _JSON_OBJECT.search(text or "")
    if not found:
        raise RewardParseError(f"judgement is not JSON: {(text or '')[:120]!r}")
    try:
        data = json.loads(found.group(0))
    except ValueError as error:
        raise RewardParseError(f"judgement is not JSON ({error}): {found.group(0)[:120]!r}") from None
    if not isinstance(data, dict):
        raise RewardParseError("judgement is not a JSON object")
    scores = {}
    for name in ATTRIBUTES:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 4 or value != int(value):
            raise RewardParseError(f"judgement's {name} is {value!r}, not an integer from 0 to 4")
        scores[name] = float(value)
    return scores


def judge_messages(conversation: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    transcript = "\n".join(f"[{ROLE_NAMES.get(m['role'], m['role'])}] {m['content']}" for m in conversation
                           if m["role"] != "system")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": JUDGE_RUBRIC + transcript}]


@dataclass
class Scored:
    """One conversation's scores, or why it has none (`reason`: llm_error, reward_malformed,
    judge_malformed)."""

    scores: dict[str, float] | None
    reason: str | None = None
    details: dict = field(default_factory=dict)
    model: str | None = None


class RewardScorer:
    """Scores conversations (lists of {"role", "content"}, ending with an assistant turn)."""

    def __init__(self, client: LLMClient, backend: str = "nim", judge_retries: int = 2,
                 structured_output: bool = True) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown reward backend {backend!r}; one of {', '.join(BACKENDS)}")
        self.client, self.backend = client, backend
        self.judge_retries, self.structured_output = judge_retries, structured_output

    def _request(self, conversation: Sequence[Mapping[str, str]], attempt: int) -> dict:
        if self.backend == "nim":
            return {"messages": [dict(m) for m in conversation]}
        request = {"messages": judge_messages(conversation), "temperature": 0.0 if attempt == 0 else 0.7,
                   "seed": attempt}
        if self.structured_output:
            request["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": "helpsteer2_scores", "schema": JUDGE_SCHEMA}}
        return request

    def score(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[Scored]:
        """One Scored per conversation, in order; malformed judgements asked again up to
        `judge_retries` times (reward answers are not: the same input gives the same scores)."""
        results: list[Scored | None] = [None] * len(conversations)
        pending = list(range(len(conversations)))
        attempts = 1 + (self.judge_retries if self.backend == "judge" else 0)
        for attempt in range(attempts):
            answers = self.client.run_all([self._request(conversations[i], attempt) for i in pending])
            still = []
            for position, answer in zip(pending, answers):
                if isinstance(answer, LLMError):
                    results[position] = Scored(None, "llm_error", {"error": str(answer)[:300]})
                    continue
                try:
                    scores = (parse_nim_reward(answer) if self.backend == "nim" else parse_judgement(answer.text))
                    results[position] = Scored(scores, model=answer.model)
                except RewardParseError as error:
                    reason = "reward_malformed" if self.backend == "nim" else "judge_malformed"
                    results[position] = Scored(None, reason, {"error": str(error)[:300], "attempts": attempt + 1},
                                               model=answer.model)
                    still.append(position)
            pending = still
            if not pending:
                break
        return results  # type: ignore[return-value]


def weighted_score(scores: Mapping[str, float], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float:
    return float(sum(weights.get(name, 0.0) * scores[name] for name in ATTRIBUTES))


def parse_bounds(items: Sequence[str]) -> dict[str, float]:
    """["correctness=3", "coherence=3"] -> {"correctness": 3.0, ...}; unknown names are errors."""
    bounds = {}
    for item in items:
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name not in (*ATTRIBUTES, "weighted") or not value:
            raise ValueError(f"{item!r}: expected ATTRIBUTE=VALUE with ATTRIBUTE one of "
                             f"{', '.join((*ATTRIBUTES, 'weighted'))}")
        bounds[name] = float(value)
    return bounds


@dataclass(frozen=True)
class AttributeThresholds:
    """Minimums and maximums per attribute (and of the weighted score, as "weighted")."""

    minimum: Mapping[str, float] = field(default_factory=dict)
    maximum: Mapping[str, float] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def reason(self, scores: Mapping[str, float]) -> tuple[str | None, dict]:
        """None when every bound holds, else e.g. ("below_threshold", {"attribute": "correctness", ...})."""
        values = {**scores, "weighted": weighted_score(scores, self.weights)}
        for name, bound in self.minimum.items():
            if values[name] < bound:
                return "below_threshold", {"attribute": name, "score": values[name], "minimum": bound}
        for name, bound in self.maximum.items():
            if values[name] > bound:
                return "above_threshold", {"attribute": name, "score": values[name], "maximum": bound}
        return None, {}


@dataclass
class Pair:
    prompt_id: str
    chosen: str  # response ids
    rejected: str
    margin: float


def preference_pairs(scored: Sequence[tuple[str, str, float]], min_margin: float
                     ) -> tuple[list[Pair], list[tuple[str, str, dict]]]:
    """From (prompt_id, response_id, weighted score) rows: per prompt, chosen = best, rejected =
    worst, kept when best - worst >= min_margin. Also the prompts without a pair and why
    (single_response, small_margin)."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for prompt_id, response_id, value in scored:
        groups.setdefault(prompt_id, []).append((response_id, value))
    pairs, dropped = [], []
    for prompt_id, responses in groups.items():
        if len(responses) < 2:
            dropped.append((prompt_id, "single_response", {"responses": len(responses)}))
            continue
        ranked = sorted(responses, key=lambda item: (-item[1], item[0]))
        (best, high), (worst, low) = ranked[0], ranked[-1]
        margin = high - low
        if margin < min_margin:
            dropped.append((prompt_id, "small_margin", {"margin": round(margin, 4), "min_margin": min_margin}))
            continue
        pairs.append(Pair(prompt_id, best, worst, margin))
    return pairs, dropped
