"""One run of the whole `nlp` group for `sextant up`: the model exists and the API translates from the start.

A sample landing file (`ops/nlp/corpus/demo_inputs.jsonl`) is dropped into an empty NLP landing
folder, so the Dagster UI shows inputs, detections and translations right away. The from-scratch
model trains once (a minute or two) and is reused by later runs while the corpus stays the same.
A failed run is reported and not fatal: the other domains still come up.
"""

import shutil
import time
from pathlib import Path

DEMO_INPUTS = Path(__file__).resolve().parents[2] / "ops" / "nlp" / "corpus" / "demo_inputs.jsonl"


def prepare_nlp(instance, settings, console) -> bool:
    """Materialize `group:nlp` once in `instance`; True when the run succeeded."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    landing = settings.resolved_nlp_landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    if not any(landing.glob("*.jsonl")):
        shutil.copy(DEMO_INPUTS, landing / DEMO_INPUTS.name)
    defs = build_definitions(settings)
    started = time.monotonic()
    with console.status("[bold]nlp: translation model (trained once, then reused), detections, translations ..."):
        result = dg.materialize(
            list(defs.assets or []),
            instance=instance,
            resources=defs.resources,
            selection=dg.AssetSelection.groups("nlp"),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
    seconds = time.monotonic() - started
    if result.success:
        console.print(f"[green]nlp assets materialized in {seconds:.0f} s; NLP landing folder: {landing}")
    else:
        console.print(f"[yellow]nlp run failed after {seconds:.0f} s; see the Dagster UI for its logs")
    return result.success
