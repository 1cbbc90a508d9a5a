"""Translation quality on held-out references: corpus BLEU and chrF with sacrebleu.

BLEU counts matching word n-grams (0-100); chrF matches character n-grams and is kinder to
morphology and to short sentences. Both are computed per direction and over all held-out pairs;
the baseline is copying the source unchanged, which scores above zero on pairs that share names
and numbers (tickers, figures), so a model must beat it to be worth serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    direction: str  # "en-de", or "all"
    pairs: int
    bleu: float
    chrf: float
    copy_bleu: float  # the copy-the-source baseline
    copy_chrf: float


def score(hypotheses: Sequence[str], references: Sequence[str], sources: Sequence[str], direction: str) -> Score:
    import sacrebleu

    refs = [list(references)]
    return Score(
        direction,
        len(hypotheses),
        round(sacrebleu.corpus_bleu(list(hypotheses), refs).score, 2),
        round(sacrebleu.corpus_chrf(list(hypotheses), refs).score, 2),
        round(sacrebleu.corpus_bleu(list(sources), refs).score, 2),
        round(sacrebleu.corpus_chrf(list(sources), refs).score, 2),
    )


def score_directions(
    examples: Sequence[tuple[str, str, str, str]], hypotheses: Sequence[str]
) -> list[Score]:
    """Per-direction scores and the overall one (last) for (src lang, tgt lang, src, ref) examples."""
    by_direction: dict[str, list[int]] = {}
    for i, (s, t, _, _) in enumerate(examples):
        by_direction.setdefault(f"{s}-{t}", []).append(i)
    out = []
    for direction, idx in sorted(by_direction.items()):
        out.append(score([hypotheses[i] for i in idx], [examples[i][3] for i in idx], [examples[i][2] for i in idx],
                         direction))  # fmt: skip
    out.append(score(hypotheses, [e[3] for e in examples], [e[2] for e in examples], "all"))
    return out
