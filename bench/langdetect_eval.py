"""Evaluation: language detection accuracy against always answering the most frequent language.

Reads a folder of `<iso>.txt` files (one sentence a line; the file name is the language), detects
every sentence with `ops.nlp.detect` (lingua, built from the configured languages), prints the
accuracy per language and, as the very last line, one JSON object with the figures.

Usage: python bench/langdetect_eval.py --sentences ../shared/data/nlp/lingua_sentences [--languages en,de,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console
from rich.table import Table

from ops.nlp.detect import accuracy, detect_languages, majority_baseline, resolve_languages
from ops.nlp.langcodes import normalize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "nlp" / "lingua_sentences")
    parser.add_argument("--languages", default="", help="Comma-separated ISO codes lingua chooses among (default: "
                        "the built-in list; 'all' for every lingua language).")  # fmt: skip
    args = parser.parse_args()
    console = Console(stderr=True)

    texts, labels = [], []
    for path in sorted(args.sentences.glob("*.txt")):
        language = normalize(path.stem)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append(language)
    if not texts:
        raise SystemExit(f"no <iso>.txt sentence files in {args.sentences}")
    languages = resolve_languages([c for c in args.languages.split(",") if c.strip()] or None)
    with console.status(f"detecting {len(texts)} sentences among {len(languages)} languages"):
        started = time.perf_counter()
        predicted = detect_languages(texts, languages)
        seconds = time.perf_counter() - started

    table = Table(title=f"language detection, {len(texts)} sentences, {seconds:.1f} s")
    for column in ("language", "sentences", "accuracy"):
        table.add_column(column, justify="right")
    for language in sorted(set(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == language]
        table.add_row(language, str(len(idx)), f"{accuracy([predicted[i] for i in idx], [labels[i] for i in idx]):.4f}")
    console.print(table)

    ours = accuracy(predicted, labels)
    top, baseline = majority_baseline(labels)
    print(f"accuracy {ours:.4f} over {len(texts)} sentences; always '{top}': {baseline:.4f}")
    print(json.dumps({
        "bench": "langdetect_eval",
        "metric": "accuracy",
        "unit": "fraction",
        "ours": round(ours, 4),
        "baseline": round(baseline, 4),
        "baseline_name": f"most frequent language ({top})",
        "ratio": round(ours / baseline, 3) if baseline else None,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
