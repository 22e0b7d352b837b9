"""Collapse guards for generated data: how many prompts are near-duplicates of another (our
MinHash dedup), how varied the responses' wording is (distinct-n), and how much of the topic
hierarchy and task mix a round covers. Synthetic loops drift towards a few phrasings and
topics; these numbers show it before the data is used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from curation.dedup.engine import dedup_settings, deduplicate_partition


def near_duplicate_rate(ids: Sequence[str], texts: Sequence[str], threshold: float = 0.8) -> float:
    """Share of texts that are exact or MinHash near-duplicates (Jaccard >= threshold, verified)
    of another text of the set: the curation chain's own dedup, in memory."""
    if not texts:
        return 0.0
    table = pa.table({"id": list(ids), "text": list(texts)})
    result = deduplicate_partition(lambda: [table], "generated", dedup_settings(threshold=threshold), add=False)
    return len(result.dup_rows) / len(texts)


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams over all n-grams of the texts (words: whitespace-separated eojeol)."""
    total, seen = 0, set()
    for text in texts:
        words = (text or "").split()
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def coverage(topics: Mapping[str, Sequence[str]], used: Sequence[tuple[str, str]], task_types: Sequence[str],
             used_types: Sequence[str]) -> dict:
    """Shares of the hierarchy's subtopics (and the most a round of that many prompts could
    cover) and of the wanted task types that the prompts use."""
    wanted = {(macro, sub) for macro, subs in topics.items() for sub in subs}
    hit = wanted & set(used)
    # a round of fewer prompts than subtopics cannot cover them all: what it could reach
    possible = min(1.0, len(used) / len(wanted)) if wanted else 0.0
    return {"subtopic_coverage": round(len(hit) / len(wanted), 4) if wanted else 0.0,
            "subtopic_coverage_possible": round(possible, 4),
            "macro_topics_used": len({macro for macro, _ in hit}), "macro_topics": len(topics),
            "task_types_missing": sorted(set(task_types) - set(used_types))}
