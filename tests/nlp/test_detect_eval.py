"""Scoring detectors per length: paired intervals, the buckets, the bench on the independent corpus."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ops.nlp.detect_eval import ALL, best_allowed, length_bucket, paired_difference, score_by_length
from tests.conftest import REPO_ROOT


def test_paired_difference_is_centred_on_the_mean_and_shrinks_with_n():
    ours = [True, True, True, False] * 25
    base = [True, False, True, False] * 25
    mean, low, high = paired_difference(ours, base)
    assert mean == pytest.approx(0.25) and low < 0.25 < high
    _, low4, high4 = paired_difference(ours * 4, base * 4)
    assert high4 - low4 == pytest.approx((high - low) / 2, rel=0.02)
    assert paired_difference([True] * 5, [True] * 5) == (0.0, 0.0, 0.0)


def test_length_buckets_count_collapsed_characters():
    assert length_bucket("a" * 20) == "1-20"
    assert length_bucket("a" * 21) == "21-50"
    assert length_bucket("  a   b  ") == "1-20"
    assert length_bucket("x" * 100) == "51-100" and length_bucket("x" * 101) == ">100"


def test_score_by_length_splits_and_totals():
    texts = ["kurz", "a much longer text that goes well past fifty characters in all", "short"]
    labels = ["de", "en", "en"]
    scores = score_by_length(
        texts, labels, {"ours": ["de", "en", "de"], "base": ["en", "en", "en"]}, ours="ours", reference="base"
    )
    by = {s.bucket: s for s in scores}
    assert set(by) == {"1-20", "51-100", ALL}
    assert by["1-20"].n == 2 and by["1-20"].accuracy["ours"].correct == 1 and by["1-20"].accuracy["base"].correct == 1
    assert by[ALL].n == 3 and by[ALL].accuracy["ours"].value == pytest.approx(2 / 3)
    assert by[ALL].difference[0] == pytest.approx(0.0)


def test_best_allowed_holds_a_wide_detector_to_our_candidates():
    assert best_allowed(["ceb", "war", "pt", "es"], {"pt", "es"}, "und") == "pt"
    assert best_allowed(["ceb"], {"pt"}, "und") == "und"


def _bench(*args):
    out = subprocess.run(
        [sys.executable, "bench/langdetect_eval.py", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout.strip().splitlines()
    return json.loads(out[-1])


def test_independent_corpus_bench_reports_buckets_with_intervals():
    line = _bench("--corpus", "gettext", "--sample", "60")
    assert line["corpus"] == "gettext"
    result = line["corpora"][-1]
    assert result["texts"] == 8 * 60
    buckets = result["buckets"]
    assert sum(b["n"] for name, b in buckets.items() if name != ALL) == buckets[ALL]["n"] == 8 * 60
    for b in buckets.values():
        low, high = b["ours_ci95"]
        assert low <= b["ours"] <= high
        assert b["difference_ci95"][0] <= round(b["ours"] - b["fasttext"], 4) + 1e-4
    # Short text is where detection fails: the shortest bucket is the hardest for both detectors.
    assert buckets["1-20"]["ours"] < buckets[ALL]["ours"] and buckets["1-20"]["fasttext"] < buckets[ALL]["fasttext"]
    assert line["baseline"] == buckets[ALL]["fasttext"] and 0 < line["baseline"] <= 1


def test_not_worse_than_fasttext_on_the_independent_corpus():
    """A regression guard on the whole corpus (seconds): ours may not fall clearly below fastText's."""
    line = _bench("--corpus", "gettext")
    assert line["corpora"][-1]["texts"] > 5_000
    low, _ = line["difference_ci95"]
    assert low > -0.01, line["corpora"][-1]["buckets"]
