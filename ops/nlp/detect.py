"""Language detection with lingua: a language, a confidence, the alternatives, and mixed-text segments.

lingua compares character n-gram models of the languages it is built with; fewer candidate
languages means faster and more accurate answers, so the detector is built from a configured list
(`NLP_DETECT_LANGUAGES`, DEFAULT_LANGUAGES below) rather than all 75 lingua knows. Detectors are
expensive to build (seconds, hundreds of MB with every model loaded), so one per language list is
kept for the life of the process.

Short text is where detection fails: a word or two rarely says its language. Every answer carries
lingua's confidence and the runner-up languages, and `reliable` is false when the text has fewer
than MIN_RELIABLE_LETTERS letters or the best language does not clearly lead. Text with no letters
at all is `und` (undetermined, the ISO 639-2 code for it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from ops.nlp.langcodes import UnknownLanguage, normalize

#: The languages detection considers unless configured otherwise: the corpus languages, the other
#: large languages of crypto communities, and enough others that a text in them is not forced into
#: a wrong answer.
DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "de", "es", "fr", "it", "nl", "pt", "pl", "ru", "uk", "tr", "ar", "zh", "ja", "ko", "hi", "id", "vi",
    "sv", "cs",
)  # fmt: skip
UNDETERMINED = "und"
MIN_RELIABLE_LETTERS = 12
#: The best language must lead the next by this much confidence to be called reliable.
MIN_RELIABLE_MARGIN = 0.2
ALTERNATIVES = 3
#: Mixed-language segments shorter than this many words are folded into their neighbours.
MIN_SEGMENT_WORDS = 2


@dataclass(frozen=True)
class Segment:
    """A stretch of a text in one language: text[start:end]."""

    start: int
    end: int
    language: str
    words: int


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    reliable: bool
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def mixed(self) -> bool:
        return len({s.language for s in self.segments}) > 1

    def as_dict(self) -> dict:
        out = asdict(self)
        out["alternatives"] = [{"language": lang, "confidence": conf} for lang, conf in self.alternatives]
        out["mixed"] = self.mixed
        return out


def resolve_languages(codes: Sequence[str] | None) -> tuple[str, ...]:
    """ISO 639-1 codes lingua can detect from a configured list; ('all',) means every lingua language."""
    from lingua import Language

    known = {lang.iso_code_639_1.name.lower() for lang in Language.all()}
    if not codes:
        return DEFAULT_LANGUAGES
    if [c.lower() for c in codes] == ["all"]:
        return tuple(sorted(known))
    out = []
    for code in codes:
        iso = normalize(code)
        if iso == "no":  # lingua knows the two written standards
            iso = "nb"
        if iso not in known:
            raise UnknownLanguage(f"lingua cannot detect {code!r}; it knows {', '.join(sorted(known))}")
        out.append(iso)
    if len(set(out)) < 2:
        raise UnknownLanguage("language detection needs at least two languages to choose from")
    return tuple(sorted(set(out)))


@lru_cache(maxsize=4)
def _detector(languages: tuple[str, ...], preload: bool):
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*(getattr(IsoCode639_1, c.upper()) for c in languages))
    if preload:
        builder = builder.with_preloaded_language_models()
    return builder.build()


_build_lock = threading.Lock()


def detector(languages: Sequence[str] | None = None, *, preload: bool = False):
    """The process's lingua detector for `languages` (built once; thread-safe to use)."""
    with _build_lock:  # two threads asking first must not build two detectors
        return _detector(resolve_languages(languages), preload)


def _iso(language) -> str:
    return language.iso_code_639_1.name.lower()


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def detect(text: str, languages: Sequence[str] | None = None, *, segments: bool = True) -> Detection:
    """The language of `text` with confidence, alternatives and (optionally) its language segments."""
    return detect_many([text], languages, segments=segments)[0]


def detect_many(
    texts: Sequence[str], languages: Sequence[str] | None = None, *, segments: bool = True
) -> list[Detection]:
    """Detect every text; lingua's parallel calls spread the work over the cores."""
    det = detector(languages)
    texts = list(texts)
    confidences = det.compute_language_confidence_values_in_parallel(texts)
    multiples = det.detect_multiple_languages_in_parallel_of(texts) if segments else [[] for _ in texts]
    return [_detection(text, values, found) for text, values, found in zip(texts, confidences, multiples, strict=True)]


def _detection(text: str, values, found) -> Detection:
    if _letters(text) == 0 or not values:
        return Detection(UNDETERMINED, 0.0, False)
    ranked = [(_iso(v.language), float(v.value)) for v in values]
    best, confidence = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    reliable = _letters(text) >= MIN_RELIABLE_LETTERS and confidence - runner_up >= MIN_RELIABLE_MARGIN
    segs = _segments(found, text)
    return Detection(
        best,
        round(confidence, 4),
        reliable,
        [(lang, round(conf, 4)) for lang, conf in ranked[1 : 1 + ALTERNATIVES] if conf > 0],
        segs,
    )


def _segments(found, text: str) -> list[Segment]:
    """lingua's segments, with one-word islands merged into the neighbour before them."""
    out: list[Segment] = []
    for item in found:
        seg = Segment(item.start_index, item.end_index, _iso(item.language), item.word_count)
        if out and (seg.language == out[-1].language or seg.words < MIN_SEGMENT_WORDS):
            prev = out[-1]
            out[-1] = Segment(prev.start, seg.end, prev.language, prev.words + seg.words)
        else:
            out.append(seg)
    if len(out) > 1 and out[0].words < MIN_SEGMENT_WORDS:
        first, second = out[0], out[1]
        out[:2] = [Segment(first.start, second.end, second.language, first.words + second.words)]
    return out


def accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float:
    if not expected:
        return 0.0
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def majority_baseline(expected: Sequence[str]) -> tuple[str, float]:
    """The most frequent language and the accuracy of always answering it."""
    if not expected:
        return UNDETERMINED, 0.0
    counts: dict[str, int] = {}
    for lang in expected:
        counts[lang] = counts.get(lang, 0) + 1
    best = max(sorted(counts), key=counts.__getitem__)
    return best, counts[best] / len(expected)


def detect_languages(texts: Sequence[str], languages: Sequence[str] | None = None) -> list[str]:
    """Only the most likely language of each text (`und` when lingua cannot tell): the fast path for evaluations."""
    found = detector(languages).detect_languages_in_parallel_of(list(texts))
    return [UNDETERMINED if lang is None else _iso(lang) for lang in found]
