"""Labelled training data: the public fraud data set, extra label files, and their union.

`public_dataset` turns the public CSV (columns with leading spaces, 829 rows whose ERC-20 columns
are empty; read as text by resources/training_data.py) into our feature names: empty cells stay null (the ERC-20 history was not
collected for those addresses; zero would claim it was and was empty). `training_frame` joins
labels for addresses whose features we computed ourselves (devnet ground truth, feedback) and
puts everything in one frame of `address, label, source, <features>`.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ops.fraud.schema import FEATURE_COLUMNS, FEATURES

LABEL_COLUMNS = ("address", "label", "source")


def public_dataset(raw: pl.DataFrame, name: str) -> pl.DataFrame:
    """The public CSV (every column read as text: we cast each ourselves) as `address, label, source,
    <features>` (floats, nulls where the file is empty)."""
    missing = [col for col, _ in FEATURE_COLUMNS.values() if col not in raw.columns]
    for needed in ("Address", "FLAG"):
        if needed not in raw.columns:
            missing.append(needed)
    if missing:
        raise ValueError(f"{name}: not the public fraud data set, missing columns {missing[:5]}")
    features = [
        pl.col(col).str.strip_chars().replace("", None).cast(pl.Float64).alias(name)
        for name, (col, _) in FEATURE_COLUMNS.items()
    ]
    return raw.select(
        pl.col("Address").str.strip_chars().str.to_lowercase().alias("address"),
        pl.col("FLAG").str.strip_chars().cast(pl.Int64).alias("label"),
        pl.lit("public").alias("source"),
        *features,
    )


def labels_from_csv(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """A label CSV (read as text) with `address` and `label` (or `flag`/`is_fraud`) columns, as
    `address, label, source`."""
    lower = {c.strip().lower(): c for c in frame.columns}
    label_col = next((lower[k] for k in ("label", "flag", "is_fraud") if k in lower), None)
    if "address" not in lower or label_col is None:
        raise ValueError(f"{name}: a label CSV needs an address column and a label/flag/is_fraud column")
    rows = [(a, _as_label(v)) for a, v in frame.select(lower["address"], label_col).iter_rows()]
    return labels_frame(rows, source=f"labels:{name}")


def labels_from_json(payload: object, name: str) -> pl.DataFrame:
    """Labels from JSON, as `address, label, source`: a list of `{"address", "label"}` objects; an
    object of address lists, e.g. `{"scam_addresses": [...], "normal_addresses": [...]}` (keys naming
    scam/fraud are label 1); or the devnet's ground truth, whose scam addresses are fraud and whose
    traders and exchange users are normal."""
    return labels_frame(list(_json_labels(payload)), source=f"labels:{name}")


def _as_label(value: object) -> int:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "fraud", "scam"):
        return 1
    if text in ("0", "false", "no", "normal", "legit"):
        return 0
    raise ValueError(f"label {value!r} is neither 1 (fraud) nor 0 (normal)")


#: Roles of a devnet ground truth (`orchestration/simulator/scenario.py`) whose addresses are labelled.
DEVNET_FRAUD_ROLES = ("scam_addresses",)
DEVNET_NORMAL_ROLES = ("traders", "exchange_users")


def _json_labels(payload: object) -> Iterable[tuple[str, int]]:
    if isinstance(payload, dict) and isinstance(payload.get("accounts"), dict):  # a devnet ground truth
        accounts = payload["accounts"]
        for roles, label in ((DEVNET_FRAUD_ROLES, 1), (DEVNET_NORMAL_ROLES, 0)):
            for role in roles:
                for address in accounts.get(role, []):
                    yield address, label
        return
    if isinstance(payload, list):
        for item in payload:
            yield item["address"], _as_label(item.get("label", item.get("flag", item.get("is_fraud"))))
    elif isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                label = 1 if any(w in key.lower() for w in ("scam", "fraud", "phish")) else 0
                for address in value:
                    yield address, label
    else:
        raise TypeError("a JSON label file is a list of {address, label} or an object of address lists")


def labels_frame(rows: Iterable[tuple[str, int]], source: str) -> pl.DataFrame:
    out = pl.DataFrame(list(rows), schema={"address": pl.Utf8, "label": pl.Int64}, orient="row")
    return out.with_columns(pl.col("address").str.strip_chars().str.to_lowercase(), pl.lit(source).alias("source"))


def training_frame(
    public: pl.DataFrame | None,
    chain_features: pl.DataFrame | None,
    labels: Iterable[pl.DataFrame] = (),
) -> pl.DataFrame:
    """One labelled frame: the public rows, plus our chain features of addresses that have a label.

    Later label frames win over earlier ones for the same address (pass feedback last). Labels
    only apply to addresses whose features we computed; the public rows keep the file's own labels
    (they are mainnet accounts we have no chain features for).
    """
    parts = []
    if public is not None and public.height:
        parts.append(public.select(*LABEL_COLUMNS, *FEATURES))
    label_parts = [lf.select(LABEL_COLUMNS) for lf in labels if lf is not None and lf.height]
    if label_parts and chain_features is not None and chain_features.height:
        merged = pl.concat(label_parts).unique("address", keep="last", maintain_order=True)
        joined = merged.join(chain_features.select("address", *FEATURES), on="address", how="inner")
        parts.append(joined.select(*LABEL_COLUMNS, *FEATURES))
    if not parts:
        return pl.DataFrame(schema={"address": pl.Utf8, "label": pl.Int64, "source": pl.Utf8,
                                    **{f: pl.Float64 for f in FEATURES}})
    return pl.concat(parts, how="vertical_relaxed")
