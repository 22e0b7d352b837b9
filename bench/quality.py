"""Quality chain on held-out Korean data: heuristics, fastText classifier buckets, perplexity.

Training (never evaluated on): 4/5 of reference_ko.jsonl (KLUE) as positives and language
model text; negatives = NSMC reviews and chatbot lines from the first half of those files plus
generated spam and menus (seed 1).
Evaluation, each kind built from data the models never saw:
  clean:   the other 1/5 of KLUE, Korean LibreOffice paragraphs (mixed_lang), persona narratives
  comment: NSMC reviews and chatbot lines from the end of those files (never trained on)
  spam:    keyword-stuffed ads (seed 2)
  menu:    navigation / boilerplate menus (seed 2)
  salad:   held-out clean prose with its words shuffled
Models are trained as the assets train them: the perplexity model on the positives, the
quality model (fastText + the Moore-Lewis web LM) on 4/5 of each class, buckets fitted on the
held-out fifth. Reports ROC AUC per signal (clean vs. each bad kind), keep rates per kind for
the chain (heuristics -> ensemble bucket >= min_bucket; optionally perplexity tail rejected),
a sweep of min_bucket per signal, and scoring speed.

    python bench/quality.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.heuristics import HeuristicFilter  # noqa: E402
from curation.perplexity import PerplexityScorer, is_held_out, train_perplexity_model  # noqa: E402
from curation.quality import (  # noqa: E402
    DEFAULT_MIN_BUCKET,
    QualityScorer,
    assign_buckets,
    class_balanced_token_weights,
    fit_bucket_thresholds,
    train_quality_model,
)

ROOT = Path(__file__).resolve().parents[1]
SPAM_WORDS = ["무료", "대박", "할인", "쿠폰", "최저가", "당첨", "이벤트", "클릭", "지금", "바로", "가입", "혜택",
              "대출", "무직자", "당일", "승인", "카톡", "문의", "상담", "특가", "한정", "판매", "강남", "맛집", "추천",
              "성형", "다이어트", "보장", "수익", "부업", "재택", "알바", "고수익", "주식", "코인", "리딩방"]
MENU_WORDS = ["홈", "뉴스", "정치", "경제", "사회", "문화", "스포츠", "연예", "날씨", "로그인", "회원가입", "고객센터",
              "이용약관", "개인정보처리방침", "사이트맵", "공지사항", "이벤트", "자주 묻는 질문", "마이페이지",
              "장바구니", "전체메뉴", "검색", "바로가기", "맨 위로", "이전 글", "다음 글", "목록", "인쇄", "공유하기",
              "스크랩"]


def read_jsonl(path: Path, key: str = "text") -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def spam(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = [rng.choice(SPAM_WORDS) for _ in range(rng.randint(12, 40))]
        if rng.random() < 0.5:
            words += [rng.choice(["010-1234-5678", "http://ad.example.kr", "★★★", "!!!", "♥"])]
        out.append(" ".join(words))
    return out


def menus(rng: random.Random, n: int) -> list[str]:
    return ["\n".join(rng.sample(MENU_WORDS, rng.randint(8, 20))) for _ in range(n)]


def salad(texts: list[str], rng: random.Random) -> list[str]:
    out = []
    for text in texts:
        words = text.split()
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def roc_auc(good: np.ndarray, bad: np.ndarray) -> float:
    """P(score of a good document > score of a bad one), ties count half."""
    good, bad = np.asarray(good, float), np.asarray(bad, float)
    greater = (good[:, None] > bad[None, :]).mean()
    ties = (good[:, None] == bad[None, :]).mean()
    return float(greater + 0.5 * ties)


def build(data: Path) -> tuple[dict, dict]:
    rng = random.Random(1)
    reference = [r["text"] for r in read_jsonl(data / "reference_ko.jsonl")]
    rng.shuffle(reference)
    cut = len(reference) * 4 // 5
    nsmc = [r["text"] for r in read_jsonl(data / "nsmc_reviews.jsonl")]
    chat = [r["text"] for r in read_jsonl(data / "chatbot_qa.jsonl")]
    train = {"positives": reference[:cut],
             "negatives": nsmc[:1500] + chat[:1500] + spam(random.Random(1), 300) + menus(random.Random(1), 300)}
    mixed = [r["text"] for r in read_jsonl(data / "mixed_lang.jsonl") if r["lang"] == "ko"]
    personas = []
    for row in read_jsonl(data / "personas" / "nemotron_personas_korea_sample.jsonl"):
        personas += [row[f] for f in ("professional_persona", "persona", "cultural_background",
                                      "career_goals_and_ambitions")]
    clean = reference[cut:] + mixed + personas
    rng2 = random.Random(2)
    kinds = {"clean": clean,
             # the last 300 of each file: past the training rows for the shipped and the full files
             "comment": nsmc[-300:] + chat[-300:],
             "spam": spam(rng2, 300),
             "menu": menus(rng2, 300),
             "salad": salad(reference[cut:] + mixed + personas[:200], rng2)}
    return train, kinds


def held_out_texts(texts: list[str], every: int = 5) -> list[str]:
    """The texts train_quality_model holds out of training for calibration (the same rule)."""
    return [t for i, t in enumerate(texts) if is_held_out(i, every)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--min-bucket", type=int, default=DEFAULT_MIN_BUCKET)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    args = parser.parse_args()
    train, kinds = build(args.data)
    sweep_buckets = range(5, 19)
    with tempfile.TemporaryDirectory() as work:
        lm_dir, q_dir = Path(work) / "lm", Path(work) / "q"
        card = train_perplexity_model(train["positives"], lm_dir)
        train_quality_model(train["positives"], train["negatives"], q_dir, language_model_dir=lm_dir)
        perplexity, quality, heuristics = PerplexityScorer(lm_dir), QualityScorer(q_dir), HeuristicFilter()
        perplexity.perplexities(["모델 적재"]), quality.signal_scores(["모델 적재"])  # load models before timing
        # The rejected alternative second signal: raw perplexity, bucketed on the same calibration texts.
        held_positive, held_negative = (held_out_texts(train[c]) for c in ("positives", "negatives"))
        perplexity_thresholds = fit_bucket_thresholds(-np.log(perplexity.perplexities(held_positive + held_negative)),
                                                      class_balanced_token_weights(held_positive, held_negative))
        signals: dict[str, dict[str, np.ndarray]] = {}
        keep: dict[str, dict] = {}
        seconds = {"heuristics": 0.0, "perplexity": 0.0, "classifier": 0.0, "moore_lewis": 0.0}
        documents = 0
        for kind, texts in kinds.items():
            batch = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
            documents += len(texts)
            timer = time.perf_counter()
            h_keep = heuristics.decide(heuristics.score_batch(batch)).keep
            seconds["heuristics"] += time.perf_counter() - timer
            timer = time.perf_counter()
            ppl = perplexity.perplexities(texts)
            seconds["perplexity"] += time.perf_counter() - timer
            timer = time.perf_counter()
            classifier = quality.classifier_scores(texts)
            seconds["classifier"] += time.perf_counter() - timer
            timer = time.perf_counter()
            moore_lewis = quality.moore_lewis_scores(texts)
            seconds["moore_lewis"] += time.perf_counter() - timer
            c_bucket, m_bucket = quality.buckets("classifier", classifier), quality.buckets("moore_lewis", moore_lewis)
            p_bucket = assign_buckets(-np.log(ppl), perplexity_thresholds)
            ensemble = np.maximum(c_bucket, m_bucket)
            tail = np.array([b == "tail" for b in perplexity.buckets(ppl)], dtype=bool)
            signals[kind] = {"heuristics": h_keep.astype(float), "neg_perplexity": -ppl, "classifier": classifier,
                             "moore_lewis": moore_lewis, "ensemble_bucket": ensemble.astype(float)}

            def kept_share(mask: np.ndarray) -> float:
                return round(float(mask.mean()), 3)

            keep[kind] = {
                "documents": len(texts),
                "heuristics": kept_share(h_keep),
                "perplexity_not_tail": kept_share(~tail),
                "chain": kept_share(h_keep & (ensemble >= args.min_bucket)),
                "chain_rejecting_perplexity_tail": kept_share(h_keep & ~tail & (ensemble >= args.min_bucket)),
                "by_min_bucket": {
                    name: {b: kept_share(h_keep & (buckets >= b)) for b in sweep_buckets}
                    for name, buckets in (("classifier", c_bucket), ("moore_lewis", m_bucket),
                                          ("ensemble", ensemble),
                                          ("classifier_max_raw_perplexity", np.maximum(c_bucket, p_bucket)))}}
    auc = {kind: {name: round(roc_auc(signals["clean"][name], values), 3) for name, values in signals[kind].items()}
           for kind in kinds if kind != "clean"}
    docs_per_s = {name: round(documents / s, 1) for name, s in seconds.items()}
    print(f"perplexity cut-offs: head <= {card['head_max']:.0f}, middle <= {card['middle_max']:.0f}")
    names = ("heuristics", "neg_perplexity", "classifier", "moore_lewis", "ensemble_bucket")
    print(f"{'kind':8s} {'docs':>5s} | kept: heuristics chain(b>={args.min_bucket}) +ppl-tail | AUC vs clean: "
          + " ".join(f"{n:>15s}" for n in names))
    for kind, row in keep.items():
        a = auc.get(kind)
        print(f"{kind:8s} {row['documents']:5d} | {row['heuristics']:16.3f} {row['chain']:13.3f} "
              f"{row['chain_rejecting_perplexity_tail']:8.3f} | "
              + ("" if not a else " ".join(f"{a[n]:15.3f}" for n in names)))
    for name in ("classifier", "ensemble", "classifier_max_raw_perplexity"):
        print(f"kept by heuristics + {name} bucket >= b:")
        for b in sweep_buckets:
            print(f"  b={b:2d}: " + "  ".join(f"{k} {row['by_min_bucket'][name][b]:.3f}" for k, row in keep.items()))
    print(f"scoring speed, one core, docs/s: {docs_per_s}")
    args.out.write_text(json.dumps({"keep": keep, "auc": auc, "docs_per_second": docs_per_s,
                                    "perplexity_card": card, "min_bucket": args.min_bucket},
                                   ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
