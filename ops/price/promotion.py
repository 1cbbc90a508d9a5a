"""The promotion rule: a candidate replaces the current model only when it earns it.

A candidate is promoted when, on its walk-forward evaluation,

1. every metric the rule reads is there and finite (an evaluation that failed promotes nothing);
2. it beats persistence at every horizon: MAE(model) < MAE(persistence), i.e. `mae_ratio` > 1;
3. it is not worse than the current version: its worst-horizon ratio MAE(persistence) / MAE(model)
   is at least the current version's, minus `tolerance`. Ratios, not raw MAEs, are compared
   because the two versions were evaluated on different periods, and the size of returns (hence
   of every MAE) moves with the market's volatility; dividing by persistence on the same rows
   takes that out.

Otherwise `current` stays, and the decision says why in words a person can act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def decide(
    candidate: Mapping[str, Any],
    horizons: Sequence[int],
    current: Mapping[str, Any] | None = None,
    current_version: str | None = None,
    *,
    tolerance: float = 0.0,
) -> Decision:
    """Whether `candidate` metrics (flat `h{h}_mae`, ... and `mae_ratio`) earn promotion."""
    if not horizons:
        return Decision(False, "the candidate names no horizons")
    for h in horizons:
        for key in (f"h{h}_mae", f"h{h}_mae_persistence"):
            if not _finite(candidate.get(key)):
                return Decision(False, f"the evaluation has no finite {key}; nothing to judge the candidate by")
    for h in horizons:
        mae, persistence = candidate[f"h{h}_mae"], candidate[f"h{h}_mae_persistence"]
        if not mae < persistence:
            return Decision(
                False,
                f"does not beat persistence on walk-forward MAE at horizon {h}: "
                f"{mae:.6g} vs {persistence:.6g} (ratio {persistence / mae if mae else float('nan'):.4f}, needs > 1)",
            )
    ratio = min(candidate[f"h{h}_mae_persistence"] / candidate[f"h{h}_mae"] for h in horizons)
    if current is not None and _finite(current.get("mae_ratio")):
        if ratio < current["mae_ratio"] - tolerance:
            return Decision(
                False,
                f"worse than the current version {current_version}: MAE ratio vs persistence "
                f"{ratio:.4f} < {current['mae_ratio']:.4f}",
            )
        return Decision(
            True, f"beats persistence (MAE ratio {ratio:.4f}) and the current version {current_version} "
            f"({current['mae_ratio']:.4f})"
        )
    return Decision(True, f"beats persistence (MAE ratio {ratio:.4f}); no current version to compare with")


__all__ = ["Decision", "decide"]
