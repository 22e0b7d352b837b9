"""Quality classifier: token-weighted bucket thresholds, bucket names, and the train -> score
round trip on the shipped reference sample."""

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from curation.quality import (
    QualityFilter,
    QualityScorer,
    assign_buckets,
    bucket_name,
    fit_bucket_thresholds,
    train_quality_classifier,
)

NOISE_WORDS = ["ㅋㅋㅋ", "ㅠㅠ", "대박", "무료", "클릭", "이벤트", "할인", "쿠폰", "최저가", "당첨", "ㄹㅇ", "개꿀",
               "http://spam.example.kr", "지금", "바로", "가입", "!!!", "★", "문의", "010-0000-0000"]


def noise(rng, n):
    return [" ".join(rng.choice(NOISE_WORDS) for _ in range(rng.randint(4, 14))) for _ in range(n)]


def test_thresholds_split_tokens_not_documents():
    # Ten one-token documents at low scores, one 90-token document at a high score: by tokens
    # the long document is 90 % of the mass, so most thresholds fall on its score.
    scores = [0.01 * i for i in range(10)] + [0.9] * 10
    weights = [1] * 10 + [9] * 10
    thresholds = fit_bucket_thresholds(scores, weights)
    assert len(thresholds) == 19 and thresholds == sorted(thresholds)
    assert sum(t == 0.9 for t in thresholds) >= 16
    assert assign_buckets([0.0, 0.95], thresholds).tolist() == [0, 19]


def test_equal_weights_give_equal_document_shares():
    scores = np.linspace(0, 1, 2000)
    buckets = assign_buckets(scores, fit_bucket_thresholds(scores, np.ones(2000)))
    counts = np.bincount(buckets, minlength=20)
    assert counts.min() >= 95 and counts.max() <= 105


def test_bucket_names_follow_nemotron_cc():
    assert [bucket_name(b) for b in (19, 18, 17, 12, 11, 7, 6, 0)] == [
        "high", "medium-high", "medium", "medium", "medium-low", "medium-low", "low", "low"]
    with pytest.raises(ValueError):
        bucket_name(20)


@pytest.fixture(scope="module")
def trained(sample_dir, tmp_path_factory):
    rng = random.Random(0)
    reference = [json.loads(line)["text"] for line in (sample_dir / "reference" / "reference_ko.jsonl").open(encoding="utf-8")]
    rng.shuffle(reference)
    train, unseen = reference[:500], reference[500:]
    negatives = noise(rng, 500)
    out = tmp_path_factory.mktemp("quality")
    card = train_quality_classifier(train, negatives, out, calibration=train + negatives)
    return out, card, unseen, noise(random.Random(99), 140)


def test_round_trip_scores_unseen_prose_above_noise(trained):
    out, card, unseen, unseen_noise = trained
    assert card["examples"] == {"hq": 500, "lq": 500} and len(card["thresholds"]) == 19
    scorer = QualityScorer(out)  # thresholds read back from card.json
    prose_buckets = scorer.buckets(scorer.scores(unseen))
    noise_buckets = scorer.buckets(scorer.scores(unseen_noise))
    assert np.median(prose_buckets) >= 12
    assert np.median(noise_buckets) <= 6
    # Buckets are shares of the calibration tokens (here ~40 % noise): noise fills the lower
    # buckets, prose the upper ones.
    assert (noise_buckets <= 9).mean() >= 0.95 and (prose_buckets >= 8).mean() >= 0.9
    assert (prose_buckets[:, None] > noise_buckets[None, :]).mean() >= 0.95


def test_filter_rejects_low_buckets_and_ensembles_by_maximum(trained):
    out, _, unseen, unseen_noise = trained
    scorer = QualityScorer(out)
    worst = [unseen_noise[i] for i in np.argsort(scorer.scores(unseen_noise))[:2]]
    best = unseen[int(np.argmax(scorer.scores(unseen)))]
    batch = pa.table({"id": ["prose", "noise", "noise-but-fluent"],
                      "text": [best, worst[0], worst[1]],
                      "perplexity_bucket20": [0, 0, 19]})
    stage = QualityFilter(QualityScorer(out), ensemble_column="perplexity_bucket20")
    kept, rejected = stage.process(batch)
    assert kept.column("id").to_pylist() == ["prose", "noise-but-fluent"]
    assert kept.column("quality_bucket").to_pylist()[1] == 19  # max of the two signals
    row = rejected.to_pylist()[0]
    assert row["reason"] == "quality_low" and json.loads(row["details"])["bucket_name"] == "low"
