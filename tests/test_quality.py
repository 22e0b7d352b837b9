"""Quality signals: token-weighted bucket thresholds, bucket names, the train -> score round
trip of the fastText classifier and the Moore-Lewis signal on the shipped reference sample,
and their maximum-bucket ensemble."""

import json
import random
import shutil

import numpy as np
import pyarrow as pa
import pytest

from curation import perplexity
from curation.perplexity import PerplexityScorer, train_perplexity_model
from curation.quality import (
    QualityFilter,
    QualityScorer,
    assign_buckets,
    bucket_name,
    class_balanced_token_weights,
    fit_bucket_thresholds,
    train_quality_model,
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


def test_calibration_weights_give_each_class_half():
    weights = class_balanced_token_weights(["짧은 글"] * 3, ["아주 긴 웹 문서 " * 50])
    assert weights[:3].sum() == pytest.approx(0.5) and weights[3:].sum() == pytest.approx(0.5)
    assert weights[0] == pytest.approx(weights[1])


@pytest.fixture(scope="module")
def trained(sample_dir, tmp_path_factory):
    rng = random.Random(0)
    reference = [json.loads(line)["text"]
                 for line in (sample_dir / "reference" / "reference_ko.jsonl").open(encoding="utf-8")]
    rng.shuffle(reference)
    train, unseen = reference[:400], reference[400:]
    negatives = noise(rng, 500)
    lm = tmp_path_factory.mktemp("lm")
    train_perplexity_model(train, lm)
    out = tmp_path_factory.mktemp("quality")
    card = train_quality_model(train, negatives, out, language_model_dir=lm)
    return out, card, unseen, noise(random.Random(99), 140)


def test_training_holds_out_a_fifth_of_each_class_for_the_buckets(trained):
    out, card, _, _ = trained
    assert card["examples"] == {"hq": 320, "lq": 400}
    assert card["calibration_documents"] == {"positive": 80, "negative": 100}
    assert set(card["signals"]) == {"classifier", "moore_lewis"}
    assert all(len(signal["thresholds"]) == 19 for signal in card["signals"].values())
    assert {"quality.bin", "sp.model", "reference_lm.binary", "web_lm.binary", "card.json"} <= {
        p.name for p in out.iterdir()}
    # every worker loads the classifier: fastText's default hash table made it 520 MB
    assert card["options"]["bucket"] == 2**18 and (out / "quality.bin").stat().st_size < 100_000_000


@pytest.mark.parametrize("signal", ["classifier", "moore_lewis"])
def test_round_trip_puts_unseen_prose_above_noise(trained, signal):
    out, _, unseen, unseen_noise = trained
    scorer = QualityScorer(out)  # thresholds read back from card.json
    prose, junk = (scorer.buckets(signal, scorer.signal_scores(texts)[signal]) for texts in (unseen, unseen_noise))
    # Balanced calibration: the reference-like half of the mix is buckets 10-19.
    assert (prose >= 10).mean() >= 0.9 and (junk < 10).mean() >= 0.9
    assert (prose[:, None] > junk[None, :]).mean() >= 0.95


def test_ensemble_takes_the_maximum_bucket_of_the_two_signals(trained):
    out, _, unseen, unseen_noise = trained
    real = QualityScorer(out).thresholds
    never = [np.inf] * 19  # every score falls in bucket 0
    batch = pa.table({"id": ["prose", "noise"], "text": [unseen[0], unseen_noise[0]]})

    def kept_ids(thresholds):
        kept, rejected, _ = QualityFilter(QualityScorer(out, thresholds=thresholds)).process(batch)
        return kept, rejected

    kept, rejected = kept_ids(real)
    assert kept.column("id").to_pylist() == ["prose"]
    row = kept.to_pylist()[0]
    assert row["quality_bucket"] == max(row["quality_classifier_bucket"], row["moore_lewis_bucket"]) >= 10
    details = json.loads(rejected.to_pylist()[0]["details"])
    assert rejected.column("reason").to_pylist() == ["quality_low"] and details["min_bucket"] == 10
    assert {"quality_classifier_bucket", "moore_lewis_bucket", "bucket_name"} <= set(details)
    # Either signal alone keeps the prose; silencing both rejects it.
    for silenced in ("classifier", "moore_lewis"):
        kept, _ = kept_ids({**real, silenced: never})
        assert kept.column("id").to_pylist() == ["prose"]
    kept, rejected = kept_ids({"classifier": never, "moore_lewis": never})
    assert kept.num_rows == 0 and json.loads(rejected.to_pylist()[0]["details"])["bucket_name"] == "low"


def test_without_a_language_model_the_classifier_is_the_only_signal(trained, tmp_path):
    _, _, unseen, unseen_noise = trained
    card = train_quality_model(unseen, unseen_noise, tmp_path)
    assert set(card["signals"]) == {"classifier"}
    kept, _, _ = QualityFilter(QualityScorer(tmp_path)).process(pa.table({"id": ["a"], "text": [unseen[0]]}))
    assert "moore_lewis_bucket" not in kept.column_names


def test_text_without_letters_is_rejected_and_scores_stay_probabilities(trained):
    out = trained[0]
    texts = ["", None, "1234 5678 90", "!!! ???", "정부는 내년부터 청년 고용을 늘리기 위한 정책을 시행한다고 밝혔다."]
    batch = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": pa.array(texts, pa.string())})
    stage = QualityFilter(QualityScorer(out), min_bucket=0)  # every scorable text is kept at 0
    kept, rejected, stats = stage.process(batch)
    assert kept.column("id").to_pylist() == ["d4"]
    assert rejected.column("reason").to_pylist() == ["no_letters"] * 4 and stats.rows_in == 5
    scores = QualityScorer(out).classifier_scores(["", "1234", "!!!", "좋은 글"] * 50)
    assert scores.min() >= 0.0 and scores.max() <= 1.0


def test_quality_takes_pieces_and_reference_scores_from_the_perplexity_stage_before_it(trained, tmp_path):
    out, _, unseen, unseen_noise = trained
    texts = unseen[:30] + unseen_noise[:30]
    for memo in (perplexity.PIECES, perplexity.MEAN_LOG10):
        memo.remember((), [], [])
    cold = QualityScorer(out).moore_lewis_scores(texts)  # computed in full: nothing remembered for these models
    # the perplexity model as the assets have it: its own folder, of which quality holds copies
    lm = tmp_path / "lm"
    lm.mkdir()
    shutil.copy(out / "sp.model", lm / "sp.model")
    shutil.copy(out / "reference_lm.binary", lm / "lm.binary")
    PerplexityScorer(lm, cutoffs=(np.inf, np.inf)).perplexities(texts)
    scorer = QualityScorer(out)
    reference, web = scorer.language_models

    def must_not_run(*args):
        raise AssertionError("recomputed what the perplexity stage had just computed")

    processor, model = reference._models
    reference._models = (None, model)  # no SentencePiece: every encoding must come from the memo
    reference.log10_per_piece = must_not_run
    assert np.array_equal(scorer.moore_lewis_scores(texts), cold)
    reference_scores = reference.mean_log10(texts)  # from the memo too
    # another model (the web LM: the same pieces, another KenLM) gets its own scores, not the reference's
    assert reference.identity[0] == web.identity[0] and reference.identity != web.identity
    web_scores = web.mean_log10(texts)
    assert np.array_equal(web_scores, web.log10_per_piece(web.encode(texts)))
    assert not np.array_equal(web_scores, reference_scores)
