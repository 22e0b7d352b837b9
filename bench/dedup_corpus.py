"""Korean near-duplicate corpus for the dedup benchmark, generated from data/bench (the shipped
pack; ../shared/data for the full sets).

Base documents: main text of the LibreOffice Korean help pages (our extractor; pages share
menus and phrasing, so they are realistic hard negatives), persona narratives from the
Nemotron-Personas-Korea sample, Korean paragraphs of mixed_lang.jsonl and KLUE sentences.
Variants of a random subset imitate how Korean web copies differ: syllable typos, inserted or
deleted characters, changed word spacing (띄어쓰기), an added or dropped sentence, a
boilerplate line ("무단 전재 및 재배포 금지"). Each variant draws its edit strength, so the
Jaccard similarities of pairs spread across 0.5-1.0 around the 0.8 threshold.

    python bench/dedup_corpus.py [--data ../shared/data] [--out out/bench/dedup_corpus.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.sources.html import JustextKorean, decode_html  # noqa: E402

SEED = 7553
BOILERPLATE = ["무단 전재 및 재배포 금지", "ⓒ 2026 한국뉴스. All rights reserved.",
               "이 페이지는 자동으로 번역되었습니다.", "최종 수정일: 2026년 1월 20일", "관련 기사 더 보기 >",
               "공유하기 | 인쇄 | 스크랩"]
SENTENCE_END = re.compile(r"(?<=[.!?다요])\s+")


def base_documents(data: Path, limit_html: int | None = None) -> list[dict]:
    docs = []
    extractor = JustextKorean()
    for page in sorted((data / "html").glob("*.html"))[:limit_html]:
        text = extractor.extract(decode_html(page.read_bytes()).text)
        if len(text) >= 200:
            docs.append({"id": f"html-{page.stem}", "text": text})
    persona_fields = ["professional_persona", "sports_persona", "arts_persona", "travel_persona",
                      "culinary_persona", "family_persona", "persona", "cultural_background",
                      "skills_and_expertise", "hobbies_and_interests", "career_goals_and_ambitions"]
    with (data / "personas" / "nemotron_personas_korea_sample.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            for name in persona_fields:
                if len(row.get(name) or "") >= 100:
                    docs.append({"id": f"persona-{row['uuid'][:8]}-{name}", "text": row[name]})
    with (data / "mixed_lang.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["lang"] == "ko":
                docs.append({"id": row["id"], "text": row["text"]})
    with (data / "reference_ko.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if len(row["text"]) >= 60:
                docs.append({"id": row["id"], "text": row["text"]})
    return docs


def _syllable(rng: random.Random) -> str:
    return chr(0xAC00 + rng.randrange(11172))


def variant(text: str, strength: float, rng: random.Random) -> str:
    """A near copy: about `strength` * len(text) character edits of mixed kinds, plus maybe a
    sentence-level change."""
    chars = list(text)
    for _ in range(max(1, int(strength * len(chars)))):
        if not chars:
            break
        i = rng.randrange(len(chars))
        kind = rng.random()
        if kind < 0.35:
            chars[i] = _syllable(rng)  # typo
        elif kind < 0.5:
            del chars[i]
        elif kind < 0.65:
            chars.insert(i, _syllable(rng))
        elif kind < 0.85:  # spacing: drop a space or split a word
            if chars[i] == " ":
                del chars[i]
            else:
                chars.insert(i, " ")
        else:
            chars[i] = chars[i] + rng.choice(["!", ".", ",", "~", "…"])
    out = "".join(chars)
    roll = rng.random()
    if roll < 0.25:
        out = out + "\n" + rng.choice(BOILERPLATE)
    elif roll < 0.4:
        out = rng.choice(BOILERPLATE) + "\n" + out
    elif roll < 0.55:
        sentences = SENTENCE_END.split(out)
        if len(sentences) > 3:
            del sentences[rng.randrange(len(sentences))]
            out = " ".join(sentences)
    return out


def build(data: Path, variants_of: int = 700, limit_html: int | None = None) -> list[dict]:
    rng = random.Random(SEED)
    docs = base_documents(data, limit_html)
    for base in rng.sample(docs, min(variants_of, len(docs))):
        for k in range(rng.choice([1, 1, 2, 3])):
            strength = rng.choice([0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12])
            docs.append({"id": f"{base['id']}~v{k}", "text": variant(base["text"], strength, rng)})
    rng.shuffle(docs)
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "bench")
    parser.add_argument("--out", type=Path, default=Path("out/bench/dedup_corpus.jsonl"))
    args = parser.parse_args()
    docs = build(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
    lengths = sorted(len(d["text"]) for d in docs)
    print(f"{len(docs)} documents, median {lengths[len(lengths) // 2]} chars -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
