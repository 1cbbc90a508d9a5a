"""The API schema's patterns for language codes and callback URLs admit exactly what the server takes:
every string a pattern generates passes the server's own rule, and the rule's refusals fail the pattern."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.nlp.callbacks import callback_pattern, callback_problem
from ops.nlp.langcodes import CODE_PATTERN, UnknownLanguage, normalize

HOSTS = ["hooks.example.org", "ci-runner"]


@given(st.from_regex(CODE_PATTERN, fullmatch=True))
def test_every_code_the_pattern_admits_normalizes(code):
    assert normalize(code)


@given(st.from_regex(callback_pattern(HOSTS), fullmatch=True))
def test_every_callback_the_pattern_admits_is_allowed(url):
    assert callback_problem(url, HOSTS) is None


@pytest.mark.parametrize("code", ["xq", "", "d", "deuu", " de", "de-Latn-x", "d3"])
def test_codes_the_server_refuses_fail_the_pattern(code):
    assert not re.match(CODE_PATTERN, code)
    if code.strip() != "de":
        with pytest.raises(UnknownLanguage):
            normalize(code)


@pytest.mark.parametrize("url", [
    "http://evil.com/", "http://127.0.0.256/", "http://localhost:65536/", "ftp://localhost/",
    "http://u:p@localhost/", "http://localhost.evil.com/", "", "http://hooks.example.org.evil.com/",
])
def test_callbacks_the_server_refuses_fail_the_pattern(url):
    assert not re.match(callback_pattern(HOSTS), url)
    assert callback_problem(url, HOSTS) is not None
