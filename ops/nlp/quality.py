"""Translation quality on held-out references: corpus BLEU and chrF with sacrebleu.

BLEU counts matching word n-grams (0-100); chrF matches character n-grams and is kinder to
morphology and to short sentences. Both are computed per direction and over all held-out pairs;
the baseline is copying the source unchanged, which scores above zero on pairs that share names
and numbers (tickers, figures), so a model must beat it to be worth serving.

Each score carries a 95 % interval from resampling the held-out pairs (percentile bootstrap), and
the model's gain over the copy baseline is resampled paired (the same pairs for both), as
sacrebleu's own paired bootstrap does: per-sentence statistics are extracted once and summed per
resample, so 1,000 resamples cost well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1_000
SEED = 0


@dataclass(frozen=True)
class Score:
    direction: str  # "en-de", or "all"
    pairs: int
    bleu: float
    chrf: float
    copy_bleu: float  # the copy-the-source baseline
    copy_chrf: float
    bleu_ci95: tuple[float, float] = (0.0, 0.0)
    chrf_ci95: tuple[float, float] = (0.0, 0.0)
    bleu_gain_ci95: tuple[float, float] = (0.0, 0.0)  # model - copy, paired
    chrf_gain_ci95: tuple[float, float] = (0.0, 0.0)


def _intervals(metric, hypotheses, sources, refs, resamples: int, seed: int):
    """95 % percentile intervals of the model's corpus score and of its paired gain over copying."""
    model = np.asarray(metric._extract_corpus_statistics(list(hypotheses), refs), dtype=float)
    copy = np.asarray(metric._extract_corpus_statistics(list(sources), refs), dtype=float)
    rng = np.random.default_rng(seed)
    scores, gains = np.empty(resamples), np.empty(resamples)
    for k in range(resamples):
        idx = rng.integers(0, len(model), len(model))
        ours = metric._compute_score_from_stats(list(model[idx].sum(axis=0))).score
        scores[k] = ours
        gains[k] = ours - metric._compute_score_from_stats(list(copy[idx].sum(axis=0))).score
    bounds = [2.5, 97.5]
    return tuple(np.round(np.percentile(scores, bounds), 2)), tuple(np.round(np.percentile(gains, bounds), 2))


def score(
    hypotheses: Sequence[str], references: Sequence[str], sources: Sequence[str], direction: str,
    *, resamples: int = RESAMPLES, seed: int = SEED,
) -> Score:
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF

    refs = [list(references)]
    bleu_ci, bleu_gain = _intervals(BLEU(), hypotheses, sources, refs, resamples, seed)
    chrf_ci, chrf_gain = _intervals(CHRF(), hypotheses, sources, refs, resamples, seed)
    return Score(
        direction,
        len(hypotheses),
        round(sacrebleu.corpus_bleu(list(hypotheses), refs).score, 2),
        round(sacrebleu.corpus_chrf(list(hypotheses), refs).score, 2),
        round(sacrebleu.corpus_bleu(list(sources), refs).score, 2),
        round(sacrebleu.corpus_chrf(list(sources), refs).score, 2),
        bleu_ci, chrf_ci, bleu_gain, chrf_gain,
    )  # fmt: skip


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
