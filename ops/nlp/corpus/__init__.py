"""The parallel corpus kept in the repository: in-domain sentences in en, de, es and fr.

`parallel.tsv` (written by `generate.py`, authored for this project) has one row per sentence in
the four languages and a `split` column: `train` rows teach the demo model, `test` rows are held out
for `translation_quality`.
"""

from __future__ import annotations

import csv
import hashlib
from functools import lru_cache
from pathlib import Path

CORPUS_FILE = Path(__file__).with_name("parallel.tsv")
LANGUAGES = ("en", "de", "es", "fr")
#: The directions the demo model learns: English to and from each other language.
DIRECTIONS: tuple[tuple[str, str], ...] = tuple(
    pair for other in LANGUAGES[1:] for pair in (("en", other), (other, "en"))
)


@lru_cache(maxsize=1)
def rows() -> tuple[dict[str, str], ...]:
    with CORPUS_FILE.open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh, delimiter="\t"))


def pairs(split: str, directions=DIRECTIONS) -> list[tuple[str, str, str, str]]:
    """(source language, target language, source text, target text) of every row of `split`."""
    return [(s, t, row[s], row[t]) for row in rows() if row["split"] == split for s, t in directions]


def sentences(split: str | None = None) -> list[str]:
    """Every sentence in every language (of one split, or all): what the tokenizer learns from."""
    return [row[lang] for row in rows() if split is None or row["split"] == split for lang in LANGUAGES]


def fingerprint() -> str:
    """sha256 of the corpus file: a model trained on other text is retrained."""
    return hashlib.sha256(CORPUS_FILE.read_bytes()).hexdigest()
