"""Fixtures of the NLP tests: a tiny Marian model and tokenizer trained here, in seconds, and saved."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Four sentences the tiny model learns by heart in both directions between English and German.
TINY_PAIRS = [
    ("en", "de", "BTC rose today.", "BTC stieg heute."),
    ("en", "de", "ETH fell today.", "ETH fiel heute."),
    ("en", "de", "The market is calm.", "Der Markt ist ruhig."),
    ("en", "de", "Prices are rising.", "Die Preise steigen."),
]
TINY_PAIRS += [(t, s, tgt, src) for s, t, src, tgt in TINY_PAIRS]


def tiny_config():
    from ops.nlp.trainer import TrainerConfig

    return TrainerConfig(
        vocab_size=80, d_model=32, layers=1, heads=2, ffn_dim=64, dropout=0.0, max_positions=32, epochs=120,
        batch_size=8, learning_rate=1e-2, warmup_steps=10, max_seconds=60, seed=3,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Marian model trained from scratch on TINY_PAIRS and saved as a Hugging Face folder."""
    from ops.nlp import trainer

    result = trainer.train(TINY_PAIRS, tiny_config(), threads=1)
    folder = tmp_path_factory.mktemp("tiny-marian")
    trainer.save(result, folder)
    return folder


@pytest.fixture(scope="session")
def tiny_translator(tiny_model_dir):
    from resources.translator import load_translator

    return load_translator(tiny_model_dir, threads=1, name="tiny", version="v-test")


@pytest.fixture
def nlp_settings(settings, tiny_model_dir):
    """The test's settings with the tiny model configured, NLP landing in the temporary home."""
    return settings.model_copy(update={"translation_model": str(tiny_model_dir), "torch_threads": 1})


def materialize_nlp(instance, resources, selection=None, run_config=None, tags=None, raise_on_error=True):
    """One real Dagster run of (some of) the NLP assets, on the test's instance."""
    import dagster as dg
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    from assets.nlp.assets import NLP_ASSETS

    with set_defs_state_storage(instance.defs_state_storage):
        return dg.materialize(
            NLP_ASSETS,
            instance=instance,
            resources=resources,
            selection=selection,
            run_config=run_config,
            tags=tags,
            raise_on_error=raise_on_error,
        )


def promote_tiny_model(store_url: str, folder: Path) -> str:
    """Put the tiny model's files in the model store as a promoted version of `translation`."""
    from resources.model_store import ModelStore

    store = ModelStore(store_url)
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    version = store.save("translation", files)
    store.promote("translation", version)
    return version


# The API fixtures (an app over the test's warehouse, a client with a read token) are the serving tests'.
from tests.serving.conftest import make_client  # noqa: F401
