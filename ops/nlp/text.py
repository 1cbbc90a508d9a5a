"""Preparing text for a translation model: size limits, sentence splitting and simple markup.

Seq2seq models translate sentences, not documents: their quality drops and their cost grows with
length, and they were trained on inputs of a few dozen words. A text is therefore cut into
sentences (and an over-long sentence at clause or word boundaries), each piece is translated on its
own, and the pieces are joined back with the whitespace that separated them.

Markup is kept out of the model's hands: HTML/XML tags, URLs, inline code and `{placeholders}`
are copied through unchanged and only the text between them is translated. The model never sees
a tag, so it can neither drop nor mistranslate one; the price is that a sentence broken by a tag
is translated in pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters of one piece handed to the model; longer sentences are cut at clauses, then words.
MAX_PIECE_CHARS = 400

_MARKUP = re.compile(
    r"<[A-Za-z/!][^<>]{0,500}>"      # tags and comments
    r"|https?://[^\s<>\"]+"          # URLs
    r"|`[^`\n]{1,200}`"              # inline code
    r"|\{\{?[A-Za-z0-9_.]{1,64}\}?\}"  # {placeholders} and {{ templates }}
    r"|&[A-Za-z]{2,8};|&#\d{1,6};"   # entities
)
# A sentence ends at . ! ? (or their CJK forms) followed by space and an opening character.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'»)\]]*\s+(?=[\"'«(\[¿¡]?[A-ZÀ-ÖØ-Þ0-9А-Я])|(?<=[。！？])")
_ABBREVIATIONS = {
    "e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "ms.", "dr.", "prof.", "inc.", "ltd.", "no.", "approx.",
    "z.b.", "d.h.", "bzw.", "usw.", "ca.", "nr.", "sr.", "sra.", "p.ej.", "mme.", "m.",
}  # fmt: skip
_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+")


@dataclass(frozen=True)
class Piece:
    """Part of a text: `translate` pieces go to the model, the others are copied as they are."""

    text: str
    translate: bool


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each with the whitespace that followed it, so `"".join(...)` == text."""
    out: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()]
        last_word = candidate.rsplit(None, 1)[-1].lower() if candidate.strip() else ""
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue  # "e.g. Bitcoin" or an initial does not end a sentence
        out.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        out.append(text[start:])
    return out


def _cut(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than max_chars, cut at clause marks, then at spaces, then anywhere."""
    if len(sentence) <= max_chars:
        return [sentence]
    parts: list[str] = []
    for clause in _split_keep(sentence, _CLAUSE_BREAK):
        if len(clause) <= max_chars:
            parts.append(clause)
            continue
        parts.extend(_split_keep(clause, re.compile(r"(?<=\s)")))
    merged: list[str] = []
    for part in parts:
        while len(part) > max_chars:  # a "word" longer than the limit (no spaces): cut it
            merged.append(part[:max_chars])
            part = part[max_chars:]
        if merged and len(merged[-1]) + len(part) <= max_chars:
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _split_keep(text: str, pattern: re.Pattern) -> list[str]:
    out, start = [], 0
    for match in pattern.finditer(text):
        if match.end() > start:
            out.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        out.append(text[start:])
    return out


def pieces(text: str, *, keep_markup: bool = True, max_chars: int = MAX_PIECE_CHARS) -> list[Piece]:
    """`text` as pieces to translate and pieces to copy; `"".join(p.text for p in ...) == text`.

    Whitespace around each translatable piece is split off as a copied piece, so the joined
    translation keeps the text's spacing and line breaks.
    """
    chunks: list[Piece] = []
    position = 0
    spans = list(_MARKUP.finditer(text)) if keep_markup else []
    for match in spans:
        if match.start() > position:
            chunks.extend(_prose(text[position : match.start()], max_chars))
        chunks.append(Piece(match.group(0), False))
        position = match.end()
    if position < len(text):
        chunks.extend(_prose(text[position:], max_chars))
    return chunks


def _prose(text: str, max_chars: int) -> list[Piece]:
    out: list[Piece] = []
    for sentence in split_sentences(text):
        for part in _cut(sentence, max_chars):
            stripped = part.strip()
            if not stripped or not any(ch.isalpha() for ch in stripped):
                out.append(Piece(part, False))  # whitespace, numbers, punctuation: nothing to translate
                continue
            lead = part[: len(part) - len(part.lstrip())]
            tail = part[len(part.rstrip()) :]
            if lead:
                out.append(Piece(lead, False))
            out.append(Piece(stripped, True))
            if tail:
                out.append(Piece(tail, False))
    return out


def reassemble(parts: list[Piece], translations: list[str]) -> str:
    """Join pieces back, the translatable ones replaced in order by `translations`."""
    answers = iter(translations)
    out = []
    for piece in parts:
        out.append(next(answers) if piece.translate else piece.text)
    return "".join(out)


def too_long(texts: list[str], max_chars: int) -> list[tuple[int, int]]:
    """(index, length) of every text over `max_chars`."""
    return [(i, len(t)) for i, t in enumerate(texts) if len(t) > max_chars]
