"""Texts to translate: JSONL landing files and API batches, as rows of `translation_inputs`.

A landing file holds one JSON object per line:

    {"text": "BTC rose 5 percent today.", "target": "de"}
    {"id": "tweet-17", "text": "ETH fiel gestern um 3 Prozent.", "source": "de", "targets": ["en", "fr"]}

`text` is required; `id` (unique within the file) defaults to the line number; `source` defaults to
detection; `target`/`targets` default to the configured targets. A line that is not such an object
is returned as a reject with its reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ops.nlp.langcodes import UnknownLanguage, normalize
from ops.nlp.schema import INPUTS_SCHEMA


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str


def input_id(origin: str, ref: str, item: str | int) -> str:
    """A stable id: the same line of the same file (or item of a batch) is the same input forever."""
    digest = hashlib.sha256(f"{origin}\x1f{ref}\x1f{item}".encode()).hexdigest()[:20]
    return f"{origin[:3]}-{digest}"


def _targets(record: dict, default: Sequence[str]) -> list[str]:
    raw = record.get("targets", record.get("target"))
    if raw is None:
        return list(default)
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ValueError("target(s) must be a language code or a list of them")
    return [normalize(v) for v in values]


def parse_jsonl(
    text: str, file_name: str, default_targets: Sequence[str], received_at: datetime, max_chars: int
) -> tuple[pl.DataFrame, list[Reject]]:
    """Rows of `translation_inputs` from one landing file, and the lines refused with a reason."""
    rows, rejects, seen = [], [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")  # noqa: TRY004 - a bad line, reported as a reject
            body = record.get("text")
            if not isinstance(body, str) or not body.strip():
                raise ValueError("missing or empty 'text'")
            if len(body) > max_chars:
                raise ValueError(f"text of {len(body)} characters, more than the limit of {max_chars}")
            ref = str(record.get("id", number))
            if ref in seen:
                raise ValueError(f"id {ref!r} repeats an earlier line")
            source = record.get("source")
            source = normalize(source) if isinstance(source, str) and source.strip() else None
            targets = _targets(record, default_targets)
        except (ValueError, UnknownLanguage) as exc:  # JSONDecodeError is a ValueError
            rejects.append(Reject(number, str(exc)))
            continue
        seen.add(ref)
        rows.append(
            {
                "input_id": input_id("landing", file_name, ref),
                "origin": "landing",
                "origin_ref": file_name,
                "item": number,
                "text": body,
                "source_lang": source,
                "targets": ",".join(dict.fromkeys(targets)),
                "received_at": received_at,
            }
        )
    return pl.DataFrame(rows, schema=INPUTS_SCHEMA), rejects


def from_batches(batch_rows: pl.DataFrame) -> pl.DataFrame:
    """Rows of `translation_inputs` from rows of `nlp_batch_inputs`."""
    if batch_rows.is_empty():
        return pl.DataFrame(schema=INPUTS_SCHEMA)
    return pl.DataFrame(
        [
            {
                "input_id": input_id("api", row["batch_id"], row["item"]),
                "origin": "api",
                "origin_ref": row["batch_id"],
                "item": row["item"],
                "text": row["text"],
                "source_lang": row["source_lang"],
                "targets": row["target_lang"],
                "received_at": row["created_at"],
            }
            for row in batch_rows.iter_rows(named=True)
        ],
        schema=INPUTS_SCHEMA,
    )


def work_items(inputs: pl.DataFrame, detections: pl.DataFrame, done: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """(input, target) pairs still to translate, with the source language to use.

    The requested source wins over the detected one. Pairs in `done` (already in `translations`)
    are left out, which is what makes a re-run resume instead of starting over.
    """
    finished = set(done)
    detected = {row["input_id"]: row["language"] for row in detections.iter_rows(named=True)}
    rows = []
    for row in inputs.iter_rows(named=True):
        for target in (row["targets"] or "").split(","):
            if not target or (row["input_id"], target) in finished:
                continue
            requested = row["source_lang"]
            rows.append(
                {
                    "input_id": row["input_id"],
                    "target_lang": target,
                    "text": row["text"],
                    "source_lang": requested or detected.get(row["input_id"]),
                    "source_from": "requested" if requested else "detected",
                }
            )
    schema = {"input_id": pl.Utf8, "target_lang": pl.Utf8, "text": pl.Utf8, "source_lang": pl.Utf8,
              "source_from": pl.Utf8}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
