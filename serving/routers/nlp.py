"""Language detection and translation: answer now for a few texts, or queue a batch for the pipeline.

- `POST /detect`: language, confidence, alternatives and mixed-language segments (lingua).
- `POST /translate`: several texts into one target language with the promoted model; a text
  without `source` gets its language detected first.
- `GET /languages`: what detection considers and what the current model translates.
- `POST /translate/batch`: writes the texts to `nlp_batch_inputs` and the batch to `nlp_batches`
  (status `queued`) and answers 202 with the batch id. The pipeline's sensor starts a Dagster run
  for it (run key = batch id); when the run ends a run-status sensor marks the batch done or failed
  and calls the optional callback URL (loopback or NLP_CALLBACK_HOSTS only).
- `GET /translate/batch/{id}`: the batch's status and the translations written so far, for the client
  that queued it (an admin reads any; another client gets 404).

Serving never imports `assets`: the warehouse tables are the whole contract with the pipeline.
Model loads, detection and generation are blocking and CPU-bound: they run in worker threads
(the model load through the Guard), never on the event loop. One model per process
(`app.state.models["translation"]`, hot-reloaded when a new version is promoted).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path as FsPath
from typing import Annotated, Any

import anyio.to_thread
import polars as pl
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ops.nlp import schema
from ops.nlp.callbacks import callback_pattern, callback_problem
from ops.nlp.detect import UNDETERMINED, detect_many, resolve_languages
from ops.nlp.langcodes import CODE_PATTERN, UnknownLanguage, name, normalize
from resources.model_store import ModelStoreError
from resources.settings import Settings
from resources.tables import NLP_BATCH_INPUTS, NLP_BATCHES, TRANSLATION_INPUTS, TRANSLATIONS
from resources.tokens import Principal
from resources.warehouse import Warehouse
from serving.auth import require_scopes
from serving.deps import SettingsDep, WarehouseDep
from serving.errors import ERROR_RESPONSES
from serving.schemas import extend_openapi
from serving.served_models import ServedModel
from serving.strict_types import StrictBool

router = APIRouter(prefix="/api/v1/nlp", tags=["nlp"], responses=ERROR_RESPONSES)

NO_MODEL = "no translation model is available: materialize the translation_model asset (or set TRANSLATION_MODEL)"


# -- request and response models ------------------------------------------------------------------
class DetectRequest(BaseModel):
    texts: list[str] = Field(min_length=1, description="Texts to detect (at most NLP_MAX_TEXTS, each at most "
                             "NLP_MAX_CHARS characters).", examples=[["Bitcoin stieg heute um 5 Prozent."]])  # fmt: skip
    segments: StrictBool = Field(True, description="Also split mixed-language text into single-language segments.")


class Alternative(BaseModel):
    language: str
    confidence: float


class Segment(BaseModel):
    start: int = Field(description="Character offset where the segment starts.")
    end: int = Field(description="Character offset where it ends (exclusive).")
    language: str
    words: int


class Detection(BaseModel):
    language: str = Field(description="ISO 639-1 code; `und` when the text has no letters.")
    name: str | None
    confidence: float = Field(description="lingua's confidence in the language (0..1).")
    reliable: bool = Field(description="False for short text or when the runner-up is close.")
    alternatives: list[Alternative]
    mixed: bool
    segments: list[Segment]


class DetectResponse(BaseModel):
    languages_considered: list[str]
    items: list[Detection]


class TranslateRequest(BaseModel):
    texts: list[str] = Field(min_length=1, examples=[["BTC rose 5 percent today."]])
    # The pattern is declared, not enforced by pydantic (whose 422 would quote it whole): `_language`
    # refuses the same codes with a message that names the code.
    target: str = Field(description="ISO 639 code of the target language.", examples=["de"],
                        json_schema_extra={"pattern": CODE_PATTERN})
    source: str | None = Field(None, description="ISO 639 code of the texts' language; detected per text when omitted.",
                               json_schema_extra={"pattern": CODE_PATTERN})
    keep_markup: StrictBool = Field(True, description="Copy tags, URLs, `code` and {placeholders} through untranslated.")


class TranslationItem(BaseModel):
    text: str
    translation: str | None
    source: str | None
    source_detected: bool
    detection_confidence: float | None = None
    status: str = Field(description="ok | same_language | unsupported (pair not served) | undetermined (no language)")


class TranslateResponse(BaseModel):
    model: str
    model_version: str | None
    target: str
    items: list[TranslationItem]


class BatchRequest(TranslateRequest):
    texts: list[str] = Field(min_length=1, description="Texts to translate (at most NLP_MAX_BATCH_TEXTS).")
    callback_url: str | None = Field(
        None, description="Called (POST JSON: id, status, run_id) when the run ends; loopback or NLP_CALLBACK_HOSTS."
    )


class BatchAccepted(BaseModel):
    id: str
    status: str
    texts: int
    status_url: str


class BatchItem(BaseModel):
    item: int
    text: str
    source: str | None
    translation: str | None
    status: str | None


class BatchStatus(BaseModel):
    id: str
    status: str = Field(description="queued | submitted | done | failed")
    texts: int
    completed: int
    target: str | None
    run_id: str | None
    detail: str | None
    callback_status: str | None
    created_at: datetime | None
    updated_at: datetime | None
    items: list[BatchItem]


class LanguageInfo(BaseModel):
    code: str
    name: str | None


class TranslationLanguages(BaseModel):
    model: str | None
    model_version: str | None
    family: str | None
    languages: list[LanguageInfo]
    pairs: list[str] | None = Field(description="Directions served, for models that serve only some; null: any pair.")
    error: str | None = None


class LanguagesResponse(BaseModel):
    detection: list[LanguageInfo]
    translation: TranslationLanguages


# -- validation -----------------------------------------------------------------------------------
def _body_error(loc: tuple, message: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": message, "input": value}])


def declare_limits(app: FastAPI, settings: Settings) -> None:
    """Put the limits the settings set (text count and length, callback hosts) into the app's schema,
    so it admits nothing `_check_texts` or `callback_problem` refuses."""
    limits = {"DetectRequest": settings.nlp_max_texts, "TranslateRequest": settings.nlp_max_texts,
              "BatchRequest": settings.nlp_max_batch_texts}

    def patch(schema: dict[str, Any]) -> None:
        schemas = schema.get("components", {}).get("schemas", {})
        for model, most in limits.items():
            if model in schemas:
                texts = schemas[model]["properties"]["texts"]
                texts["maxItems"] = most
                texts["items"]["maxLength"] = settings.nlp_max_chars
        if "BatchRequest" in schemas:
            url = schemas["BatchRequest"]["properties"]["callback_url"]
            for option in url.get("anyOf", [url]):
                if option.get("type") == "string":
                    option["pattern"] = callback_pattern(settings.nlp_callback_hosts)

    extend_openapi(app, patch)


def _check_texts(texts: list[str], settings: Settings, limit: int) -> None:
    """422 naming the field when there are too many texts or one is too long."""
    if len(texts) > limit:
        raise _body_error(("texts",), f"{len(texts)} texts; at most {limit} per call", len(texts))
    for i, text in enumerate(texts):
        if len(text) > settings.nlp_max_chars:
            raise _body_error(
                ("texts", i),
                f"text of {len(text)} characters; at most {settings.nlp_max_chars} (NLP_MAX_CHARS): split it or "
                "send it through /translate/batch in parts",
                f"{text[:40]}...",
            )


def _language(code: str | None, field: str) -> str | None:
    if code is None:
        return None
    try:
        if code != code.strip():  # the declared pattern has no blanks; normalize would strip them
            raise UnknownLanguage(f"{code!r} is not an ISO 639 language code (blanks around it)")
        return normalize(code)
    except UnknownLanguage as exc:
        raise _body_error((field,), str(exc), code) from None


# -- the model --------------------------------------------------------------------------------------
_fallback_lock = threading.Lock()


def _served(request: Request) -> ServedModel:
    from resources.translator import translator_from_version, validate_translator

    models: dict[str, ServedModel] = request.app.state.models
    served = models.get(schema.MODEL_NAME)
    if served is None:
        settings: Settings = request.app.state.settings
        load = partial(
            translator_from_version,
            cache_root=FsPath(settings.resolved_home) / "cache" / "models",
            threads=settings.torch_threads,
        )
        served = models.setdefault(
            schema.MODEL_NAME, ServedModel(request.app.state.model_store, schema.MODEL_NAME, load, validate_translator)
        )
    return served


def _load_translator(request: Request):
    """The promoted model; else the configured TRANSLATION_MODEL loaded directly; else None (blocking)."""
    try:
        return _served(request).get().model
    except ModelStoreError:
        pass
    settings: Settings = request.app.state.settings
    if not settings.translation_model:
        return None
    state = request.app.state
    with _fallback_lock:
        translator = getattr(state, "nlp_configured_translator", None)
        if translator is None:
            from resources.translator import load_translator

            translator = load_translator(settings.translation_model, threads=settings.torch_threads)
            state.nlp_configured_translator = translator
    return translator


async def _translator(request: Request):
    from resources.translator import TranslatorLoadError

    try:
        translator = await request.app.state.guard.call("models", _load_translator, request)
    except TranslatorLoadError as exc:
        raise HTTPException(status_code=503, detail=str(exc)[:500]) from None
    if translator is None:  # like any data set not materialized yet: 404 saying what to run
        raise HTTPException(status_code=404, detail=NO_MODEL)
    return translator


# -- endpoints --------------------------------------------------------------------------------------
@router.post("/detect", response_model=DetectResponse, summary="Detect the language of texts")
async def detect(body: DetectRequest, settings: SettingsDep):
    _check_texts(body.texts, settings, settings.nlp_max_texts)
    try:
        languages = resolve_languages(settings.nlp_detect_languages or None)
    except UnknownLanguage as exc:  # a misconfigured NLP_DETECT_LANGUAGES: the operator's problem
        raise HTTPException(status_code=503, detail=f"language detection is misconfigured: {exc}") from None
    found = await anyio.to_thread.run_sync(partial(detect_many, body.texts, languages, segments=body.segments))
    items = [{**d.as_dict(), "name": name(d.language) if d.language != UNDETERMINED else None} for d in found]
    return {"languages_considered": list(languages), "items": items}


@router.post(
    "/translate",
    response_model=TranslateResponse,
    summary="Translate texts now (source detected per text when omitted)",
    responses={
        404: {"description": "No translation model is available yet (materialize translation_model)."},
        503: {"description": "The configured translation model could not be loaded."},
    },
)
async def translate(body: TranslateRequest, request: Request, settings: SettingsDep):
    _check_texts(body.texts, settings, settings.nlp_max_texts)
    target = _language(body.target, "target")
    source = _language(body.source, "source")
    translator = await _translator(request)
    if source is not None and source != target and not translator.supports(source, target):
        raise _body_error(
            ("source",), f"model {translator.name} does not translate {source} -> {target}; it serves "
            f"{translator.languages.describe()}", body.source,
        )  # fmt: skip
    if not any(translator.supports(lang, target) for lang in translator.languages.languages if lang != target):
        raise _body_error(("target",), f"model {translator.name} does not translate into {target!r}; it serves "
                          f"{translator.languages.describe()}", body.target)  # fmt: skip
    items = await anyio.to_thread.run_sync(
        partial(_translate_now, translator, body.texts, source, target, body.keep_markup, settings)
    )
    return {"model": translator.name, "model_version": translator.version, "target": target, "items": items}


def _translate_now(translator, texts, source, target, keep_markup, settings) -> list[dict]:
    """Detect where needed, translate what the model serves, and say why for the rest (blocking)."""
    from ops.nlp.translate import TranslationRequest

    detections = detect_many(texts, settings.nlp_detect_languages or None, segments=False) if source is None else None
    items, requests, positions = [], [], []
    for i, text in enumerate(texts):
        lang = source or detections[i].language
        item = {
            "text": text,
            "translation": None,
            "source": None if lang == UNDETERMINED else lang,
            "source_detected": source is None,
            "detection_confidence": detections[i].confidence if detections else None,
        }
        if lang == UNDETERMINED:
            item["status"] = schema.UNDETERMINED
        elif lang == target:
            item.update(status=schema.SAME_LANGUAGE, translation=text)
        elif not translator.supports(lang, target):
            item["status"] = schema.UNSUPPORTED
        else:
            item["status"] = schema.OK
            requests.append(TranslationRequest(text, lang, target))
            positions.append(i)
        items.append(item)
    for position, translation in zip(positions, translator.translate(requests, keep_markup=keep_markup), strict=True):
        items[position]["translation"] = translation
    return items


@router.get("/languages", response_model=LanguagesResponse, summary="Languages detected and translated")
async def languages(request: Request, settings: SettingsDep):
    try:
        detection = [{"code": c, "name": name(c)} for c in resolve_languages(settings.nlp_detect_languages or None)]
    except UnknownLanguage:
        detection = []
    translation: dict[str, Any] = {"model": None, "model_version": None, "family": None, "languages": [], "pairs": None}
    try:
        translator = await _translator(request)
    except HTTPException as exc:
        translation["error"] = exc.detail
    else:
        langs = translator.languages
        translation.update(
            model=translator.name,
            model_version=translator.version,
            family=langs.family,
            languages=[{"code": c, "name": name(c)} for c in langs.languages],
            pairs=[f"{s}-{t}" for s, t in sorted(langs.pairs)] if langs.pairs is not None else None,
        )
    return {"detection": detection, "translation": translation}


@router.post(
    "/translate/batch",
    response_model=BatchAccepted,
    status_code=202,
    summary="Queue a large batch for the pipeline (write scope); poll its status or get a callback",
)
async def submit_batch(
    body: BatchRequest,
    request: Request,
    settings: SettingsDep,
    warehouse: WarehouseDep,
    writer: Annotated[Principal, Depends(require_scopes("write"))],  # it queues work and writes tables
):
    _check_texts(body.texts, settings, settings.nlp_max_batch_texts)
    target = _language(body.target, "target")
    source = _language(body.source, "source")
    if body.callback_url is not None:
        problem = callback_problem(body.callback_url, settings.nlp_callback_hosts)
        if problem:
            raise _body_error(("callback_url",), problem, body.callback_url)
    batch_id = uuid.uuid4().hex
    await request.app.state.guard.call(
        "warehouse", _queue_batch, warehouse, batch_id, body.texts, source, target, body.callback_url,
        writer.client_id,
    )
    return {
        "id": batch_id,
        "status": schema.QUEUED,
        "texts": len(body.texts),
        "status_url": str(request.url_for("batch_status", batch_id=batch_id)),
    }


def _queue_batch(db: Warehouse, batch_id: str, texts: list[str], source, target, callback_url, client_id: str) -> None:
    now = datetime.now(UTC)
    inputs = pl.DataFrame(
        {
            "batch_id": [batch_id] * len(texts),
            "item": list(range(len(texts))),
            "text": texts,
            "source_lang": [source] * len(texts),
            "target_lang": [target] * len(texts),
            "created_at": [now] * len(texts),
        },
        schema=NLP_BATCH_INPUTS.schema,
    )
    db.upsert(NLP_BATCH_INPUTS, inputs)
    # The batch row goes last: the sensor only sees a batch whose texts are all written.
    batch = {
        "batch_id": batch_id, "status": schema.QUEUED, "texts": len(texts), "target_lang": target,
        "source_lang": source, "callback_url": callback_url, "run_id": None, "detail": None, "callback_status": None,
        "created_at": now, "updated_at": now, "client_id": client_id,
    }  # fmt: skip
    db.upsert(NLP_BATCHES, pl.DataFrame([batch], schema=NLP_BATCHES.schema))


BatchId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The id POST /translate/batch returned.")]


@router.get("/translate/batch/{batch_id}", response_model=BatchStatus, name="batch_status",
            summary="A batch's status and its translations so far")  # fmt: skip
async def batch_status(
    batch_id: BatchId,
    request: Request,
    warehouse: WarehouseDep,
    reader: Annotated[Principal, Depends(require_scopes("read"))],
):
    # A status that clients poll: read fresh every time (through the breaker), never from the cache,
    # whose table-version memo could show "submitted" for a moment after the run finished.
    return await request.app.state.guard.call("warehouse", partial(_batch, warehouse, batch_id, reader))


def _batch(db: Warehouse, batch_id: str, reader: Principal) -> dict[str, Any]:
    """The batch, for the client that queued it (or an admin). Another client's batch is answered as
    unknown, not forbidden: ids are not to be probed for."""
    unknown = HTTPException(status_code=404, detail=f"unknown batch {batch_id!r}")
    if not db.has_table(NLP_BATCHES.name):
        raise unknown
    rows = db.read(NLP_BATCHES.name, {"batch_id": batch_id})
    if rows.is_empty():
        raise unknown
    batch = rows.row(0, named=True)
    if batch.get("client_id") != reader.client_id and not reader.has("admin"):
        raise unknown
    items: list[dict[str, Any]] = []
    if db.has_table(TRANSLATION_INPUTS.name) and db.has_table(TRANSLATIONS.name):
        inputs = db.read(TRANSLATION_INPUTS.name, {"origin": "api", "origin_ref": batch_id},
                         columns=["input_id", "item", "text"])  # fmt: skip
        if inputs.height:
            done = db.read(TRANSLATIONS.name, {"input_id": inputs["input_id"].to_list()},
                           columns=["input_id", "source_lang", "translation", "status"])  # fmt: skip
            joined = inputs.join(done, on="input_id", how="inner").sort("item")
            items = [
                {
                    "item": r["item"],
                    "text": r["text"],
                    "source": r["source_lang"],
                    "translation": r["translation"],
                    "status": r["status"],
                }
                for r in joined.iter_rows(named=True)
            ]
    return BatchStatus(
        id=batch_id,
        status=batch["status"],
        texts=batch["texts"],
        completed=len(items),
        target=batch["target_lang"],
        run_id=batch["run_id"],
        detail=batch["detail"],
        callback_status=batch["callback_status"],
        created_at=batch["created_at"],
        updated_at=batch["updated_at"],
        items=items,
    ).model_dump(mode="json")
