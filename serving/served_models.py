"""Models served from the model store, reloaded when a new version is promoted.

A `ServedModel` watches `<name>/current` (at most every `check_seconds`). When it moves, the new
version is loaded (checksums verified by the store), deserialized and validated *before* it
replaces the one in use; if any step fails the old version keeps serving and the error is kept
for the dashboard and readiness. Nothing restarts.

Loading is blocking (file reads, unpickling, torch): callers run `get()` through the app's Guard
(`await guard.call("models", served.get)`), never on the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from resources.model_store import ModelStore, ModelStoreError, ModelVersion

log = logging.getLogger("serving.served_models")

M = TypeVar("M")


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A model in use: the object, its version and manifest, and when this process loaded it."""

    model: M
    version: str
    manifest: dict[str, Any]
    loaded_at: datetime


class ServedModel(Generic[M]):
    """One model name, hot-reloaded from the store; see the module docstring."""

    def __init__(
        self,
        store: ModelStore,
        name: str,
        load: Callable[[ModelVersion], M],
        validate: Callable[[M], None] | None = None,
        *,
        check_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.name = name
        self._load = load
        self._validate = validate
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Loaded[M] | None = None
        self._checked_at = float("-inf")
        self._refused: str | None = None  # a version that failed; not retried until `current` moves again
        self.last_error: str | None = None

    def get(self) -> Loaded[M]:
        """The model in use, after picking up a newly promoted version if there is one."""
        with self._lock:
            if self._clock() - self._checked_at >= self._check_seconds:
                self._checked_at = self._clock()
                self._refresh()
            if self._current is None:
                raise ModelStoreError(f"model {self.name!r} has no loadable version: {self.last_error}")
            return self._current

    @property
    def checked_at(self) -> float:
        """When `get` last looked at `<name>/current` (the clock's time): a caller that reads more of the
        store about this model can look again only when it did, at the same bounded rate."""
        return self._checked_at

    def _refresh(self) -> None:
        promoted = self.store.current_version(self.name)
        if promoted is None or promoted == self._refused:
            return
        if self._current is not None and promoted == self._current.version:
            return
        try:
            version = self.store.load(self.name, promoted)
            model = self._load(version)
            if self._validate is not None:
                self._validate(model)
        except Exception as exc:  # noqa: BLE001 - whatever breaks a new version, the old one stays
            self._refused = promoted
            self.last_error = f"{self.name}/{promoted}: {exc.__class__.__name__}: {exc}"
            log.error("model %s version %s refused, still serving %s: %s", self.name, promoted,
                      self._current.version if self._current else None, exc.__class__.__name__)
            return
        self._current = Loaded(model, promoted, version.manifest, datetime.now(UTC))
        self._refused = None
        self.last_error = None
        log.info("model %s now serving version %s", self.name, promoted)

    def status(self) -> dict[str, Any]:
        current = self._current
        return {
            "name": self.name,
            "version": current.version if current else None,
            "loaded_at": current.loaded_at.isoformat() if current else None,
            "created_at": current.manifest.get("created_at") if current else None,
            "last_error": self.last_error,
        }
