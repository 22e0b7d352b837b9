"""SentencePiece + KenLM perplexity: train on the shipped reference sample with KenLM's own
lmplz, score unseen text, bucket by cut-offs fitted on held-out reference prose."""

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from curation.perplexity import PerplexityFilter, PerplexityScorer, normalize_for_lm, train_perplexity_model
from curation.text import DIGIT, INLINE_SPACE, fold


@pytest.fixture(scope="module")
def reference(sample_dir):
    texts = [json.loads(line)["text"]
             for line in (sample_dir / "reference" / "reference_ko.jsonl").open(encoding="utf-8")]
    random.Random(0).shuffle(texts)
    return texts[:400], texts[400:]  # train (with its own calibration share), unseen


@pytest.fixture(scope="module")
def model_dir(reference, tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    card = train_perplexity_model(reference[0], out)
    assert card["calibration_texts"] == 80 and card["lines"] == 320
    return out


def shuffled(text, rng):
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def test_training_writes_models_and_cutoffs(model_dir):
    card = json.loads((model_dir / "cutoffs.json").read_text())
    assert (model_dir / "sp.model").stat().st_size > 0 and (model_dir / "lm.binary").stat().st_size > 0
    assert 1 < card["head_max"] < card["middle_max"]


def test_word_salad_and_chat_are_less_fluent_than_unseen_prose(model_dir, reference):
    rng = random.Random(1)
    scorer = PerplexityScorer(model_dir)
    prose = scorer.perplexities(reference[1])
    salad = scorer.perplexities([shuffled(t, rng) for t in reference[1]])
    chat = scorer.perplexities(["ㅋㅋㅋ 개웃김 진짜 ㅋㅋ 노잼 ㅠㅠ 레알 존잼 인정?"] * 3)
    assert np.median(salad) > 1.3 * np.median(prose)
    assert (salad > prose).mean() > 0.8  # the same words, shuffled: worse in most pairs
    assert chat.min() > np.percentile(prose, 90)
    buckets = scorer.buckets(prose)
    assert buckets.count("tail") / len(buckets) < 0.2  # unseen prose is mostly head or middle


def test_filter_rejects_tail_with_reason(model_dir):
    stage = PerplexityFilter(PerplexityScorer(model_dir), reject=("tail",))
    batch = pa.table({"id": ["prose", "noise"],
                      "text": ["정부는 내년부터 청년 고용을 늘리기 위한 새로운 정책을 시행한다고 밝혔다.",
                               "ㅋㅋㅋ 개웃김 진짜 ㅋㅋ 노잼 ㅠㅠ 레알 존잼 인정?"]})
    kept, rejected, _ = stage.process(batch)
    assert rejected.column("id").to_pylist() == ["noise"]
    assert set(rejected.column("reason").to_pylist()) == {"perplexity_tail"}
    assert kept.column("id").to_pylist() == ["prose"]  # news prose is head or middle, never the tail
    assert {"perplexity", "perplexity_bucket"} <= set(kept.column_names)
    assert PerplexityFilter(PerplexityScorer(model_dir)).process(batch)[1].num_rows == 0  # annotates by default
    with pytest.raises(ValueError, match="unknown perplexity buckets"):
        PerplexityFilter(PerplexityScorer(model_dir), reject=("bad",))


def test_normalize_for_lm_equals_the_substitution_on_every_line():
    def by_substitution(text):
        text = DIGIT.sub("0", fold(text))
        return [INLINE_SPACE.sub(" ", line).strip() for line in text.splitlines() if line.strip()]

    texts = ["한 칸 띄운 문장입니다.", "두  칸\t탭\t\t 섞임", " 앞뒤 공백 ", "\u3000전각\u00a0공백  뒤",
             "숫자 ١٢٣ 2024년", "줄\n바꿈\r\n\n\x0b여러\u2028줄", "\t", "  ", "a \t b", ""]
    for text in texts:
        assert normalize_for_lm(text) == by_substitution(text), text
