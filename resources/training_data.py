"""Labelled training data from disk: the public fraud data set and extra label files.

Reading happens here; turning the rows into labelled features is pure (ops/fraud/dataset.py), so
it is tested on frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ops.fraud.dataset import labels_from_csv, labels_from_json, public_dataset


def load_public_dataset(path: str | Path) -> pl.DataFrame:
    """The public CSV at `path` as `address, label, source, <features>`."""
    return public_dataset(pl.read_csv(path, infer_schema_length=0), str(path))


def read_label_file(path: str | Path) -> pl.DataFrame:
    """Extra labels as `address, label, source`, from a CSV or a JSON file (`ops.fraud.dataset`)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return labels_from_csv(pl.read_csv(path, infer_schema_length=0), path.name)
    return labels_from_json(json.loads(path.read_text()), path.name)
