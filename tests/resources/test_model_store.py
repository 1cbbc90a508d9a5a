"""The model store: versions with manifests, atomic promotion, integrity on load."""

from __future__ import annotations

import json
import threading

import pytest

from resources.model_store import ModelStore, ModelStoreError


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        return ModelStore(str(tmp_path / "models"))
    import fsspec

    fsspec.filesystem("memory").store.clear()
    return ModelStore("memory://models")


def test_save_list_promote_load(store: ModelStore):
    v1 = store.save("price_lstm", {"model.pt": b"one"}, metrics={"mae": 1.0}, data_range={"start": "2024-01-01"})
    v2 = store.save("price_lstm", {"model.pt": b"two"}, metrics={"mae": 0.5})
    assert store.versions("price_lstm") == sorted([v1, v2])
    assert store.current_version("price_lstm") is None
    with pytest.raises(ModelStoreError, match="no promoted version"):
        store.load("price_lstm")

    store.promote("price_lstm", v1)
    loaded = store.load("price_lstm")
    assert (loaded.version, loaded.files["model.pt"]) == (v1, b"one")
    assert loaded.manifest["metrics"] == {"mae": 1.0}
    assert loaded.manifest["data_range"] == {"start": "2024-01-01"}
    assert {"created_at", "code_version", "files"} <= set(loaded.manifest)

    store.promote("price_lstm", v2)
    assert store.load("price_lstm").files["model.pt"] == b"two"


def test_corrupt_artifact_is_refused_and_not_promoted(store: ModelStore):
    good = store.save("fraud", {"model.pkl": b"good"})
    store.promote("fraud", good)
    bad = store.save("fraud", {"model.pkl": b"soon corrupt"})
    store.fs.pipe_file(f"{store.root}/fraud/{bad}/model.pkl", b"flipped bits")
    with pytest.raises(ModelStoreError, match="checksum"):
        store.load("fraud", bad)
    with pytest.raises(ModelStoreError):
        store.promote("fraud", bad)
    assert store.current_version("fraud") == good


def test_unfinished_version_is_not_listed(store: ModelStore):
    store.fs.makedirs(f"{store.root}/m/20990101T000000000000Z-abcdef", exist_ok=True)
    store.fs.pipe_file(f"{store.root}/m/20990101T000000000000Z-abcdef/model.bin", b"x")  # no manifest yet
    assert store.versions("m") == []
    with pytest.raises(ModelStoreError, match="no version"):
        store.promote("m", "20990101T000000000000Z-abcdef")


def test_manifest_is_json_with_checksums(store: ModelStore):
    v = store.save("m", {"a.bin": b"a", "b.bin": b"b"})
    manifest = json.loads(store.fs.cat_file(f"{store.root}/m/{v}/manifest.json"))
    assert set(manifest["files"]) == {"a.bin", "b.bin"}
    assert all(len(d) == 64 for d in manifest["files"].values())


def test_promotion_is_atomic_for_concurrent_readers(tmp_path):
    store = ModelStore(str(tmp_path / "models"))
    versions = [store.save("m", {"w": str(i).encode()}) for i in range(2)]
    store.promote("m", versions[0])
    seen, stop = set(), threading.Event()

    def reader():
        while not stop.is_set():
            seen.add(store.current_version("m"))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        store.promote("m", versions[i % 2])
    stop.set()
    t.join()
    assert seen <= set(versions)  # never empty, never half-written
