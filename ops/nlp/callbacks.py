"""Which callback URLs a batch may name: loopback, or hosts the operator listed.

A callback is a request the platform makes on a client's behalf; an open one would let any client
make the pipeline call internal services (server-side request forgery). Only loopback addresses
and the hosts in `NLP_CALLBACK_HOSTS` are allowed, over http or https, without credentials in the URL.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from ops.json_schema import any_case

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


# [0-9], not \d: Python's \d takes any Unicode digit, which no URL port or address is.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9][0-9]|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"


def callback_pattern(allowed_hosts: Sequence[str]) -> str:
    """The URLs `callback_problem` allows, as a JSON Schema pattern (so the API schema can say it)."""
    hosts = [any_case(h) for h in sorted({*LOOPBACK_NAMES, *(h.lower() for h in allowed_hosts)})]
    hosts += [rf"127\.{_OCTET}\.{_OCTET}\.{_OCTET}", r"\[::1\]"]
    return rf"^[hH][tT][tT][pP][sS]?://(?:{'|'.join(hosts)})(?::{_PORT})?(?:[/?#][\s\S]*)?$"


def callback_problem(url: str, allowed_hosts: Sequence[str]) -> str | None:
    """None when `url` may be called back, else why not (safe to show to the client)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    del port
    if parts.scheme not in ("http", "https"):
        return "callback_url must be an http or https URL"
    if parts.username or parts.password:
        return "callback_url must not carry credentials"
    host = (parts.hostname or "").lower()
    if not host:
        return "callback_url has no host"
    if host in LOOPBACK_NAMES or host in {h.lower() for h in allowed_hosts}:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return f"callback host {host!r} is not allowed: only loopback or the hosts in NLP_CALLBACK_HOSTS"
