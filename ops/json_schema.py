"""Pieces of JSON Schema patterns built from the project's own tables, so a schema can state a rule
the server checks in Python (ECMA-262 regex: no case-insensitive flag, `\\d` only ASCII)."""

from __future__ import annotations

import re


def any_case(text: str) -> str:
    """`Local-Host.` -> `[lL][oO]...-[hH]...\\.`: each letter in both cases; digits and `-` as they are
    (`\\-` is not an escape every regex dialect takes), anything else escaped."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c if c.isalnum() or c == "-" else re.escape(c)
                   for c in text)
