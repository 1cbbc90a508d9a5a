"""The request id of each request: the `X-Request-ID` header, taken from the request when it is a
short printable value, else made up, and sent back on the response.

Its own module because more than the middleware needs it: log lines and trace spans carry the id of
the request being served (`request_id()`), while `install_observability` only puts the layers that
set it around the app.
"""

from __future__ import annotations

import re
import uuid

from asgi_correlation_id import correlation_id
from starlette.types import ASGIApp, Receive, Scope, Send

#: Header carrying the request id, read from the request and set on every response.
REQUEST_ID_HEADER = "X-Request-ID"

#: Request ids a client may send: short and printable, so they are safe in headers and logs.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:@+=/-]{1,128}$")


def valid_request_id(value: str) -> bool:
    return bool(_REQUEST_ID_RE.match(value))


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return correlation_id.get()


class FreshRequestContext:
    """Outermost layer: each request starts without a request id, and leaves none behind."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = correlation_id.set(None)
        try:
            await self.app(scope, receive, send)
        finally:
            correlation_id.reset(token)


__all__ = [
    "REQUEST_ID_HEADER",
    "FreshRequestContext",
    "new_request_id",
    "request_id",
    "valid_request_id",
]
