"""A tiny Marian model and tokenizer, trained from scratch in the test, saved, loaded offline, translating."""

from __future__ import annotations

import pytest

from ops.nlp.langcodes import UnknownLanguage
from ops.nlp.translate import TranslationRequest
from tests.nlp.conftest import TINY_PAIRS


def test_round_trip_through_save_and_offline_load(tiny_model_dir, tiny_translator):
    import os

    assert (tiny_model_dir / "model.safetensors").exists() and (tiny_model_dir / "tokenizer.json").exists()
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # loading set it: nothing can reach the network
    langs = tiny_translator.languages
    assert langs.family == "marian-multi"
    assert langs.pairs == frozenset({("en", "de"), ("de", "en")})  # what it was trained on, nothing else

    requests = [TranslationRequest(src, s, t) for s, t, src, _ in TINY_PAIRS]
    assert tiny_translator.translate(requests) == [tgt for *_, tgt in TINY_PAIRS]


def test_texts_are_split_translated_and_rejoined_with_markup(tiny_translator):
    text = "<p>BTC rose today. The market is calm.</p>\n<i>Prices are rising.</i>"
    [out] = tiny_translator.translate([TranslationRequest(text, "en", "de")])
    assert out == "<p>BTC stieg heute. Der Markt ist ruhig.</p>\n<i>Die Preise steigen.</i>"


def test_bucketed_and_unbucketed_batches_agree(tiny_translator):
    texts = [src for s, _, src, _ in TINY_PAIRS if s == "en"] * 3
    bucketed = tiny_translator.translate_texts(texts, "en", "de", bucketed=True, batch_size=4)
    plain = tiny_translator.translate_texts(texts, "en", "de", bucketed=False, batch_size=1)
    assert bucketed == plain


def test_same_language_is_copied_and_unserved_pairs_are_refused(tiny_translator):
    assert tiny_translator.translate([TranslationRequest("Hallo", "de", "de")]) == ["Hallo"]
    with pytest.raises(UnknownLanguage, match="does not translate en -> fr"):
        tiny_translator.translate([TranslationRequest("BTC rose today.", "en", "fr")])


def test_loading_a_missing_model_fails_fast_without_network(tmp_path):
    from resources.translator import TranslatorLoadError, load_translator

    with pytest.raises(TranslatorLoadError, match="cannot be loaded offline"):
        load_translator("Helsinki-NLP/opus-mt-xx-yy-not-cached")
    with pytest.raises(TranslatorLoadError):
        load_translator(tmp_path / "empty")


def test_loss_curve_is_a_png():
    from ops.nlp.trainer import loss_curve_png

    assert loss_curve_png([3.0, 2.0, 1.5]).startswith(b"\x89PNG")
