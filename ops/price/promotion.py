"""The promotion rule: a candidate replaces the current model only when it earns it.

A candidate is promoted when, on its walk-forward evaluation,

1. every metric the rule reads is there and finite (an evaluation that failed promotes nothing);
2. its edge over the best simple baseline is significant at every horizon: the lower bound of the
   95 % block-bootstrap CI of MAE(best baseline) / MAE(model) (`h{h}_mae_ratio_ci_low`) is above
   1. The best baseline is the lowest-MAE one of persistence, the training mean and an AR(1) on
   the same test rows; a point ratio above 1 is not enough, as a 0.2 % win on a few hundred
   returns is noise (see `ops.price.uncertainty`);
3. it is not worse than the current version: its worst-horizon ratio `mae_ratio` is at least the
   current version's, minus `tolerance`. Ratios, not raw MAEs, are compared because the two
   versions were evaluated on different periods, and the size of returns (hence of every MAE)
   moves with the market's volatility; dividing by a baseline on the same rows takes that out.

Otherwise `current` stays, and the decision says why in words a person can act on: the horizon,
the ratio, its CI and the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops.price.uncertainty import BASELINES


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def baseline_name(candidate: Mapping[str, Any], h: int, baselines: Mapping[int, str] | None = None) -> str:
    """The best baseline of horizon `h`: from `baselines`, else the metrics' `h{h}_best_baseline_index`."""
    if baselines and h in baselines:
        return baselines[h]
    index = candidate.get(f"h{h}_best_baseline_index")
    if _finite(index) and 0 <= int(index) < len(BASELINES):
        return BASELINES[int(index)]
    return "the best simple baseline"


def decide(
    candidate: Mapping[str, Any],
    horizons: Sequence[int],
    current: Mapping[str, Any] | None = None,
    current_version: str | None = None,
    *,
    baselines: Mapping[int, str] | None = None,
    tolerance: float = 0.0,
) -> Decision:
    """Whether `candidate` metrics (flat `h{h}_mae_ratio`, `h{h}_mae_ratio_ci_low`, ... and `mae_ratio`)
    earn promotion; `baselines` names each horizon's best baseline (else read from the metrics)."""
    if not horizons:
        return Decision(False, "the candidate names no horizons")
    for h in horizons:
        for key in (f"h{h}_mae", f"h{h}_mae_ratio", f"h{h}_mae_ratio_ci_low", f"h{h}_mae_ratio_ci_high"):
            if not _finite(candidate.get(key)):
                return Decision(False, f"the evaluation has no finite {key}; nothing to judge the candidate by")
    for h in horizons:
        ratio, low, high = (candidate[f"h{h}_mae_ratio{s}"] for s in ("", "_ci_low", "_ci_high"))
        if not low > 1:
            name = baseline_name(candidate, h, baselines)
            dm = candidate.get(f"h{h}_dm_pvalue")
            test = f", Diebold-Mariano p = {dm:.3g}" if _finite(dm) else ""
            point = "" if ratio > 1 else f"; the point MAE does not beat {name} either"
            return Decision(
                False,
                f"its walk-forward edge over {name} at horizon {h} is not significant: MAE ratio {name} / model "
                f"{ratio:.4f}, 95 % CI [{low:.4f}, {high:.4f}]{test} (the CI must lie above 1{point})",
            )
    ratio = min(candidate[f"h{h}_mae_ratio"] for h in horizons)
    worst = min(horizons, key=lambda h: candidate[f"h{h}_mae_ratio"])
    edge = (f"beats {baseline_name(candidate, worst, baselines)} significantly at every horizon "
            f"(worst MAE ratio {ratio:.4f} at horizon {worst}, 95 % CI from {candidate[f'h{worst}_mae_ratio_ci_low']:.4f})")
    if current is not None and _finite(current.get("mae_ratio")):
        if ratio < current["mae_ratio"] - tolerance:
            return Decision(
                False,
                f"{edge}, but is worse than the current version {current_version}: worst-horizon MAE ratio "
                f"vs the best baseline {ratio:.4f} < {current['mae_ratio']:.4f}",
            )
        return Decision(True, f"{edge} and is not worse than the current version {current_version} "
                        f"({current['mae_ratio']:.4f})")
    return Decision(True, f"{edge}; no current version to compare with")


__all__ = ["Decision", "baseline_name", "decide"]
