"""Settings that may hold credentials reach Dagster resources by name, never by value.

A resource's configuration is shown in the Dagster UI and stored with every run. A WAREHOUSE_URL
with a password, or a CHAIN_RPC_URL with a provider key in its path, must therefore be passed as
`dg.EnvVar`: the UI shows the variable's name and the run worker reads the value from its own
environment. Code that uses the value outside a run (the CLI, tests) resolves it here; anything
that logs a URL logs `redact_url` of it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import dagster as dg


def by_name(name: str, value: str) -> str:
    """`dg.EnvVar(name)` when the environment variable holds `value` (it came from there), else `value`
    (a default, or a setting a test passed in code: there is no variable for a run to read)."""
    return dg.EnvVar(name) if os.environ.get(name) == value else value


def resolved(value: str) -> str:
    """The value behind an `EnvVar` (a resource used outside a run), else `value` itself."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


def redact_url(url: str) -> str:
    """`url` fit for a log line: no password, and only the first segment of a path (provider
    endpoints such as `/v3/<key>` carry the key there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        return url  # a local path or a name: nothing secret in it
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.password is not None:
        host = f"{parts.username or ''}:***@{host}"
    elif parts.username:
        host = f"{parts.username}@{host}"
    segments = [s for s in parts.path.split("/") if s]
    path = f"/{segments[0]}/***" if len(segments) > 1 else parts.path
    return urlunsplit((parts.scheme, host, path, "", ""))
