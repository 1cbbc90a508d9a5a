"""ISO 639 codes and the language codes of translation models (Marian, NLLB-200, M2M100).

Sextant speaks ISO 639-1 where a language has such a code (`de`) and ISO 639-3 otherwise (`ast`);
a script may follow for languages written in several (`zh-Hant`, `sr-Latn`). Each model family
names languages its own way:

| family | example | where the codes live |
|---|---|---|
| NLLB-200 | `deu_Latn` | special tokens of the tokenizer; `forced_bos_token_id` picks the target |
| M2M100 | `__de__` (code `de`) | special tokens; `tokenizer.src_lang`, `forced_bos_token_id` |
| Marian, multilingual target | `>>deu<<` or `>>de<<` | a token prepended to the source text |
| Marian, one pair | none | the pair is in the model name (`opus-mt-en-de`) or the tokenizer config |

`ModelLanguages.from_tokens` reads a tokenizer's vocabulary and returns which ISO languages that
model serves, so a configured NLLB or M2M100 model gives its 100+ languages without a list here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ops.json_schema import any_case

# ISO 639-1 -> (ISO 639-3, English name). The 639-3 code is the one NLLB and Marian use for the
# language (the macrolanguage code where a 639-1 code names a macrolanguage).
ISO_639_1: dict[str, tuple[str, str]] = {
    "aa": ("aar", "Afar"), "ab": ("abk", "Abkhazian"), "ae": ("ave", "Avestan"), "af": ("afr", "Afrikaans"),
    "ak": ("aka", "Akan"), "am": ("amh", "Amharic"), "an": ("arg", "Aragonese"), "ar": ("ara", "Arabic"),
    "as": ("asm", "Assamese"), "av": ("ava", "Avaric"), "ay": ("aym", "Aymara"), "az": ("aze", "Azerbaijani"),
    "ba": ("bak", "Bashkir"), "be": ("bel", "Belarusian"), "bg": ("bul", "Bulgarian"), "bi": ("bis", "Bislama"),
    "bm": ("bam", "Bambara"), "bn": ("ben", "Bengali"), "bo": ("bod", "Tibetan"), "br": ("bre", "Breton"),
    "bs": ("bos", "Bosnian"), "ca": ("cat", "Catalan"), "ce": ("che", "Chechen"), "ch": ("cha", "Chamorro"),
    "co": ("cos", "Corsican"), "cr": ("cre", "Cree"), "cs": ("ces", "Czech"), "cu": ("chu", "Church Slavic"),
    "cv": ("chv", "Chuvash"), "cy": ("cym", "Welsh"), "da": ("dan", "Danish"), "de": ("deu", "German"),
    "dv": ("div", "Dhivehi"), "dz": ("dzo", "Dzongkha"), "ee": ("ewe", "Ewe"), "el": ("ell", "Greek"),
    "en": ("eng", "English"), "eo": ("epo", "Esperanto"), "es": ("spa", "Spanish"), "et": ("est", "Estonian"),
    "eu": ("eus", "Basque"), "fa": ("fas", "Persian"), "ff": ("ful", "Fulah"), "fi": ("fin", "Finnish"),
    "fj": ("fij", "Fijian"), "fo": ("fao", "Faroese"), "fr": ("fra", "French"), "fy": ("fry", "Western Frisian"),
    "ga": ("gle", "Irish"), "gd": ("gla", "Scottish Gaelic"), "gl": ("glg", "Galician"), "gn": ("grn", "Guarani"),
    "gu": ("guj", "Gujarati"), "gv": ("glv", "Manx"), "ha": ("hau", "Hausa"), "he": ("heb", "Hebrew"),
    "hi": ("hin", "Hindi"), "ho": ("hmo", "Hiri Motu"), "hr": ("hrv", "Croatian"), "ht": ("hat", "Haitian Creole"),
    "hu": ("hun", "Hungarian"), "hy": ("hye", "Armenian"), "hz": ("her", "Herero"), "ia": ("ina", "Interlingua"),
    "id": ("ind", "Indonesian"), "ie": ("ile", "Interlingue"), "ig": ("ibo", "Igbo"), "ii": ("iii", "Sichuan Yi"),
    "ik": ("ipk", "Inupiaq"), "io": ("ido", "Ido"), "is": ("isl", "Icelandic"), "it": ("ita", "Italian"),
    "iu": ("iku", "Inuktitut"), "ja": ("jpn", "Japanese"), "jv": ("jav", "Javanese"), "ka": ("kat", "Georgian"),
    "kg": ("kon", "Kongo"), "ki": ("kik", "Kikuyu"), "kj": ("kua", "Kuanyama"), "kk": ("kaz", "Kazakh"),
    "kl": ("kal", "Kalaallisut"), "km": ("khm", "Khmer"), "kn": ("kan", "Kannada"), "ko": ("kor", "Korean"),
    "kr": ("kau", "Kanuri"), "ks": ("kas", "Kashmiri"), "ku": ("kur", "Kurdish"), "kv": ("kom", "Komi"),
    "kw": ("cor", "Cornish"), "ky": ("kir", "Kyrgyz"), "la": ("lat", "Latin"), "lb": ("ltz", "Luxembourgish"),
    "lg": ("lug", "Ganda"), "li": ("lim", "Limburgish"), "ln": ("lin", "Lingala"), "lo": ("lao", "Lao"),
    "lt": ("lit", "Lithuanian"), "lu": ("lub", "Luba-Katanga"), "lv": ("lav", "Latvian"), "mg": ("mlg", "Malagasy"),
    "mh": ("mah", "Marshallese"), "mi": ("mri", "Maori"), "mk": ("mkd", "Macedonian"), "ml": ("mal", "Malayalam"),
    "mn": ("mon", "Mongolian"), "mr": ("mar", "Marathi"), "ms": ("msa", "Malay"), "mt": ("mlt", "Maltese"),
    "my": ("mya", "Burmese"), "na": ("nau", "Nauru"), "nb": ("nob", "Norwegian Bokmal"),
    "nd": ("nde", "North Ndebele"), "ne": ("nep", "Nepali"), "ng": ("ndo", "Ndonga"), "nl": ("nld", "Dutch"),
    "nn": ("nno", "Norwegian Nynorsk"), "no": ("nor", "Norwegian"), "nr": ("nbl", "South Ndebele"),
    "nv": ("nav", "Navajo"), "ny": ("nya", "Chichewa"), "oc": ("oci", "Occitan"), "oj": ("oji", "Ojibwa"),
    "om": ("orm", "Oromo"), "or": ("ori", "Odia"), "os": ("oss", "Ossetian"), "pa": ("pan", "Punjabi"),
    "pi": ("pli", "Pali"), "pl": ("pol", "Polish"), "ps": ("pus", "Pashto"), "pt": ("por", "Portuguese"),
    "qu": ("que", "Quechua"), "rm": ("roh", "Romansh"), "rn": ("run", "Rundi"), "ro": ("ron", "Romanian"),
    "ru": ("rus", "Russian"), "rw": ("kin", "Kinyarwanda"), "sa": ("san", "Sanskrit"), "sc": ("srd", "Sardinian"),
    "sd": ("snd", "Sindhi"), "se": ("sme", "Northern Sami"), "sg": ("sag", "Sango"), "si": ("sin", "Sinhala"),
    "sk": ("slk", "Slovak"), "sl": ("slv", "Slovenian"), "sm": ("smo", "Samoan"), "sn": ("sna", "Shona"),
    "so": ("som", "Somali"), "sq": ("sqi", "Albanian"), "sr": ("srp", "Serbian"), "ss": ("ssw", "Swati"),
    "st": ("sot", "Southern Sotho"), "su": ("sun", "Sundanese"), "sv": ("swe", "Swedish"), "sw": ("swa", "Swahili"),
    "ta": ("tam", "Tamil"), "te": ("tel", "Telugu"), "tg": ("tgk", "Tajik"), "th": ("tha", "Thai"),
    "ti": ("tir", "Tigrinya"), "tk": ("tuk", "Turkmen"), "tl": ("tgl", "Tagalog"), "tn": ("tsn", "Tswana"),
    "to": ("ton", "Tongan"), "tr": ("tur", "Turkish"), "ts": ("tso", "Tsonga"), "tt": ("tat", "Tatar"),
    "tw": ("twi", "Twi"), "ty": ("tah", "Tahitian"), "ug": ("uig", "Uyghur"), "uk": ("ukr", "Ukrainian"),
    "ur": ("urd", "Urdu"), "uz": ("uzb", "Uzbek"), "ve": ("ven", "Venda"), "vi": ("vie", "Vietnamese"),
    "vo": ("vol", "Volapuk"), "wa": ("wln", "Walloon"), "wo": ("wol", "Wolof"), "xh": ("xho", "Xhosa"),
    "yi": ("yid", "Yiddish"), "yo": ("yor", "Yoruba"), "za": ("zha", "Zhuang"), "zh": ("zho", "Chinese"),
    "zu": ("zul", "Zulu"),
}  # fmt: skip

#: ISO 639-3 codes of individual languages that models use for a language whose 639-1 code names
#: the macrolanguage (NLLB says `arb` for Standard Arabic, `zsm` for Standard Malay, ...); and the
#: 639-2/B codes some Marian model names use.
INDIVIDUAL_TO_1: dict[str, str] = {
    "arb": "ar", "pes": "fa", "zsm": "ms", "swh": "sw", "uzn": "uz", "als": "sq", "azj": "az", "khk": "mn",
    "gaz": "om", "pbt": "ps", "quy": "qu", "npi": "ne", "kmr": "ku", "lvs": "lv", "ekk": "et", "ydd": "yi",
    "plt": "mg", "ory": "or", "fuv": "ff", "knc": "kr", "ayr": "ay", "cmn": "zh", "nor": "no",
    "ger": "de", "fre": "fr", "dut": "nl", "chi": "zh", "cze": "cs", "gre": "el", "per": "fa", "rum": "ro",
    "slo": "sk", "alb": "sq", "arm": "hy", "baq": "eu", "bur": "my", "geo": "ka", "ice": "is", "mac": "mk",
    "mao": "mi", "may": "ms", "tib": "bo", "wel": "cy",
}  # fmt: skip

#: ISO 639-3 -> 639-1, the inverse of ISO_639_1 plus the individual-language codes above.
ISO_639_3_TO_1: dict[str, str] = {three: one for one, (three, _) in ISO_639_1.items()} | INDIVIDUAL_TO_1

#: Names of languages models serve that have no ISO 639-1 code (the rest are in ISO_639_1).
EXTRA_NAMES: dict[str, str] = {
    "ast": "Asturian", "ceb": "Cebuano", "ilo": "Ilocano", "nso": "Northern Sotho", "yue": "Cantonese",
    "ckb": "Central Kurdish", "prs": "Dari", "azb": "South Azerbaijani", "fil": "Filipino", "haw": "Hawaiian",
    "hmn": "Hmong", "kab": "Kabyle", "lij": "Ligurian", "lmo": "Lombard", "scn": "Sicilian", "szl": "Silesian",
    "vec": "Venetian", "war": "Waray", "min": "Minangkabau", "mai": "Maithili", "bho": "Bhojpuri",
}  # fmt: skip

NLLB_TOKEN = re.compile(r"^([a-z]{3})_([A-Z][a-z]{3})$")
M2M100_TOKEN = re.compile(r"^__([a-z]{2,3})__$")
MARIAN_TOKEN = re.compile(r"^>>([a-z]{2,3}(?:_[A-Za-z]{4})?)<<$")
_CODE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?$")


#: Exactly the codes `normalize` takes (without surrounding blanks), as a JSON Schema pattern: a
#: known ISO 639-1 code or any three letters, then optionally a script.
CODE_PATTERN = (
    "^(?:" + "|".join(any_case(code) for code in sorted(ISO_639_1)) + "|[a-zA-Z]{3})(?:[-_][a-zA-Z]{4})?$"
)


class UnknownLanguage(ValueError):
    """A code that is not an ISO 639 language, or one the model does not serve."""


def normalize(code: str) -> str:
    """A language code as Sextant writes it: `DE`, `deu`, `ger`, `deu_Latn` -> `de`; `zh-hant` -> `zh-Hant`.

    Raises UnknownLanguage for text that is not an ISO 639 code (a three-letter code without a
    639-1 equivalent is kept as it is: it may well be one, e.g. `ast`).
    """
    match = _CODE.match(code.strip())
    if not match:
        raise UnknownLanguage(f"{code!r} is not an ISO 639 language code (e.g. 'de' or 'deu')")
    lang, script = match.group(1).lower(), match.group(2)
    if len(lang) == 2 and lang not in ISO_639_1:
        raise UnknownLanguage(f"{code!r} is not an ISO 639-1 language code")
    lang = ISO_639_3_TO_1.get(lang, lang)
    return f"{lang}-{script.title()}" if script else lang


def base(code: str) -> str:
    """The language without its script: `zh-Hant` -> `zh`."""
    return code.split("-", 1)[0]


def name(code: str) -> str | None:
    lang = base(code)
    if lang in ISO_639_1:
        return ISO_639_1[lang][1]
    return EXTRA_NAMES.get(lang)


def iso_639_3(code: str) -> str:
    lang = base(code)
    return ISO_639_1[lang][0] if lang in ISO_639_1 else lang


@dataclass(frozen=True)
class ModelLanguages:
    """The languages one translation model serves and how it names them.

    `codes` maps each ISO language (with a script when the model distinguishes scripts) to the
    model's own code; `defaults` picks the model code for a bare language (`zh` -> `zho_Hans`).
    `pairs` is set for pair models that translate one direction only.
    """

    family: str  # "nllb", "m2m100", "marian-multi", "marian-pair"
    codes: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    sources: frozenset[str] | None = None  # None: any language the model knows
    pairs: frozenset[tuple[str, str]] | None = None

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], *, model_type: str = "") -> ModelLanguages:
        """Recognize the family from the language tokens in a tokenizer's vocabulary."""
        tokens = list(tokens)
        nllb = [m for t in tokens if (m := NLLB_TOKEN.match(t))]
        if nllb:
            return cls._build("nllb", ((m.group(0), m.group(1), m.group(2)) for m in nllb))
        m2m = [m for t in tokens if (m := M2M100_TOKEN.match(t))]
        if m2m:
            return cls._build("m2m100", ((m.group(1), m.group(1), None) for m in m2m))
        marian = [m for t in tokens if (m := MARIAN_TOKEN.match(t))]
        if marian:
            entries = []
            for m in marian:
                lang, _, script = m.group(1).partition("_")
                entries.append((m.group(0), lang, script or None))
            return cls._build("marian-multi", entries)
        raise UnknownLanguage(f"no language tokens found in the {model_type or 'model'}'s vocabulary")

    @classmethod
    def pair(cls, source: str, target: str) -> ModelLanguages:
        """A one-direction Marian model such as opus-mt-en-de."""
        src, tgt = normalize(source), normalize(target)
        return cls("marian-pair", {src: "", tgt: ""}, {}, frozenset({src}), frozenset({(src, tgt)}))

    @classmethod
    def _build(cls, family: str, entries: Iterable[tuple[str, str, str | None]]) -> ModelLanguages:
        codes: dict[str, str] = {}
        defaults: dict[str, str] = {}
        by_lang: dict[str, list[tuple[str, str | None]]] = {}
        for token, lang, script in entries:
            try:
                iso = normalize(lang)
            except UnknownLanguage:
                iso = lang
            if family == "m2m100" and lang == "ns":  # M2M100 writes Northern Sotho as `ns`
                iso = "nso"
            by_lang.setdefault(iso, []).append((token, script))
            codes[f"{iso}-{script}" if script else iso] = token
        for iso, options in by_lang.items():
            # A bare language goes to the script most of its writers use: the first listed, except
            # where the model lists several and one is the language's usual script.
            preferred = {"zh": "Hans", "sr": "Cyrl", "ks": "Arab", "kr": "Latn", "ar": "Arab", "taq": "Latn"}
            choice = next((t for t, s in options if s == preferred.get(iso)), options[0][0])
            defaults[iso] = choice
            # Individual-language codes that are not the macrolanguage's (e.g. `ars` next to `arb`)
            # stay reachable under their own code; a bare `ar` goes to `arb`.
            if iso not in codes:
                codes[iso] = choice
        return cls(family, codes, defaults)

    @property
    def languages(self) -> list[str]:
        """Bare ISO codes the model serves, sorted."""
        return sorted({base(code) for code in self.codes})

    def code(self, language: str, *, role: str = "target") -> str:
        """The model's code for an ISO `language` (normalized first); UnknownLanguage when not served."""
        iso = normalize(language)
        if self.family == "marian-pair":
            if iso not in self.codes:
                raise UnknownLanguage(f"{role} language {iso!r} is not served by this model ({self.describe()})")
            return ""
        token = self.codes.get(iso) or self.defaults.get(base(iso))
        if token is None:
            raise UnknownLanguage(f"{role} language {iso!r} is not served by this model ({self.describe()})")
        return token

    def supports(self, source: str, target: str) -> bool:
        try:
            src, tgt = normalize(source), normalize(target)
        except UnknownLanguage:
            return False
        if self.pairs is not None:
            return (src, tgt) in self.pairs
        if self.sources is not None and base(src) not in self.sources:
            return False
        try:
            self.code(tgt)
            if self.family in ("nllb", "m2m100"):
                self.code(src, role="source")
        except UnknownLanguage:
            return False
        return True

    def describe(self) -> str:
        if self.pairs is not None:
            return ", ".join(f"{s}->{t}" for s, t in sorted(self.pairs))
        shown = self.languages
        text = ", ".join(shown[:20])
        return text + (f", ... ({len(shown)} languages)" if len(shown) > 20 else "")


MARIAN_PAIR_NAME = re.compile(r"opus-mt-([a-z]{2,3})-([a-z]{2,3})(?:$|[^a-z])")


def pair_from_name(model_name: str) -> tuple[str, str] | None:
    """`Helsinki-NLP/opus-mt-en-de` -> ("en", "de"); None for names that do not say."""
    match = MARIAN_PAIR_NAME.search(model_name.lower())
    if not match:
        return None
    try:
        return normalize(match.group(1)), normalize(match.group(2))
    except UnknownLanguage:
        return None
