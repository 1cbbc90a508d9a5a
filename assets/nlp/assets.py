"""NLP assets: thin wiring from the landing folder and the API, through detection, to translations.

translation_inputs -> language_detections -> translations <- translation_model -> translation_quality

The logic lives in `ops.nlp`; these functions read through the warehouse and model store, call it,
write back and tell the story in metadata. `translations` is keyed by (input, target language) and
written batch by batch, so a failed or interrupted run resumes where it stopped and a re-run adds
nothing.
"""


import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from assets.k8s import TRANSLATION_K8S
from ops.nlp import corpus, schema
from ops.nlp.detect import UNDETERMINED, detect_many
from ops.nlp.inputs import from_batches, parse_jsonl, work_items
from ops.nlp.langcodes import UnknownLanguage, normalize
from ops.nlp.quality import score_directions
from ops.reporting import markdown_table
from ops.stream.events import model_promoted
from resources.configurable import ModelStoreResource, NlpResource, WarehouseResource
from resources.model_metrics import record_model_metrics
from resources.stream_events import append_events
from resources.tables import (
    LANGUAGE_DETECTIONS,
    NLP_BATCH_INPUTS,
    TRANSLATION_INPUTS,
    TRANSLATIONS,
)
from resources.warehouse import TableSpec, Warehouse

GROUP = "nlp"
KINDS = {"polars", "sql"}
#: Work items translated and written per chunk: the unit of resumption.
CHUNK = 64

#: Model quality measurements; the same table and contract every model-training domain writes.
INPUT_REJECTS = TableSpec(
    "translation_input_rejects",
    {"origin_ref": pl.Utf8, "line": pl.Int64, "reason": pl.Utf8, "seen_at": pl.Datetime("us", "UTC")},
    ("origin_ref", "line"),
)


class TranslationInputsConfig(dg.Config):
    """Which inputs to take in; both empty means every landing file and every API batch."""

    files: list[str] = Field(default_factory=list, description="Landing file names.")
    batch_ids: list[str] = Field(default_factory=list, description="API batch ids.")


