"""Small Korean partitions with exact and near duplicates inside and across them (tests only)."""

import random

import pyarrow as pa

SYLLABLES = [chr(0xAC00 + i) for i in range(0, 11172, 7)]


def originals(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(40, 900))) for _ in range(count)]


def edited(text: str, rng: random.Random, share: float = 1 / 40) -> str:
    chars = list(text)
    for _ in range(max(1, int(len(chars) * share))):
        chars[rng.randrange(len(chars))] = rng.choice(SYLLABLES)
    return "".join(chars)


def partitions(count: int = 3, rows: int = 600, seed: int = 1) -> list[pa.Table]:
    """Each partition draws from one pool of originals: some new, some copies (exact, or with
    about 1 in 40 characters changed) of documents of the same or earlier partitions."""
    rng = random.Random(seed)
    pool = originals(rows * count // 2, seed)
    tables = []
    for p in range(count):
        texts = []
        for _ in range(rows):
            text = rng.choice(pool)
            kind = rng.random()
            if kind < 0.4:
                text = edited(text, rng)
            elif kind < 0.5:
                text = text + "  "  # an exact duplicate after normalisation
            texts.append(text)
        tables.append(pa.table({"id": [f"p{p}/{i:05d}" for i in range(rows)], "text": texts}))
    return tables


def reader(table: pa.Table, batch_rows: int = 128):
    return lambda: (table.slice(o, batch_rows) for o in range(0, table.num_rows, batch_rows))
