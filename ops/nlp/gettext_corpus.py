"""Labelled text from gettext catalogues: a language-detection corpus no detector was tuned on.

A software project's translation catalogues (.po files) are written by people translating its
interface, so scoring a detector on them is independent of any detector's own test sentences. The
texts are short and technical, which is where detection is hard. Each message keeps the language of
its catalogue; English comes from the source strings. What would make a label wrong is dropped:
untranslated or borrowed messages (equal to their English source, e.g. "Email") and a text found
under two languages. Placeholders (`%(name)s`, `%s`, `{name}`) and markup are removed first, since
they say nothing about the language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_KEYWORD = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[(\d+)\])?)\s+"(.*)"\s*$')
_CONTINUATION = re.compile(r'^"(.*)"\s*$')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
_PLACEHOLDER = re.compile(r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%[-#0 +]*\d*(?:\.\d+)?[sdifrx]|\{[^{}]*\}|<[^<>]+>")
_SPACE = re.compile(r"\s+")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), value)


def parse_po(text: str) -> list[tuple[str, str]]:
    """(source, translation) of every translated, non-fuzzy message; plural messages give their singular form."""
    pairs: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    fuzzy = False
    field = None

    def flush() -> None:
        nonlocal entry, fuzzy, field
        source, translation = entry.get("msgid", ""), entry.get("msgstr", "")
        if source and translation and not fuzzy:
            pairs.append((source, translation))
        entry, fuzzy, field = {}, False, None

    for line in text.splitlines():
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
            continue
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):  # comments, references, obsolete (#~) entries
            continue
        keyword = _KEYWORD.match(line)
        if keyword:
            name, index, value = keyword.groups()
            if name == "msgid" and "msgid" in entry:  # a new entry without a blank line between
                flush()
            if name.startswith("msgstr"):
                if index not in (None, "0"):
                    field = None  # later plural forms are not kept
                    continue
                name = "msgstr"
            field = name
            entry[name] = _unescape(value)
            continue
        continuation = _CONTINUATION.match(line)
        if continuation and field:
            entry[field] += _unescape(continuation.group(1))
    flush()
    return pairs


def clean(message: str) -> str:
    """The message without placeholders and markup, whitespace collapsed."""
    return _SPACE.sub(" ", _PLACEHOLDER.sub(" ", message)).strip()


def build_corpus(catalogues: Mapping[str, Iterable[str]], *, source_language: str = "en") -> list[tuple[str, str]]:
    """(text, language) pairs from each language's .po texts, sorted; see the module docstring for what is dropped."""
    found: dict[str, set[str]] = {}
    sources: set[str] = set()
    for language, texts in catalogues.items():
        for po_text in texts:
            for source, translation in parse_po(po_text):
                source, translation = clean(source), clean(translation)
                sources.add(source)
                if translation.casefold() != source.casefold():
                    found.setdefault(translation, set()).add(language)
    for source in sources:
        found.setdefault(source, set()).add(source_language)
    return sorted(
        (text, languages.pop()) for text, languages in found.items()
        if len(languages) == 1 and any(ch.isalpha() for ch in text)
    )  # fmt: skip
