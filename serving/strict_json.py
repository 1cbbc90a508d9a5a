"""Refuse JSON bodies that only Python's parser accepts, before any route reads them.

`json.loads` takes `NaN`, `Infinity` and `-Infinity` (not JSON numbers, RFC 8259) and strings holding
a lone UTF-16 surrogate such as `"\\udfff"` (valid JSON text, but no Unicode character: it cannot be
encoded as UTF-8, so it fails deep inside whatever touches it, as a 500). Both are answered here with
a 422 in FastAPI's own format, naming where in the body the value is. Everything else, malformed JSON
included, goes on to FastAPI unchanged (the body is replayed), so its messages stay its own.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.body_limit import replay

#: Methods whose body a route reads.
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class NotJSON(ValueError):
    """A value in the body that JSON (or Unicode) does not have; `loc` says where."""

    def __init__(self, kind: str, loc: list[str | int], msg: str):
        super().__init__(msg)
        self.kind, self.loc, self.msg = kind, loc, msg


def _no_constants(name: str) -> Any:
    raise NotJSON("json_invalid", ["body"], f"{name} is not a JSON number (RFC 8259); send a finite number or null")


def check_json(body: bytes) -> None:
    """Raise `NotJSON` for NaN/Infinity or a lone surrogate; return quietly otherwise (malformed JSON too)."""
    try:
        value = json.loads(body, parse_constant=_no_constants)
    except NotJSON:
        raise
    except ValueError:  # malformed or not UTF-8: FastAPI's own 422 says so
        return
    _check_strings(value, ["body"])


def _check_strings(value: Any, loc: list[str | int]) -> None:
    if isinstance(value, str):
        _encodable(value, loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            _encodable(key, loc)
            _check_strings(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, [*loc, index])


def _encodable(text: str, loc: list[str | int]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise NotJSON(
            "string_unicode", loc, f"lone surrogate U+{code:04X} at character {exc.start}: not a Unicode character"
        ) from None


class StrictJSONMiddleware:
    """422 for a JSON request body holding NaN, Infinity or a lone surrogate (see the module)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:  # bounded: the body-size limit wraps this middleware
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            check_json(body)
        except NotJSON as exc:
            error = {"type": exc.kind, "loc": exc.loc, "msg": exc.msg, "input": None}
            await JSONResponse(status_code=422, content={"detail": [error]})(scope, receive, send)
            return
        await self.app(scope, replay(messages, receive), send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False

