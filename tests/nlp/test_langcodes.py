"""ISO 639 codes and the language codes of NLLB-200, M2M100 and Marian models."""

from __future__ import annotations

import pytest

from ops.nlp.langcodes import ModelLanguages, UnknownLanguage, normalize, pair_from_name


def test_normalize_accepts_the_usual_spellings():
    assert normalize("DE") == "de"
    assert normalize("deu") == "de"
    assert normalize("ger") == "de"  # ISO 639-2/B
    assert normalize("deu_Latn") == "de-Latn"
    assert normalize("zh-hant") == "zh-Hant"
    assert normalize("arb") == "ar"  # individual language -> macrolanguage
    assert normalize("ast") == "ast"  # no 639-1 code: stays 639-3
    for bad in ("", "x", "qq", "english", "de-", "12"):
        with pytest.raises(UnknownLanguage):
            normalize(bad)


def test_marian_pair_from_model_name():
    assert pair_from_name("Helsinki-NLP/opus-mt-en-de") == ("en", "de")
    assert pair_from_name("/models/opus-mt-fr-es-finetuned") == ("fr", "es")
    assert pair_from_name("facebook/nllb-200-distilled-600M") is None
    langs = ModelLanguages.pair("en", "de")
    assert langs.supports("en", "de") and not langs.supports("de", "en")


def test_m2m100_tokens():
    langs = ModelLanguages.from_tokens(["<s>", "__en__", "__de__", "__ns__", "__zh__", "hello"])
    assert langs.family == "m2m100"
    assert langs.code("en") == "en" and langs.code("deu") == "de"
    assert langs.code("nso") == "ns"  # M2M100 writes Northern Sotho as `ns`
    assert langs.supports("de", "zh") and not langs.supports("de", "fr")


def test_tiny_nllb_style_model_maps_iso_codes_to_its_language_tokens():
    """An NLLB tokenizer and a tiny M2M100-architecture config (NLLB's): the source code leads the input
    and the target code is forced as the first generated token."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    from ops.nlp.translate import Translator

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i, piece in enumerate(["▁BTC", "▁rose", "▁today", "."]):
        vocab[piece] = 4 + i
    tokenizer = NllbTokenizer(vocab=vocab, merges=[])
    config = M2M100Config(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    translator = Translator(M2M100ForConditionalGeneration(config), tokenizer, name="tiny-nllb")

    langs = translator.languages
    assert langs.family == "nllb"
    assert len(langs.languages) >= 100  # a configured NLLB model serves its 200 codes' languages
    assert langs.code("de") == "deu_Latn"
    assert langs.code("zh") == "zho_Hans" and langs.code("zh-Hant") == "zho_Hant"
    assert langs.code("ar") == "arb_Arab" and langs.code("fa") == "pes_Arab"
    assert translator.supports("en", "fr") and not translator.supports("en", "tlh")

    batch, kwargs = translator.generation_inputs(["BTC rose today."], "de", "fr")
    ids = batch["input_ids"][0].tolist()
    assert ids[0] == tokenizer.convert_tokens_to_ids("deu_Latn")  # source language code first
    assert ids[-1] == tokenizer.eos_token_id
    fra = tokenizer.convert_tokens_to_ids("fra_Latn")
    assert kwargs["forced_bos_token_id"] == fra
    output = translator.model.generate(**batch, **{**kwargs, "max_new_tokens": 4})
    assert output[0, 1].item() == fra  # decoder start, then the forced target code

    out = translator.translate_texts(["BTC rose today."], "en", "es")
    assert len(out) == 1 and isinstance(out[0], str)
