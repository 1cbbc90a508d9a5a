"""Real Dagster runs of the NLP assets: landing files and API batches in, detections, translations, quality."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from resources.configurable import build_resources
from resources.model_store import ModelStore
from resources.warehouse import Warehouse
from tests.nlp.conftest import materialize_nlp

LANDING_LINES = [
    {"text": "BTC rose today. The market is calm.", "target": "de"},
    {"id": "de-1", "text": "Die Preise steigen.", "targets": ["en"]},
    {"text": "Le marché est calme aujourd'hui.", "targets": ["en", "de"]},  # French: not served by the tiny model
    {"text": "Die Preise steigen und der Markt ist ruhig.", "target": "de"},  # already German
]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def write_landing(settings, name="texts.jsonl", extra_lines=()):
    folder = settings.resolved_nlp_landing_dir
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in LANDING_LINES] + list(extra_lines)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / name


def test_pipeline_end_to_end_idempotent_and_resumable(instance, nlp_settings):
    write_landing(nlp_settings, extra_lines=["not json", json.dumps({"text": ""}), json.dumps({"text": "x", "target": "xx"})])
    resources = build_resources(nlp_settings)
    assert materialize_nlp(instance, resources).success

    wh = Warehouse(nlp_settings.resolved_warehouse_url)
    inputs = wh.read("translation_inputs")
    assert inputs.height == 4
    rejects = wh.read("translation_input_rejects").sort("line")
    assert rejects["line"].to_list() == [5, 6, 7]
    assert "missing or empty 'text'" in rejects["reason"][1]

    detections = {r["input_id"]: r for r in wh.read("language_detections").iter_rows(named=True)}
    by_text = {r["text"]: detections[r["input_id"]]["language"] for r in inputs.iter_rows(named=True)}
    assert by_text["Die Preise steigen."] == "de" and by_text["Le marché est calme aujourd'hui."] == "fr"

    rows = wh.read("translations").join(inputs.select("input_id", "text"), on="input_id")
    got = {(r["text"], r["target_lang"]): (r["status"], r["translation"]) for r in rows.iter_rows(named=True)}
    assert got[("BTC rose today. The market is calm.", "de")] == ("ok", "BTC stieg heute. Der Markt ist ruhig.")
    assert got[("Die Preise steigen.", "en")] == ("ok", "Prices are rising.")
    assert got[("Le marché est calme aujourd'hui.", "en")] == ("unsupported", None)
    assert got[("Le marché est calme aujourd'hui.", "de")] == ("unsupported", None)
    assert got[("Die Preise steigen und der Markt ist ruhig.", "de")][0] == "same_language"
    assert len(got) == 5

    quality = {r["metric"]: r["value"] for r in wh.read("model_metrics", {"model": "translation"}).iter_rows(named=True)}
    assert {"bleu", "chrf", "bleu_en-de", "bleu_de-en", "copy_baseline_bleu"} <= set(quality)
    assert 0 <= quality["bleu"] <= 100 and 0 <= quality["chrf"] <= 100

    # a re-run adds nothing; losing some translations and re-running redoes exactly those
    counts = {t: wh.count(t) for t in ("translation_inputs", "language_detections", "translations")}
    assert materialize_nlp(instance, resources).success
    assert {t: wh.count(t) for t in counts} == counts
    lost = rows.filter(rows["status"] == "ok")["input_id"][0]
    from resources.tables import TRANSLATIONS

    wh.delete(TRANSLATIONS, input_id=lost)
    assert wh.count("translations") == counts["translations"] - len(rows.filter(rows["input_id"] == lost))
    result = materialize_nlp(instance, resources, selection=[dg.AssetKey("translations")])
    assert result.success
    assert wh.count("translations") == counts["translations"]
    mats = result.asset_materializations_for_node("translations")
    assert mats[0].metadata["translated"].value == len(rows.filter(rows["input_id"] == lost))
    wh.dispose()


def test_configured_model_is_registered_by_reference(instance, nlp_settings, tiny_model_dir):
    resources = build_resources(nlp_settings)
    result = materialize_nlp(instance, resources, selection=[dg.AssetKey("translation_model")])
    store = ModelStore(nlp_settings.resolved_model_store_url)
    version = store.current_version("translation")
    assert version is not None
    assert json.loads(store.load("translation").files["reference.json"])["source"] == str(tiny_model_dir)
    assert result.asset_materializations_for_node("translation_model")[0].metadata["family"].value == "marian-multi"
    materialize_nlp(instance, resources, selection=[dg.AssetKey("translation_model")])
    assert store.versions("translation") == [version]  # same source: nothing new registered


def test_demo_model_trains_from_scratch_and_is_reused(instance, settings):
    resources = build_resources(settings.model_copy(update={"torch_threads": 1}))
    tiny = {"ops": {"translation_model": {"config": {"epochs": 1, "d_model": 16, "layers": 1, "ffn_dim": 32,
                                                      "vocab_size": 300}}}}  # fmt: skip
    result = materialize_nlp(instance, resources, selection=[dg.AssetKey("translation_model")], run_config=tiny)
    meta = result.asset_materializations_for_node("translation_model")[0].metadata
    assert meta["reused"].value is False and meta["epochs"].value == 1
    assert meta["loss_curve"].value.startswith("![loss](data:image/png;base64,")
    store = ModelStore(settings.resolved_model_store_url)
    loaded = store.load("translation")
    assert loaded.files["loss_curve.png"].startswith(b"\x89PNG")
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= set(loaded.files)
    assert loaded.manifest["directions"] == ["en-de", "de-en", "en-es", "es-en", "en-fr", "fr-en"]

    again = materialize_nlp(instance, resources, selection=[dg.AssetKey("translation_model")], run_config=tiny)
    assert again.asset_materializations_for_node("translation_model")[0].metadata["reused"].value is True
    assert store.versions("translation") == [loaded.version]
