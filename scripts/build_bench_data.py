"""Build data/bench/ (the small licensed source pack the benchmark corpora are generated from,
so that `bash bench/run.sh` runs on a fresh clone) from ../shared/data. Fixed selection
(seed 7553); the layout is ../shared/data's, so the bench scripts read either.

    python scripts/build_bench_data.py [--shared ../shared/data]

What it keeps (about 3 MB): 80 of the 400 LibreOffice Korean help pages (MPL-2.0), the 30
persona rows (CC BY 4.0), every mixed_lang paragraph (LibreOffice ko/ja/zh/en help, MPL-2.0),
the KLUE reference sentences (CC BY-SA 4.0), 3,000 NSMC reviews (CC0-1.0) and 2,000 chatbot
lines (MIT), with the licence files.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 7553
HTML_PAGES = 80
SAMPLED = {"nsmc_reviews.jsonl": 3_000, "chatbot_qa.jsonl": 2_000}
WHOLE = ("mixed_lang.jsonl", "reference_ko.jsonl")


def build(shared: Path, out: Path) -> None:
    for part in out.iterdir() if out.exists() else ():  # README.md (hand-written) stays
        if part.name != "README.md":
            shutil.rmtree(part) if part.is_dir() else part.unlink()
    (out / "html").mkdir(parents=True)
    pages = sorted((shared / "html").glob("*.html"))
    for page in sorted(random.Random(SEED).sample(pages, HTML_PAGES)):
        shutil.copyfile(page, out / "html" / page.name)
    for name, count in SAMPLED.items():
        lines = (shared / name).read_text(encoding="utf-8").splitlines()
        chosen = sorted(random.Random(SEED).sample(range(len(lines)), count))
        (out / name).write_text("".join(lines[i] + "\n" for i in chosen), encoding="utf-8")
    for name in WHOLE:
        shutil.copyfile(shared / name, out / name)
    shutil.copytree(shared / "personas", out / "personas")
    shutil.copytree(shared / "LICENSES", out / "LICENSES")
    sizes = [p.stat().st_size for p in out.rglob("*") if p.is_file()]
    print(json.dumps({"files": len(sizes), "bytes": sum(sizes)}))  # data/bench/README.md describes them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench")
    args = parser.parse_args()
    build(args.shared, args.out)


if __name__ == "__main__":
    main()
