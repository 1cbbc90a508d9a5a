"""Fraud: stored risk scores, online scoring with the batch's own code, and feedback labels.

- GET  /api/v1/fraud/score/{address}: the score `address_risk_scores` holds, with reasons and versions
  (a cached read keyed by the table's version).
- POST /api/v1/fraud/score: scores addresses (their stored features) or feature records now, through
  `ops.fraud.scoring.score_matrix`, the function the `address_risk_scores` asset calls. The models
  are the promoted versions, hot-reloaded (`serving.served_models.ServedModel`).
- POST /api/v1/fraud/feedback: a label for an address (write scope). One row per address, so sending
  the same label again changes nothing; the next fraud_model run trains with it.

`score_basis` says what the score is: "classifier" (the anomaly score and cluster fields are context
beside it, because the model's evaluation did not show that fusing them helps) or "fused".
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

import numpy as np
import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from ops.fraud.anomaly import AnomalyModel
from ops.fraud.model import ANOMALY_MODEL, BANDS, FRAUD_MODEL, PRECISION_TARGETS, FraudModel, from_bytes
from ops.fraud.schema import FEATURE_DESCRIPTIONS, FEATURES, normalize_address
from ops.fraud.scoring import PRIOR, score_matrix
from resources.model_store import ModelStoreError, ModelVersion
from resources.tables import ADDRESS_FEATURES, ADDRESS_RISK_SCORES, FRAUD_FEEDBACK
from resources.tokens import Principal
from serving.auth import require_scopes
from serving.cached_reads import cached_read
from serving.deps import TablesDep, WarehouseDep
from serving.errors import ERROR_RESPONSES
from serving.served_models import ServedModel
from serving.strict_types import Integer, Number

router = APIRouter(prefix="/api/v1/fraud", tags=["fraud"], responses=ERROR_RESPONSES)

#: Addresses or records one POST /score may carry.
MAX_ITEMS = 1000
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"

Address = Annotated[str, Path(description="An account address, 0x + 40 hex digits (any case).",
                              pattern=ADDRESS_PATTERN, examples=["0x00009277775ac7d0d59eaad8fee3d10ac6c805e8"])]


# -- schemas --------------------------------------------------------------------------------------
class Reason(BaseModel):
    feature: str
    description: str
    contribution: float | None = Field(
        None, description="Log-odds the feature's value adds for this address (TreeSHAP; online scoring only).")


CONTEXT = "Context beside the score, not part of it unless score_basis is 'fused'."


class Cluster(BaseModel):
    id: int | None = Field(None, description="HDBSCAN cluster (-1: none).")
    outlier_score: float | None = None
    fraud_rate: float | None = Field(None, description="Fraud rate of the labelled addresses in the cluster.")


class RiskScore(BaseModel):
    address: str | None
    score: int = Field(description="0-100: the calibrated fraud probability in percent.")
    probability: float
    band: str = Field(description=f"{' | '.join(BANDS)} (precision {' / '.join(f'{t:.2f}' for t in PRECISION_TARGETS)} cuts).")
    score_basis: str = Field("classifier", description="classifier: the score is the classifier's alone; "
                             "fused: it also weighs the anomaly and cluster context; prior: no fraud model is "
                             "promoted (none could be told from a random score), every address scores the "
                             "labelled base rate; unknown: not recorded.")
    reasons: list[Reason] = Field(description="Features that pushed this address's score up most (flagged "
                                  "addresses, band above low; none for low).")
    anomaly_score: float | None = Field(None, description="IsolationForest score, 0-1 (above ~0.5: unusual). "
                                        + CONTEXT)
    cluster: Cluster = Field(description="HDBSCAN cluster context. " + CONTEXT)
    model_version: str
    anomaly_model_version: str | None
    scored_at: datetime


FeatureRecord = create_model(
    "FeatureRecord",
    __config__=ConfigDict(extra="forbid"),
    address=(str | None, Field(None, pattern=ADDRESS_PATTERN, description="Optional, echoed back.")),
    **{name: (Number | None, Field(None, description=FEATURE_DESCRIPTIONS[name] + " (missing: unknown)"))
       for name in FEATURES},
)


class ScoreRequest(BaseModel):
    # "addresses or records": declared, so the schema admits no body the server refuses for it.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["addresses"], "properties": {"addresses": {"minItems": 1}}},
        {"required": ["records"], "properties": {"records": {"minItems": 1}}},
    ]})

    addresses: list[Annotated[str, Field(pattern=ADDRESS_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Indexed addresses, scored from their stored features."
    )
    records: list[FeatureRecord] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=MAX_ITEMS, description="Feature records, scored as given."
    )

    @model_validator(mode="after")
    def _addresses_or_records(self) -> ScoreRequest:
        if not self.addresses and not self.records:  # declared too: the anyOf above
            raise ValueError("give addresses or records to score")
        return self


class ScoreResponse(BaseModel):
    count: int
    items: list[RiskScore]
    not_found: list[str] = Field(description="Requested addresses with no stored features (not indexed yet).")
    model_version: str
    score_basis: str = Field(description="classifier | fused: what the scores are (see RiskScore).")
    anomaly_model_version: str | None


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(pattern=ADDRESS_PATTERN)
    label: Integer = Field(ge=0, le=1, description="1: fraud, 0: legitimate (an integer: `false` is refused).")
    note: str | None = Field(None, max_length=500)


class FeedbackAnswer(BaseModel):
    address: str
    label: int
    changed: bool = Field(description="False when the same label was already stored (the call is idempotent).")
    updated_at: datetime


# -- models ---------------------------------------------------------------------------------------
def _load(cls: type, version: ModelVersion):
    return from_bytes(version.files["model.pkl"], cls)


def _validate_fraud(model: FraudModel) -> None:
    if tuple(model.features) != FEATURES:
        raise ValueError("fraud model features differ from this code's FEATURES")
    p = model.predict_proba(np.zeros((1, len(FEATURES))))
    if not (0.0 <= float(p[0]) <= 1.0):
        raise ValueError("fraud model returned a probability outside [0, 1]")


def _served(request: Request, name: str, cls: type, validate=None) -> ServedModel:
    models: dict[str, ServedModel] = request.app.state.models
    if name not in models:
        models.setdefault(name, ServedModel(request.app.state.model_store, name, partial(_load, cls), validate))
    return models[name]


def _current_models(request: Request) -> tuple[Any, Any]:
    """(fraud Loaded, anomaly Loaded or None), blocking: run through the guard."""
    try:
        fraud = _served(request, FRAUD_MODEL, FraudModel, _validate_fraud).get()
    except ModelStoreError as exc:
        raise HTTPException(404, f"no fraud model is served yet ({exc}); materialize fraud_model") from None
    try:
        anomaly = _served(request, ANOMALY_MODEL, AnomalyModel).get()
    except ModelStoreError:
        anomaly = None
    return fraud, anomaly


# -- endpoints ------------------------------------------------------------------------------------
def _score_basis(store, version: str | None) -> str:
    """What the stored score of a model version is, from its manifest (written by the fraud_model asset)."""
    if version == PRIOR:
        return PRIOR
    if store is None or not version:
        return "unknown"
    try:
        return str(store.manifest(FRAUD_MODEL, version).get("score_basis", "unknown"))
    except ModelStoreError:
        return "unknown"


def _stored_score(warehouse, tables, address: str, store=None) -> dict[str, Any]:
    tables.require(ADDRESS_RISK_SCORES.name)
    rows = warehouse.read(ADDRESS_RISK_SCORES.name, {"address": address}, limit=1).to_dicts()
    if not rows:
        raise HTTPException(404, f"no risk score for address {address}: it is not indexed or not scored yet")
    r = rows[0]
    reasons = [Reason(feature=f, description=FEATURE_DESCRIPTIONS.get(f, f))
               for f in (r["reason_1"], r["reason_2"], r["reason_3"]) if f]
    return RiskScore(
        address=r["address"], score=r["score"], probability=r["probability"], band=r["band"],
        score_basis=_score_basis(store, r["model_version"]), reasons=reasons,
        anomaly_score=r["anomaly_score"],
        cluster=Cluster(id=r["cluster_id"], outlier_score=r["cluster_outlier_score"],
                        fraud_rate=r["cluster_fraud_rate"]),
        model_version=r["model_version"], anomaly_model_version=r["anomaly_model_version"], scored_at=r["scored_at"],
    ).model_dump(mode="json")


@router.get("/score/{address}", response_model=RiskScore, summary="The stored risk score of an address, with reasons")
async def get_score(request: Request, address: Address, warehouse: WarehouseDep, tables: TablesDep):
    address = normalize_address(address)
    return await cached_read(request, "data", [ADDRESS_RISK_SCORES.name], {"address": address},
                             partial(_stored_score, warehouse, tables, address,
                                     getattr(request.app.state, "model_store", None)))


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _score_now(request: Request, warehouse, body: ScoreRequest) -> dict[str, Any]:
    fraud, anomaly = _current_models(request)
    frames, not_found = [], []
    if body.addresses:
        wanted = list(dict.fromkeys(normalize_address(a) for a in body.addresses))
        stored = (warehouse.read(ADDRESS_FEATURES.name, {"address": wanted}, columns=["address", *FEATURES])
                  if warehouse.has_table(ADDRESS_FEATURES.name) else pl.DataFrame())
        found = set(stored["address"].to_list()) if stored.height else set()
        not_found = [a for a in wanted if a not in found]
        if stored.height:
            frames.append(stored)
    if body.records:
        frames.append(pl.DataFrame([r.model_dump() for r in body.records],
                                   schema={"address": pl.Utf8, **{f: pl.Float64 for f in FEATURES}}))
    frame = pl.concat(frames, how="vertical_relaxed") if frames else None
    items = []
    if frame is not None and frame.height:
        x = frame.select(FEATURES).to_numpy().astype(np.float64)
        s = score_matrix(fraud.model, anomaly.model if anomaly else None, x, frame["address"].to_list())
        now = datetime.now(UTC)
        for i in range(frame.height):
            items.append(RiskScore(
                address=s.addresses[i], score=round(float(s.probability[i]) * 100), probability=float(s.probability[i]),
                band=BANDS[int(s.band_index[i])], score_basis=fraud.model.score_basis,
                reasons=[Reason(feature=r["feature"], description=FEATURE_DESCRIPTIONS[r["feature"]],
                                contribution=r["contribution"]) for r in s.reasons_of(i)],
                anomaly_score=finite_or_none(s.anomaly[i]) if s.anomaly is not None else None,
                cluster=Cluster(
                    id=int(s.cluster_id[i]) if s.cluster_id is not None else None,
                    outlier_score=finite_or_none(s.cluster_outlier[i]) if s.cluster_outlier is not None else None,
                    fraud_rate=finite_or_none(s.cluster_fraud_rate[i]) if s.cluster_fraud_rate is not None else None),
                model_version=fraud.version, anomaly_model_version=anomaly.version if anomaly else None,
                scored_at=now,
            ))
    return ScoreResponse(count=len(items), items=items, not_found=not_found, model_version=fraud.version,
                         score_basis=fraud.model.score_basis,
                         anomaly_model_version=anomaly.version if anomaly else None).model_dump(mode="json")


@router.post("/score", response_model=ScoreResponse, summary="Score addresses or feature records now")
async def post_score(request: Request, body: ScoreRequest, warehouse: WarehouseDep):
    return await request.app.state.guard.call("models", _score_now, request, warehouse, body)


def _store_feedback(warehouse, body: Feedback, client: str) -> dict[str, Any]:
    address = normalize_address(body.address)
    before = (warehouse.read(FRAUD_FEEDBACK.name, {"address": address}, limit=1).to_dicts()
              if warehouse.has_table(FRAUD_FEEDBACK.name) else [])
    if before and before[0]["label"] == body.label and before[0]["note"] == body.note:
        return FeedbackAnswer(address=address, label=body.label, changed=False,
                              updated_at=before[0]["updated_at"]).model_dump(mode="json")
    now = datetime.now(UTC)
    row = pl.DataFrame([{"address": address, "label": body.label, "source": f"api:{client}", "note": body.note,
                         "updated_at": now}], schema=FRAUD_FEEDBACK.schema)
    warehouse.upsert(FRAUD_FEEDBACK, row)
    return FeedbackAnswer(address=address, label=body.label, changed=True, updated_at=now).model_dump(mode="json")


@router.post("/feedback", response_model=FeedbackAnswer, summary="Label an address (idempotent; write scope)")
async def post_feedback(
    request: Request,
    body: Feedback,
    warehouse: WarehouseDep,
    principal: Annotated[Principal, Depends(require_scopes("write"))],
):
    return await request.app.state.guard.call("warehouse", _store_feedback, warehouse, body, principal.client_id)
