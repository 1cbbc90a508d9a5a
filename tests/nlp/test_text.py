"""Sentence splitting, markup preservation and length-bucketed batching."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ops.nlp.batching import in_order, length_buckets
from ops.nlp.text import pieces, reassemble, split_sentences


def test_sentences_keep_abbreviations_and_whitespace():
    text = "Dr. Smith bought BTC, e.g. at 5 p.m. today. He sold it!  Why?\nNo idea."
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert parts[0] == "Dr. Smith bought BTC, e.g. at 5 p.m. today. "
    assert [p.strip() for p in parts[1:]] == ["He sold it!", "Why?", "No idea."]


def test_markup_is_copied_and_only_prose_is_translated():
    text = 'Read <a href="https://x.org">the <b>report</b></a> at https://x.org/r?id=1 for {user}. `code` stays.'
    plan = pieces(text)
    translated = [p.text for p in plan if p.translate]
    assert translated == ["Read", "the", "report", "at", "for", "stays."]
    out = reassemble(plan, [t.upper() for t in translated])
    assert out == 'READ <a href="https://x.org">THE <b>REPORT</b></a> AT https://x.org/r?id=1 FOR {user}. `code` STAYS.'
    assert [p.text for p in pieces("<b>x</b>", keep_markup=False) if p.translate] == ["<b>x</b>"]


def test_long_sentences_are_cut_under_the_limit():
    text = "word " * 300 + "end."
    plan = pieces(text, max_chars=100)
    assert all(len(p.text) <= 100 for p in plan)
    assert "".join(p.text for p in plan) == text


@given(st.text(max_size=300))
def test_pieces_always_rejoin_to_the_text(text):
    plan = pieces(text, max_chars=50)
    assert "".join(p.text for p in plan) == text
    assert reassemble(plan, [p.text for p in plan if p.translate]) == text


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=80), st.integers(1, 16), st.integers(1, 400))
def test_buckets_cover_every_index_once_within_bounds(lengths, max_batch, max_tokens):
    batches = length_buckets(lengths, max_batch=max_batch, max_tokens=max_tokens)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= max_batch
        widest = max(max(1, lengths[i]) for i in batch)
        assert len(batch) == 1 or widest * len(batch) <= max_tokens
    results = [[f"r{i}" for i in b] for b in batches]
    assert in_order(batches, results, len(lengths)) == [f"r{i}" for i in range(len(lengths))]


def test_buckets_group_similar_lengths():
    lengths = [3, 50, 4, 48, 5, 52]
    assert length_buckets(lengths, max_batch=3, max_tokens=10_000) == [[5, 1, 3], [4, 2, 0]]
