"""Column contracts of the NLP tables and the names the assets, sensors and API share.

Flow: the landing folder (JSONL) and the API (`nlp_batch_inputs`) feed `translation_inputs`;
`language_detections` has one row per input; `translations` one row per input and target
language. Keys make every write idempotent: re-running a step rewrites the same rows.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

#: The model name in the ModelStore.
MODEL_NAME = "translation"
#: Run tag carrying the API batch a run translates (the run-status sensor reads it back).
BATCH_TAG = "sextant/nlp_batch"

#: API-fed inputs, one row per text of a submitted batch.
BATCH_INPUTS_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.Utf8,
    "item": pl.Int64,
    "text": pl.Utf8,
    "source_lang": pl.Utf8,  # null: detect
    "target_lang": pl.Utf8,
    "created_at": UTC_TS,
}
BATCH_INPUTS_KEY = ("batch_id", "item")

#: One row per API batch: its life (queued -> submitted -> done | failed) and where to call back.
BATCHES_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.Utf8,
    "status": pl.Utf8,
    "texts": pl.Int64,
    "target_lang": pl.Utf8,
    "source_lang": pl.Utf8,
    "callback_url": pl.Utf8,
    "run_id": pl.Utf8,
    "detail": pl.Utf8,
    "callback_status": pl.Utf8,
    "created_at": UTC_TS,
    "updated_at": UTC_TS,
    #: The client whose token queued it: only that client reads it back (NULL: queued before owners).
    "client_id": pl.Utf8,
}
BATCHES_KEY = ("batch_id",)
QUEUED, SUBMITTED, DONE, FAILED = "queued", "submitted", "done", "failed"

#: Every text to translate, whatever brought it.
INPUTS_SCHEMA: dict[str, pl.DataType] = {
    "input_id": pl.Utf8,
    "origin": pl.Utf8,  # "landing" or "api"
    "origin_ref": pl.Utf8,  # landing file name, or batch id
    "item": pl.Int64,  # line number in the file, or position in the batch
    "text": pl.Utf8,
    "source_lang": pl.Utf8,  # as requested; null means detect
    "targets": pl.Utf8,  # comma-separated ISO codes
    "received_at": UTC_TS,
}
INPUTS_KEY = ("input_id",)

DETECTIONS_SCHEMA: dict[str, pl.DataType] = {
    "input_id": pl.Utf8,
    "language": pl.Utf8,  # ISO 639-1, or "und"
    "confidence": pl.Float64,
    "reliable": pl.Boolean,
    "mixed": pl.Boolean,
    "alternatives": pl.Utf8,  # JSON [{"language", "confidence"}]
    "segments": pl.Utf8,  # JSON [{"start", "end", "language", "words"}]
    "detected_at": UTC_TS,
}
DETECTIONS_KEY = ("input_id",)

TRANSLATIONS_SCHEMA: dict[str, pl.DataType] = {
    "input_id": pl.Utf8,
    "target_lang": pl.Utf8,
    "source_lang": pl.Utf8,  # requested, else detected
    "source_from": pl.Utf8,  # "requested" or "detected"
    "translation": pl.Utf8,  # null when not translated (see status)
    "status": pl.Utf8,  # ok | same_language | unsupported | undetermined
    "model": pl.Utf8,
    "model_version": pl.Utf8,
    "translated_at": UTC_TS,
}
TRANSLATIONS_KEY = ("input_id", "target_lang")
OK, SAME_LANGUAGE, UNSUPPORTED, UNDETERMINED = "ok", "same_language", "unsupported", "undetermined"

