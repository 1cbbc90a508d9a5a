"""The NLP domain's Dagster definitions: detection and translation assets, the input and batch sensors."""

import dagster as dg

from assets.nlp.assets import NLP_ASSETS
from assets.nlp.triggers import nlp_batch_failed_sensor, nlp_batch_finished_sensor, nlp_inputs_sensor, nlp_job

defs = dg.Definitions(
    assets=NLP_ASSETS,
    jobs=[nlp_job],
    sensors=[nlp_inputs_sensor, nlp_batch_finished_sensor, nlp_batch_failed_sensor],
)
