"""Language detection: accuracy on the shared sentence sets, short and mixed text, the evaluation bench."""

from __future__ import annotations

import json
import subprocess
import sys

from ops.nlp.detect import UNDETERMINED, accuracy, detect, detect_languages, detect_many, majority_baseline
from tests.conftest import REPO_ROOT


def _sentences(folder):
    texts, labels = [], []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(line)
                labels.append(path.stem)
    return texts, labels


def test_accuracy_on_the_shared_sentence_sets(shared_data):
    texts, labels = _sentences(shared_data / "nlp" / "lingua_sentences")
    assert len(set(labels)) == 8 and len(texts) >= 7_900
    assert accuracy(detect_languages(texts), labels) >= 0.97


def test_confidence_and_alternatives():
    result = detect("Der Bitcoin ist heute deutlich gestiegen, sagen die Analysten.")
    assert result.language == "de" and result.reliable and result.confidence > 0.5
    assert result.alternatives and all(conf < result.confidence for _, conf in result.alternatives)


def test_short_and_empty_text_are_flagged():
    short = detect("ok")
    assert not short.reliable
    empty = detect_many(["", "12345 !!"])
    assert [d.language for d in empty] == [UNDETERMINED, UNDETERMINED]
    assert not any(d.reliable for d in empty)


def test_mixed_language_text_is_segmented():
    text = "The price of bitcoin went up again this morning. Aber die Analysten bleiben heute sehr vorsichtig."
    result = detect(text)
    assert result.mixed
    languages = [s.language for s in result.segments]
    assert languages == ["en", "de"]
    assert result.segments[0].start == 0 and result.segments[-1].end == len(text)


def test_majority_baseline():
    assert majority_baseline(["en", "de", "en"]) == ("en", 2 / 3)


def test_langdetect_bench_prints_the_ratio_line(tmp_path):
    (tmp_path / "en.txt").write_text("The market is calm today and prices are stable.\nInvestors are cautious.\n")
    (tmp_path / "de.txt").write_text("Der Markt ist heute ruhig und die Preise sind stabil.\n")
    (tmp_path / "fr.txt").write_text("Le marché est calme aujourd'hui et les prix sont stables.\n")
    out = subprocess.run(
        [sys.executable, "bench/langdetect_eval.py", "--corpus", "sentences", "--sentences", str(tmp_path), "--languages", "en,de,fr,es"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout.strip().splitlines()
    line = json.loads(out[-1])
    assert line["bench"] == "langdetect_eval" and line["ours"] == 1.0
    # The baseline is fastText's identifier, held to the same candidate languages.
    assert line["baseline"] == 1.0 and line["ratio"] == 1.0
    assert line["corpora"][0]["buckets"]["all"]["majority"] == 0.5
