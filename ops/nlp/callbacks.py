"""Which callback URLs a batch may name: loopback, or hosts the operator listed.

A callback is a request the platform makes on a client's behalf; an open one would let any client
make the pipeline call internal services (server-side request forgery). Only loopback addresses
and the hosts in `NLP_CALLBACK_HOSTS` are allowed, over http or https, without credentials in the URL.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


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
