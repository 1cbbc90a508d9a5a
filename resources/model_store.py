"""Versioned model artifacts with a manifest and an atomic `current` pointer.

Layout under the store root (a local folder, or any fsspec URL such as s3://bucket/models):

    <name>/<version>/<artifact files>
    <name>/<version>/manifest.json     version, created_at, metrics, data range, code version, sha256 of files
    <name>/current                     the promoted version's name, replaced in one step

Promotion only rewrites `current`, so a reader sees the old version or the new one, never half of
each. Files are checked against the manifest's sha256 on load, so a corrupt artifact is refused
instead of served.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

MANIFEST = "manifest.json"
CURRENT = "current"


class ModelStoreError(RuntimeError):
    """A model or version that is missing or fails its integrity check."""


@dataclass(frozen=True)
class ModelVersion:
    """What a loader gets: the manifest and the verified bytes of each artifact file."""

    name: str
    version: str
    manifest: dict[str, Any]
    files: dict[str, bytes]


def code_version() -> str:
    try:
        return importlib_metadata.version("sextant")
    except importlib_metadata.PackageNotFoundError:  # running from a source tree
        return "dev"


class ModelStore:
    """Save, list, promote and load model versions on any fsspec filesystem."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.fs.makedirs(self.root, exist_ok=True)

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    # -- writing --------------------------------------------------------------------------------
    def save(
        self,
        name: str,
        files: dict[str, bytes],
        *,
        metrics: dict[str, Any] | None = None,
        data_range: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Write a new version (never overwriting one) and return its name. It is not promoted."""
        if not files or MANIFEST in files:
            raise ValueError(f"a model version needs artifact files, none named {MANIFEST!r}")
        created = datetime.now(UTC)
        version = f"{created:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"
        folder = self._path(name, version)
        self.fs.makedirs(folder, exist_ok=False)
        for filename, payload in files.items():
            self.fs.pipe_file(f"{folder}/{filename}", payload)
        manifest = {
            "name": name,
            "version": version,
            "created_at": created.isoformat(),
            "code_version": code_version(),
            "metrics": metrics or {},
            "data_range": data_range or {},
            "files": {fn: hashlib.sha256(p).hexdigest() for fn, p in files.items()},
            **(extra or {}),
        }
        # The manifest goes last: a version without one is an unfinished write and is never listed.
        self.fs.pipe_file(f"{folder}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True).encode())
        return version

    def promote(self, name: str, version: str) -> None:
        """Point `current` at `version` in one atomic step (after checking the version is whole)."""
        self.load(name, version)  # refuses a missing or corrupt version
        target = self._path(name, CURRENT)
        if isinstance(self.fs, LocalFileSystem):
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "w") as fh:
                fh.write(version)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        else:  # object stores replace a whole object atomically on PUT
            self.fs.pipe_file(target, version.encode())

    # -- reading --------------------------------------------------------------------------------
    def versions(self, name: str) -> list[str]:
        """Finished versions of `name`, oldest first."""
        base = self._path(name)
        if not self.fs.exists(base):
            return []
        out = []
        for entry in self.fs.ls(base, detail=False):
            version = entry.rstrip("/").rsplit("/", 1)[-1]
            if version != CURRENT and not version.endswith(".tmp") and self.fs.exists(f"{entry}/{MANIFEST}"):
                out.append(version)
        return sorted(out)

    def current_version(self, name: str) -> str | None:
        target = self._path(name, CURRENT)
        if not self.fs.exists(target):
            return None
        return self.fs.cat_file(target).decode().strip() or None

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        path = self._path(name, version, MANIFEST)
        if not self.fs.exists(path):
            raise ModelStoreError(f"model {name!r} has no version {version!r}")
        try:
            return json.loads(self.fs.cat_file(path))
        except json.JSONDecodeError as exc:
            raise ModelStoreError(f"manifest of {name}/{version} is not valid JSON: {exc}") from exc

    def load(self, name: str, version: str | None = None) -> ModelVersion:
        """The given version, or the promoted one; every file checked against its sha256."""
        version = version or self.current_version(name)
        if version is None:
            raise ModelStoreError(f"model {name!r} has no promoted version")
        manifest = self.manifest(name, version)
        files = {}
        for filename, digest in manifest.get("files", {}).items():
            path = self._path(name, version, filename)
            if not self.fs.exists(path):
                raise ModelStoreError(f"{name}/{version} is missing its file {filename!r}")
            payload = self.fs.cat_file(path)
            if hashlib.sha256(payload).hexdigest() != digest:
                raise ModelStoreError(f"{name}/{version}/{filename} does not match its manifest checksum")
            files[filename] = payload
        return ModelVersion(name=name, version=version, manifest=manifest, files=files)
