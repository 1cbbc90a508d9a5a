"""Hot reload of promoted models: new versions are picked up, broken ones never replace a good one."""

from __future__ import annotations

import json

import pytest

from resources.model_store import ModelStore, ModelStoreError
from serving.served_models import ServedModel


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def load_json(version) -> dict:
    return json.loads(version.files["model.json"])


def validate(model: dict) -> None:
    if not isinstance(model.get("slope"), (int, float)):
        raise TypeError("a model needs a numeric slope")


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(str(tmp_path / "models"))


def publish(store: ModelStore, payload: bytes, promote: bool = True) -> str:
    version = store.save("linear", {"model.json": payload})
    if promote:
        store.promote("linear", version)
    return version


def served(store: ModelStore, clock: Clock) -> ServedModel:
    return ServedModel(store, "linear", load_json, validate, check_seconds=10, clock=clock)


def test_nothing_promoted_is_a_clear_error(store):
    with pytest.raises(ModelStoreError, match="no loadable version"):
        served(store, Clock()).get()


def test_a_new_promotion_is_picked_up_without_restart(store):
    clock = Clock()
    v1 = publish(store, b'{"slope": 1}')
    model = served(store, clock)
    assert (model.get().version, model.get().model) == (v1, {"slope": 1})
    v2 = publish(store, b'{"slope": 2}')
    assert model.get().version == v1  # the pointer is read at most every check_seconds
    clock.now += 10
    assert (model.get().version, model.get().model) == (v2, {"slope": 2})


def test_a_corrupt_artifact_leaves_the_old_version_serving(store):
    clock = Clock()
    v1 = publish(store, b'{"slope": 1}')
    model = served(store, clock)
    model.get()
    v2 = publish(store, b'{"slope": 2}')
    store.fs.pipe_file(f"{store.root}/linear/{v2}/model.json", b'{"slope": 999}')  # bits flipped on disk
    clock.now += 10
    loaded = model.get()
    assert (loaded.version, loaded.model) == (v1, {"slope": 1})
    assert "checksum" in model.status()["last_error"]


def test_a_version_that_fails_validation_is_refused_then_a_fixed_one_is_taken(store):
    clock = Clock()
    v1 = publish(store, b'{"slope": 1}')
    model = served(store, clock)
    model.get()
    publish(store, b'{"slope": "oops"}')
    clock.now += 10
    assert model.get().version == v1
    assert "numeric slope" in model.status()["last_error"]
    v3 = publish(store, b'{"slope": 3}')
    clock.now += 10
    assert model.get().version == v3
    assert model.status()["last_error"] is None