@dg.asset(group_name=GROUP, kinds=KINDS)
def translation_inputs(
    context: dg.AssetExecutionContext, config: TranslationInputsConfig, nlp: NlpResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Every text to translate: JSONL lines from the NLP landing folder and texts of API batches.

    Keyed by a stable id (file and line id, or batch and position), so taking the same file in
    twice writes the same rows. Lines that are not valid inputs go to `translation_input_rejects`
    with their reason.
    """
    db = warehouse.client
    now = datetime.now(UTC)
    frames, rejects = [], []
    scoped = bool(config.files or config.batch_ids)
    for path in _landing_files(Path(nlp.landing_dir), config.files if scoped else None):
        frame, bad = parse_jsonl(path.read_text(encoding="utf-8"), path.name, nlp.target_languages, now, nlp.max_chars)
        frames.append(frame)
        rejects.extend({"origin_ref": path.name, "line": r.line, "reason": r.reason, "seen_at": now} for r in bad)
        context.log.info(f"{path.name}: {frame.height} texts, {len(bad)} rejected lines")
    if db.has_table(NLP_BATCH_INPUTS.name) and (config.batch_ids or not scoped):
        where = {"batch_id": config.batch_ids} if config.batch_ids else None
        frames.append(from_batches(db.read(NLP_BATCH_INPUTS.name, where)))
    inputs = pl.concat(frames) if frames else pl.DataFrame(schema=schema.INPUTS_SCHEMA)
    written = db.upsert(TRANSLATION_INPUTS, inputs)
    if rejects:
        db.upsert(INPUT_REJECTS, pl.DataFrame(rejects, schema=INPUT_REJECTS.schema))
    by_origin = inputs.group_by("origin").len().sort("origin")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(written),
            "rejected_lines": dg.MetadataValue.int(len(rejects)),
            "by_origin": dg.MetadataValue.md(markdown_table(by_origin)),
            "preview": dg.MetadataValue.md(markdown_table(inputs.select("input_id", "origin", "text", "targets").head(10))),
            **({"rejects": dg.MetadataValue.md(markdown_table(pl.DataFrame(rejects).head(10)))} if rejects else {}),
        }
    )


def _landing_files(folder: Path, names: list[str] | None) -> list[Path]:
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson"))
    return [p for p in files if names is None or p.name in names]


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[translation_inputs])
def language_detections(
    context: dg.AssetExecutionContext, nlp: NlpResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The language of every input (lingua): ISO code, confidence, runner-up languages, mixed-text segments.

    Only inputs without a detection are processed, so each text is detected once.
    """
    db = warehouse.client
    pending = _without(db, TRANSLATION_INPUTS, LANGUAGE_DETECTIONS, ["input_id", "text"])
    now = datetime.now(UTC)
    rows = []
    for start in range(0, pending.height, 1000):
        chunk = pending.slice(start, 1000)
        found = detect_many(chunk["text"].to_list(), nlp.detect_languages or None)
        for input_id, det in zip(chunk["input_id"].to_list(), found, strict=True):
            data = det.as_dict()
            rows.append(
                {
                    "input_id": input_id,
                    "language": det.language,
                    "confidence": det.confidence,
                    "reliable": det.reliable,
                    "mixed": det.mixed,
                    "alternatives": json.dumps(data["alternatives"]),
                    "segments": json.dumps(data["segments"]),
                    "detected_at": now,
                }
            )
        context.log.info(f"detected {min(start + 1000, pending.height)}/{pending.height}")
    frame = pl.DataFrame(rows, schema=schema.DETECTIONS_SCHEMA)
    db.upsert(LANGUAGE_DETECTIONS, frame)
    by_language = frame.group_by("language").agg(pl.len().alias("texts"), pl.col("confidence").mean()).sort("language")
    return dg.MaterializeResult(
        metadata={
            "detected": dg.MetadataValue.int(frame.height),
            "unreliable": dg.MetadataValue.int(int((~frame["reliable"]).sum()) if frame.height else 0),
            "mixed": dg.MetadataValue.int(int(frame["mixed"].sum()) if frame.height else 0),
            "by_language": dg.MetadataValue.md(markdown_table(by_language)),
        }
    )


def _without(db: Warehouse, source: TableSpec, done: TableSpec, columns: list[str]) -> pl.DataFrame:
    """Rows of `source` whose input_id has no row in `done` yet."""
    if not db.has_table(source.name):
        return pl.DataFrame(schema={c: source.schema[c] for c in columns})
    rows = db.read(source.name, columns=columns)
    if not db.has_table(done.name):
        return rows
    finished = db.read(done.name, columns=["input_id"])
    return rows.join(finished, on="input_id", how="anti")


def _translator(nlp: NlpResource, store):
    """The promoted translation model, loaded offline (the configured one when nothing is promoted)."""
    from resources.translator import load_translator, translator_from_version

    if store.current_version(schema.MODEL_NAME) is not None:
        version = store.load(schema.MODEL_NAME)
        return translator_from_version(version, cache_root=Path(nlp.cache_dir), threads=nlp.torch_threads)
    if nlp.translation_model:
        return load_translator(nlp.translation_model, threads=nlp.torch_threads)
    raise dg.Failure("no translation model: materialize translation_model first (or set TRANSLATION_MODEL)")


@dg.asset(
    group_name=GROUP, kinds=KINDS | {"pytorch"}, deps=[language_detections, "translation_model"], op_tags=TRANSLATION_K8S
)
def translations(
    context: dg.AssetExecutionContext, nlp: NlpResource, warehouse: WarehouseResource, model_store: ModelStoreResource
) -> dg.MaterializeResult:
    """Each input in each of its target languages, with the promoted model, in length-bucketed batches.

    Work is (input, target) pairs not yet in the table; they are translated and written CHUNK at a
    time, so an interrupted run loses at most one chunk and a re-run translates only what is left.
    Texts already in the target language are copied (`same_language`); pairs the model does not
    serve, or texts whose language could not be told, are recorded with that status, not dropped.
    """
    from ops.nlp.translate import TranslationRequest

    db = warehouse.client
    if not db.has_table(TRANSLATION_INPUTS.name):
        return dg.MaterializeResult(metadata={"translated": dg.MetadataValue.int(0)})
    inputs = db.read(TRANSLATION_INPUTS.name)
    detections = db.read(LANGUAGE_DETECTIONS.name) if db.has_table(LANGUAGE_DETECTIONS.name) else pl.DataFrame(
        schema=schema.DETECTIONS_SCHEMA
    )
    done = db.read(TRANSLATIONS.name, columns=["input_id", "target_lang"]).iter_rows() if db.has_table(
        TRANSLATIONS.name
    ) else []
    todo = work_items(inputs, detections, done)
    context.log.info(f"{todo.height} (input, target) pairs to translate")
    if todo.is_empty():
        return dg.MaterializeResult(metadata={"translated": dg.MetadataValue.int(0), "pending": dg.MetadataValue.int(0)})
    translator = _translator(nlp, model_store.client)
    counts: dict[str, int] = {}
    for start in range(0, todo.height, CHUNK):
        chunk = todo.slice(start, CHUNK)
        rows, requests, positions = [], [], []
        now = datetime.now(UTC)
        for row in chunk.iter_rows(named=True):
            status, text = _plan(row, translator)
            rows.append(
                {
                    "input_id": row["input_id"],
                    "target_lang": row["target_lang"],
                    "source_lang": row["source_lang"],
                    "source_from": row["source_from"],
                    "translation": text,
                    "status": status,
                    "model": translator.name,
                    "model_version": translator.version,
                    "translated_at": now,
                }
            )
            if status == schema.OK:
                requests.append(TranslationRequest(row["text"], row["source_lang"], row["target_lang"]))
                positions.append(len(rows) - 1)
        for position, text in zip(positions, translator.translate(requests), strict=True):
            rows[position]["translation"] = text
        db.upsert(TRANSLATIONS, pl.DataFrame(rows, schema=schema.TRANSLATIONS_SCHEMA))
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        context.log.info(f"translations: {min(start + CHUNK, todo.height)}/{todo.height} written")
    sample = db.read(TRANSLATIONS.name, {"status": schema.OK}, limit=10, columns=["input_id", "source_lang",
                                                                                    "target_lang", "translation"])
    return dg.MaterializeResult(
        metadata={
            "translated": dg.MetadataValue.int(sum(counts.values())),
            **{f"status_{k}": dg.MetadataValue.int(v) for k, v in sorted(counts.items())},
            "model": dg.MetadataValue.text(f"{translator.name} {translator.version or ''}".strip()),
            "preview": dg.MetadataValue.md(markdown_table(sample)),
        }
    )


def _plan(row: dict, translator) -> tuple[str, str | None]:
    """The status of one work item and, unless it goes to the model, its final text."""
    source, target = row["source_lang"], row["target_lang"]
    if not source or source == UNDETERMINED:
        return schema.UNDETERMINED, None
    try:
        if normalize(source) == normalize(target):
            return schema.SAME_LANGUAGE, row["text"]
    except UnknownLanguage:
        return schema.UNSUPPORTED, None
    if not translator.supports(source, target):
        return schema.UNSUPPORTED, None
    return schema.OK, None


class TranslationModelConfig(dg.Config):
    """Overrides of the from-scratch trainer (tests make it tiny); retrain forces a new version."""

    retrain: bool = False
    max_seconds: float | None = None
    epochs: int | None = None
    d_model: int | None = None
    layers: int | None = None
    ffn_dim: int | None = None
    vocab_size: int | None = None


@dg.asset(group_name=GROUP, kinds={"pytorch"}, op_tags=TRANSLATION_K8S)
def translation_model(
    context: dg.AssetExecutionContext,
    config: TranslationModelConfig,
    nlp: NlpResource,
    model_store: ModelStoreResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The translation model the pipeline and the API use, registered in the ModelStore and promoted.

    With TRANSLATION_MODEL set, that model (a folder or a cached Hugging Face id: Marian, NLLB-200,
    M2M100) is loaded offline to prove it works and registered by reference. Otherwise a small
    Marian-architecture model is trained from scratch on the repository's parallel corpus, with its
    own tokenizer; it is reused while the corpus and trainer settings stay the same.
    """
    from resources.translator import load_translator, reference_files

    store = model_store.client
    if nlp.translation_model:
        translator = load_translator(nlp.translation_model, threads=nlp.torch_threads)
        current = store.current_version(schema.MODEL_NAME)
        if current and store.manifest(schema.MODEL_NAME, current).get("source") == nlp.translation_model:
            version = current
        else:
            version = store.save(
                schema.MODEL_NAME,
                reference_files(nlp.translation_model),
                extra={"source": nlp.translation_model, "family": translator.languages.family},
            )
            store.promote(schema.MODEL_NAME, version)
            append_events(warehouse.client, [model_promoted(schema.MODEL_NAME, version, previous=current,
                                                            reason=f"configured {nlp.translation_model}")])
        return dg.MaterializeResult(
            metadata={
                "version": dg.MetadataValue.text(version),
                "source": dg.MetadataValue.text(nlp.translation_model),
                "family": dg.MetadataValue.text(translator.languages.family),
                "languages": dg.MetadataValue.int(len(translator.languages.languages)),
            }
        )
    return _train_demo_model(context, config, nlp, store, warehouse.client)


def _train_demo_model(context, config: TranslationModelConfig, nlp: NlpResource, store,
                      db: Warehouse) -> dg.MaterializeResult:  # fmt: skip
    import tempfile
    from dataclasses import asdict, replace

    from ops.nlp import trainer

    overrides = {k: v for k, v in config.model_dump().items() if k != "retrain" and v is not None}
    settings = replace(trainer.TrainerConfig(max_seconds=nlp.train_seconds), **overrides)
    fingerprint = f"{corpus.fingerprint()}:{json.dumps(asdict(settings), sort_keys=True)}"
    current = store.current_version(schema.MODEL_NAME)
    if current and not config.retrain:
        manifest = store.manifest(schema.MODEL_NAME, current)
        if manifest.get("training_fingerprint") == fingerprint:
            context.log.info(f"corpus and trainer unchanged: keeping version {current}")
            return dg.MaterializeResult(
                metadata={"version": dg.MetadataValue.text(current), "reused": dg.MetadataValue.bool(True)}
            )
    examples = corpus.pairs("train")
    context.log.info(f"training a Marian model from scratch on {len(examples)} sentence pairs ({settings})")
    result = trainer.train(
        examples,
        settings,
        tokenizer_sentences=corpus.sentences("train"),
        threads=nlp.torch_threads,
        log=context.log.info,
    )
    png = trainer.loss_curve_png(result.losses)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {str(p.relative_to(folder)): p.read_bytes() for p in trainer.save(result, folder)}
    files["loss_curve.png"] = png
    version = store.save(
        schema.MODEL_NAME,
        files,
        metrics={"final_loss": result.losses[-1] if result.losses else None},
        data_range={"corpus_rows": len(corpus.rows()), "train_pairs": len(examples)},
        extra={
            "training_fingerprint": fingerprint,
            "display_name": "sextant-demo-marian",
            "trainer": result.config,
            "directions": [f"{s}-{t}" for s, t in corpus.DIRECTIONS],
        },
    )
    store.promote(schema.MODEL_NAME, version)
    append_events(db, [model_promoted(schema.MODEL_NAME, version, previous=current, reason="trained on the corpus")])
    return dg.MaterializeResult(
        metadata={
            "version": dg.MetadataValue.text(version),
            "reused": dg.MetadataValue.bool(False),
            "parameters": dg.MetadataValue.int(result.parameters),
            "epochs": dg.MetadataValue.int(len(result.losses)),
            "steps": dg.MetadataValue.int(result.steps),
            "final_loss": dg.MetadataValue.float(float(result.losses[-1]) if result.losses else float("nan")),
            "train_seconds": dg.MetadataValue.float(round(result.seconds, 1)),
            "stopped_by": dg.MetadataValue.text(result.stopped_by),
            "directions": dg.MetadataValue.text(", ".join(f"{s}->{t}" for s, t in corpus.DIRECTIONS)),
            "loss_curve": dg.MetadataValue.md(f"![loss](data:image/png;base64,{base64.b64encode(png).decode()})"),
            "loss_curve_path": dg.MetadataValue.path(f"{store.url}/{schema.MODEL_NAME}/{version}/loss_curve.png"),
        }
    )


@dg.asset(group_name=GROUP, kinds={"pytorch", "sql"}, deps=[translation_model])
def translation_quality(
    context: dg.AssetExecutionContext, nlp: NlpResource, warehouse: WarehouseResource, model_store: ModelStoreResource
) -> dg.MaterializeResult:
    """BLEU and chrF (sacrebleu) of the promoted model on the corpus's held-out references, per direction.

    Against the copy-the-source baseline, each with a bootstrap 95 % interval (and the gain over the
    baseline, paired). The overall scores go to `model_metrics`, which the
    API exports as `sextant_model_metric{model="translation",metric=...}` and the dashboard shows.
    """
    from ops.nlp.translate import TranslationRequest

    translator = _translator(nlp, model_store.client)
    examples = [e for e in corpus.pairs("test") if translator.supports(e[0], e[1])]
    if not examples:
        raise dg.Failure(f"the model serves none of the held-out directions {corpus.DIRECTIONS}")
    hypotheses = translator.translate([TranslationRequest(src, s, t) for s, t, src, _ in examples])
    scores = score_directions(examples, hypotheses)
    overall = scores[-1]
    now = datetime.now(UTC)
    version = translator.version or "unversioned"
    metrics = [("bleu", overall.bleu), ("chrf", overall.chrf), ("copy_baseline_bleu", overall.copy_bleu)]
    metrics += [("bleu_ci95_low", overall.bleu_ci95[0]), ("bleu_gain_ci95_low", overall.bleu_gain_ci95[0])]
    metrics += [(f"bleu_{s.direction}", s.bleu) for s in scores[:-1]]
    metrics += [(f"chrf_{s.direction}", s.chrf) for s in scores[:-1]]
    record_model_metrics(warehouse.client, schema.MODEL_NAME, version, metrics, measured_at=now)
    table = pl.DataFrame([s.__dict__ for s in scores])
    samples = pl.DataFrame(
        {
            "direction": [f"{e[0]}-{e[1]}" for e in examples],
            "source": [e[2] for e in examples],
            "translation": hypotheses,
            "reference": [e[3] for e in examples],
        }
    )
    context.log.info(
        f"held-out BLEU {overall.bleu} {list(overall.bleu_ci95)}, chrF {overall.chrf} {list(overall.chrf_ci95)} over "
        f"{overall.pairs} pairs; copying the source: BLEU {overall.copy_bleu}, gain {list(overall.bleu_gain_ci95)}"
    )
    return dg.MaterializeResult(
        metadata={
            "bleu": dg.MetadataValue.float(overall.bleu),
            "chrf": dg.MetadataValue.float(overall.chrf),
            "copy_baseline_bleu": dg.MetadataValue.float(overall.copy_bleu),
            "copy_baseline_chrf": dg.MetadataValue.float(overall.copy_chrf),
            "bleu_ci95": dg.MetadataValue.text(f"[{overall.bleu_ci95[0]}, {overall.bleu_ci95[1]}]"),
            "bleu_gain_over_copy_ci95": dg.MetadataValue.text(
                f"[{overall.bleu_gain_ci95[0]}, {overall.bleu_gain_ci95[1]}]"
            ),
            "chrf_ci95": dg.MetadataValue.text(f"[{overall.chrf_ci95[0]}, {overall.chrf_ci95[1]}]"),
            "pairs": dg.MetadataValue.int(overall.pairs),
            "model_version": dg.MetadataValue.text(version),
            "by_direction": dg.MetadataValue.md(markdown_table(table)),
            "samples": dg.MetadataValue.md(markdown_table(samples.gather_every(max(1, samples.height // 12)))),
        }
    )


NLP_ASSETS = [translation_inputs, language_detections, translations, translation_model, translation_quality]
