"""What the landing-folder sensors know of a file without reading it.

Two sensors (market CSV files, NLP input files) remember which files they have processed; both key
a file by the same signature, so the rule for "this file changed" is one rule.
"""

from __future__ import annotations

from pathlib import Path


def file_signature(path: Path) -> str:
    """Size and modification time: a file rewritten in place is processed again, an untouched one never."""
    stat = path.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"
