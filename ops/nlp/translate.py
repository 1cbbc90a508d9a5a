"""Translation with a Hugging Face seq2seq model: tokenizer -> `model.generate` -> `batch_decode`.

transformers 5 has no translation pipeline, so this module does its work: it finds how the model
names languages (`ModelLanguages`), cuts texts into pieces (`ops.nlp.text`), groups pieces by
language pair and length (`ops.nlp.batching`), generates each batch with the source and target
set the way the model family expects, and puts the translations back in their texts.

| family | source language | target language |
|---|---|---|
| NLLB-200, M2M100 | `tokenizer.src_lang = code` | `forced_bos_token_id` = the target code's token |
| Marian, multilingual | (none: the model reads any of its sources) | `>>code<<` prepended to the text |
| Marian, one pair | (fixed) | (fixed) |

A `Translator` holds one loaded model; it is safe to share between threads (a lock serializes
generation: two generations at once only fight over the same cores).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ops.nlp.batching import in_order, length_buckets
from ops.nlp.langcodes import ModelLanguages, UnknownLanguage, normalize, pair_from_name
from ops.nlp.text import MAX_PIECE_CHARS, pieces, reassemble

#: Generated tokens allowed per input token (translations run longer than their source), plus a floor.
OUTPUT_RATIO = 2.0
MIN_NEW_TOKENS = 16
#: Per-piece cap on input tokens: what the model was trained on (Marian 512) or less.
MAX_INPUT_TOKENS = 256


@dataclass(frozen=True)
class TranslationRequest:
    """One text to translate from `source` (ISO, already known) into `target`."""

    text: str
    source: str
    target: str


def language_tokens(tokenizer: Any) -> list[str]:
    """Every token of the tokenizer that may name a language (the vocabulary and the language maps)."""
    tokens = set(tokenizer.get_vocab())
    for attr in ("lang_token_to_id", "lang_code_to_id"):
        mapping = getattr(tokenizer, attr, None)
        if isinstance(mapping, dict):
            tokens.update(mapping)
    return sorted(tokens)


def model_languages(model: Any, tokenizer: Any, name: str = "") -> ModelLanguages:
    """What the model serves, from its tokenizer (and, for one-pair Marian models, its name)."""
    model_type = getattr(getattr(model, "config", None), "model_type", "")
    try:
        langs = ModelLanguages.from_tokens(language_tokens(tokenizer), model_type=model_type)
    except UnknownLanguage:
        source = getattr(tokenizer, "source_lang", None)
        target = getattr(tokenizer, "target_lang", None)
        pair = (source, target) if source and target else pair_from_name(name or getattr(model, "name_or_path", ""))
        if pair is None:
            raise UnknownLanguage(
                f"cannot tell which languages model {name or model_type!r} translates: no language tokens "
                "and no source-target pair in its name (e.g. opus-mt-en-de)"
            ) from None
        return ModelLanguages.pair(*pair)
    # Models trained here say which directions they learned; others may be asked any pair they name.
    pairs = getattr(getattr(model, "config", None), "sextant_pairs", None)
    if pairs:
        langs = ModelLanguages(
            langs.family, langs.codes, langs.defaults, frozenset(s for s, _ in pairs), frozenset(map(tuple, pairs))
        )
    return langs


class Translator:
    """One loaded seq2seq model and its tokenizer, ready to translate lists of texts."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "",
        version: str | None = None,
        languages: ModelLanguages | None = None,
        num_beams: int = 1,
        max_batch: int = 32,
        max_batch_tokens: int = 4096,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.version = version
        self.languages = languages or model_languages(model, tokenizer, name)
        self.num_beams = num_beams
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        # Neither the input nor the output may outgrow the model's position table.
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None) or 1024
        self.max_input_tokens = min(MAX_INPUT_TOKENS, positions)
        self.max_output_tokens = max(1, positions - 2)
        self._lock = threading.Lock()

    # -- languages ------------------------------------------------------------------------------
    def supports(self, source: str, target: str) -> bool:
        return self.languages.supports(source, target)

    def check_pair(self, source: str, target: str) -> None:
        """Raise UnknownLanguage, with what the model does serve, when it cannot do source -> target."""
        if not self.supports(source, target):
            raise UnknownLanguage(
                f"model {self.name or '?'} does not translate {normalize(source)} -> {normalize(target)}; "
                f"it serves {self.languages.describe()}"
            )

    # -- translation ----------------------------------------------------------------------------
    def translate(
        self,
        requests: Sequence[TranslationRequest],
        *,
        keep_markup: bool = True,
        bucketed: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[str]:
        """Translations of `requests`, in order. Texts whose source is the target come back as they are.

        All pieces of all texts that share a language pair are batched together; `bucketed=False`
        keeps input order inside each pair (the baseline the benchmark compares against).
        """
        for req in requests:
            if normalize(req.source) != normalize(req.target):
                self.check_pair(req.source, req.target)
        plans = [pieces(r.text, keep_markup=keep_markup, max_chars=MAX_PIECE_CHARS) for r in requests]
        groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for t_index, (req, plan) in enumerate(zip(requests, plans, strict=True)):
            if normalize(req.source) == normalize(req.target):
                continue
            key = (normalize(req.source), normalize(req.target))
            for p_index, piece in enumerate(plan):
                if piece.translate:
                    groups.setdefault(key, []).append((t_index, p_index))
        done: dict[tuple[int, int], str] = {}
        total = sum(len(v) for v in groups.values())
        finished = 0
        for (source, target), where in groups.items():
            texts = [plans[t][p].text for t, p in where]

            def report(n: int) -> None:
                nonlocal finished
                finished += n
                if progress is not None:
                    progress(finished, total)

            outputs = self.translate_texts(texts, source, target, bucketed=bucketed, on_batch=report)
            done.update(zip(where, outputs, strict=True))
        out = []
        for t_index, (req, plan) in enumerate(zip(requests, plans, strict=True)):
            if normalize(req.source) == normalize(req.target):
                out.append(req.text)
                continue
            answers = [done[(t_index, p)] for p, piece in enumerate(plan) if piece.translate]
            out.append(reassemble(plan, answers))
        return out

    def translate_texts(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        *,
        bucketed: bool = True,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Translate plain sentences of one language pair, in length-bucketed batches."""
        if not texts:
            return []
        prepared = self._prepare(texts, target)
        lengths = [len(ids) for ids in self._encode_lengths(prepared, source)]
        max_batch = batch_size or self.max_batch
        if bucketed:
            batches = length_buckets(lengths, max_batch=max_batch, max_tokens=self.max_batch_tokens)
        else:
            batches = [list(range(i, min(i + max_batch, len(texts)))) for i in range(0, len(texts), max_batch)]
        results = []
        for indices in batches:
            results.append(self._generate([prepared[i] for i in indices], source, target))
            if on_batch is not None:
                on_batch(len(indices))
        return in_order(batches, results, len(texts))

    def _prepare(self, texts: Sequence[str], target: str) -> list[str]:
        if self.languages.family == "marian-multi":
            token = self.languages.code(target)
            return [f"{token} {text}" for text in texts]
        return list(texts)

    def _set_source(self, source: str) -> None:
        if self.languages.family in ("nllb", "m2m100"):
            self.tokenizer.src_lang = self.languages.code(source, role="source")

    def _target_token_id(self, target: str) -> int | None:
        family = self.languages.family
        if family == "nllb":
            return self.tokenizer.convert_tokens_to_ids(self.languages.code(target))
        if family == "m2m100":
            code = self.languages.code(target)
            if hasattr(self.tokenizer, "get_lang_id"):
                return self.tokenizer.get_lang_id(code)
            return self.tokenizer.convert_tokens_to_ids(f"__{code}__")
        return None

    def _encode_lengths(self, texts: Sequence[str], source: str) -> list[list[int]]:
        with self._lock:
            self._set_source(source)
            return self.tokenizer(list(texts), truncation=True, max_length=self.max_input_tokens)["input_ids"]

    def generation_inputs(self, texts: list[str], source: str, target: str) -> tuple[Any, dict[str, Any]]:
        """The tokenized batch and the `generate` arguments for one language pair (caller holds the lock)."""
        self._set_source(source)
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_input_tokens
        )
        longest = int(batch["attention_mask"].sum(dim=1).max())
        kwargs: dict[str, Any] = {
            "max_new_tokens": min(self.max_output_tokens, max(MIN_NEW_TOKENS, int(longest * OUTPUT_RATIO))),
            "num_beams": self.num_beams,
            "do_sample": False,
        }
        forced = self._target_token_id(target)
        if forced is not None:
            kwargs["forced_bos_token_id"] = forced
        return batch, kwargs

    def _generate(self, texts: list[str], source: str, target: str) -> list[str]:
        import torch

        with self._lock, torch.inference_mode():
            batch, kwargs = self.generation_inputs(texts, source, target)
            output = self.model.generate(**batch, **kwargs)
            return [t.strip() for t in self.tokenizer.batch_decode(output, skip_special_tokens=True)]
