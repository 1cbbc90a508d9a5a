"""Loading translation models offline: from a local folder, the Hugging Face cache, or the ModelStore.

Nothing here downloads: every load passes `local_files_only=True` and sets `HF_HUB_OFFLINE`, so
a model that is not on disk fails at once with a clear error instead of hanging on the network.
`TRANSLATION_MODEL` may name a folder (`/models/opus-mt-en-de`) or a Hub id already in the local
cache (`facebook/nllb-200-distilled-600M`).

ModelStore versions of the translation model come in two kinds:
- trained here: the Hugging Face files themselves (config, safetensors, tokenizer); they are
  written once to `<SEXTANT_HOME>/cache/models/<name>/<version>/` and loaded from there;
- registered: a `reference.json` naming the configured folder or Hub id (a 2 GB NLLB model is not
  copied into the store); loading follows the reference.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ops.nlp.translate import Translator
from resources.model_store import ModelVersion

REFERENCE_FILE = "reference.json"


class TranslatorLoadError(RuntimeError):
    """The configured model is not on this machine, or is not a seq2seq translation model."""


def load_translator(
    source: str | Path, *, threads: int | None = None, name: str | None = None, version: str | None = None
) -> Translator:
    """A Translator for the model in folder or cached Hub id `source`, loaded without any network access."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # also covers libraries that would look the model up online
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(str(source), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TranslatorLoadError(
            f"translation model {str(source)!r} cannot be loaded offline (a local folder, or a Hub id already "
            f"in the Hugging Face cache, is needed): {exc.__class__.__name__}: {str(exc)[:300]}"
        ) from exc
    return Translator(model, tokenizer, name=name or str(source), version=version)


def reference_files(source: str) -> dict[str, bytes]:
    """The artifact of a registered (not copied) model: where to load it from."""
    return {REFERENCE_FILE: json.dumps({"source": source}, indent=2).encode()}


def version_folder(version: ModelVersion, cache_root: Path) -> Path:
    """A local folder holding the files of a stored version (written once, atomically)."""
    folder = cache_root / version.name / version.version
    if (folder / ".complete").exists():
        return folder
    staging = cache_root / version.name / f".{version.version}.{uuid.uuid4().hex}"
    staging.mkdir(parents=True, exist_ok=True)
    for filename, payload in version.files.items():
        target = staging / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    (staging / ".complete").write_text(version.version)
    try:
        staging.rename(folder)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def translator_from_version(version: ModelVersion, *, cache_root: Path, threads: int | None = None) -> Translator:
    """Load a ModelStore version of the translation model (trained files, or a reference)."""
    if REFERENCE_FILE in version.files:
        source = json.loads(version.files[REFERENCE_FILE])["source"]
        return load_translator(source, threads=threads, name=source, version=version.version)
    folder = version_folder(version, cache_root)
    label = version.manifest.get("display_name") or version.name
    return load_translator(folder, threads=threads, name=label, version=version.version)


def validate_translator(translator: Any) -> None:
    """A loaded model must translate one sentence of a pair it claims (serving checks before swapping)."""
    langs = translator.languages
    if langs.pairs:
        source, target = min(langs.pairs)
    else:
        names = langs.languages
        if len(names) < 2:
            raise TranslatorLoadError("the model serves fewer than two languages")
        source, target = ("en", next(n for n in names if n != "en")) if "en" in names else (names[0], names[1])
    from ops.nlp.translate import TranslationRequest

    out = translator.translate([TranslationRequest("The market is calm.", source, target)])
    if not out or not isinstance(out[0], str):
        raise TranslatorLoadError("the model returned no translation for a test sentence")
