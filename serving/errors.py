"""How failures become HTTP answers.

Clients get a short, stable `{"detail": ...}` body and a status that says whose problem it is:
404 for data that is not there (yet), 422 for a bad request (FastAPI's own format, naming the
field), 503 when the warehouse does not answer (retry later), 500 for everything else. Bodies
never carry exception text or stack traces; those go to the log.

A 422 echoes the offending input, which may be a value JSON cannot carry (a NaN from a query
string, a lone surrogate): it is echoed as text, so the error answer itself never fails. A 500 is
answered and logged here, and then not raised further: the server would otherwise drop the
keep-alive connection after sending it, and the client's next request on it would be reset.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("serving.errors")

WAREHOUSE_UNAVAILABLE = "warehouse unavailable, try again shortly"
INTERNAL_ERROR = "internal error"
#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 5


class NotMaterialized(Exception):
    """A warehouse table the endpoint reads has not been written by its asset yet."""

    def __init__(self, table: str):
        super().__init__(table)
        self.table = table

    @property
    def detail(self) -> str:
        return f"data set {self.table!r} has not been materialized yet; run its asset and try again"


#: Documented error answers, for the `responses=` of routes (OpenAPI only; the handlers do the work).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown symbol, or the data set has not been materialized yet."},
    503: {"description": "The warehouse does not answer; retry shortly."},
}


def query_error(field: str, message: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own format for a rule that spans parameters (e.g. start < end)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}]
    )


async def _not_materialized(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotMaterialized)
    return JSONResponse(status_code=404, content={"detail": exc.detail})


async def _warehouse_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "warehouse error on %s %s: %s",
        request.method,
        request.url.path,
        exc.__class__.__name__,
        exc_info=exc,
    )
    return JSONResponse(
        status_code=503,
        content={"detail": WAREHOUSE_UNAVAILABLE},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


#: What FastAPI says (as a 400) when a body cannot even be decoded, e.g. bytes that are not UTF-8.
_UNPARSEABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except an undecodable body: that is a validation error like any other
    malformed JSON (422 naming the body), not a bare 400 no client schema documents."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {"type": "json_invalid", "loc": ["body"], "msg": "the body is not valid JSON text (UTF-8)", "input": None}
                ]
            },
        )
    return await http_exception_handler(request, exc)


def json_safe(value: Any) -> Any:
    """`value` with what JSON cannot carry made text: non-finite floats, strings that are not Unicode."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (`{"detail": [errors]}`), with the echoed inputs made JSON-safe."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": INTERNAL_ERROR})


class AnsweredErrors:
    """Outermost: an exception that arrives after its 500 was sent (and logged) stops here.

    Starlette's error middleware sends the 500 and then raises again so that servers can log it; a
    server that sees an exception after a complete response closes the connection. The access log
    inside has already counted it; raising further would only cost the client its connection.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = False

        async def tracking_send(message: Message) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if not answered:
                raise


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above, and `AnsweredErrors` around the whole stack (request ids, access log
    and Starlette's error middleware included)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotMaterialized, _not_materialized)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # OperationalError, InterfaceError and the rest of the driver errors, plus an exhausted pool.
    app.add_exception_handler(sa_exc.DBAPIError, _warehouse_unavailable)
    app.add_exception_handler(sa_exc.TimeoutError, _warehouse_unavailable)
    # Starlette runs the `Exception` handler in its outermost middleware, after the others failed.
    app.add_exception_handler(Exception, _internal_error)
    build_inner = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return AnsweredErrors(build_inner())

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


__all__ = [
    "ERROR_RESPONSES",
    "INTERNAL_ERROR",
    "WAREHOUSE_UNAVAILABLE",
    "NotMaterialized",
    "install_error_handlers",
    "query_error",
]
