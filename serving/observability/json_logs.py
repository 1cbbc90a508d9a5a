"""JSON logging: one JSON object per line on stdout, for structlog loggers and stdlib loggers alike
(uvicorn, SQLAlchemy, our `logging.getLogger(...)` calls).

Every line has the same top-level keys (`timestamp`, `level`, `service`, `logger`, `message`,
`request_id`, `user_id`, `duration_ms`, `metadata`), so a log shipper indexes them without parsing
rules per logger. Named `json_logs`, not `logging`, so it never shadows the standard library module.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from asgi_correlation_id import correlation_id
from starlette.types import Scope

#: Set by the access middleware for the duration of a request: its ASGI scope (for the user id,
#: which the auth dependency puts in `scope["state"]` after the middleware started).
current_request_scope: ContextVar[Scope | None] = ContextVar("sextant_request_scope", default=None)
_service_name = "sextant"
_HANDLER_MARK = "_sextant_json_handler"
#: Keys every line carries at the top level; anything else goes under `metadata`.
_TOP_LEVEL = ("timestamp", "level", "service", "logger", "message", "request_id", "user_id", "duration_ms")
#: Noise uvicorn attaches to its records (an ANSI-colored copy of the message).
_DROPPED = frozenset({"color_message", "positional_args"})


def user_id_of(scope: Scope | None) -> str | None:
    """The `client_id` of the principal the auth dependency put in `scope["state"]`, or None."""
    if not scope:
        return None
    state = scope.get("state")
    principal = None
    if isinstance(state, Mapping):
        principal = state.get("principal")
    elif state is not None:
        principal = getattr(state, "principal", None)
    if principal is None:
        return None
    user = (
        principal.get("client_id")
        if isinstance(principal, Mapping)
        else getattr(principal, "client_id", None)
    )
    return None if user is None else str(user)


def _add_context(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if event_dict.get("service") is None:
        event_dict["service"] = _service_name
    event_dict.setdefault("request_id", correlation_id.get())
    if event_dict.get("user_id") is None:
        event_dict["user_id"] = user_id_of(current_request_scope.get())
    event_dict.setdefault("duration_ms", None)
    return event_dict


def _shape(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Fixed top-level keys in a fixed order; the rest under `metadata`."""
    out: dict[str, Any] = {key: event_dict.pop(key, None) for key in _TOP_LEVEL}
    exception = event_dict.pop("exception", None)
    metadata = event_dict.pop("metadata", None)
    metadata = (
        dict(metadata) if isinstance(metadata, Mapping) else ({} if metadata is None else {"value": metadata})
    )
    for key, value in event_dict.items():
        if key not in _DROPPED and not key.startswith("_"):
            metadata[key] = value
    out["metadata"] = metadata
    if exception:
        out["exception"] = exception
    return out


class _StdoutHandler(logging.StreamHandler):
    """Writes to the *current* sys.stdout (test capture and reassigned streams included)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(service_name: str, level: str | int = "INFO", *, uvicorn_access: bool = False) -> None:
    """JSON lines on stdout for structlog and stdlib loggers alike. Idempotent: calling again replaces it.

    Uvicorn's loggers lose their own handlers and propagate to the root handler, so their lines are
    JSON too. `uvicorn.access` is quieted unless `uvicorn_access` is true: the access middleware of
    `install_observability` already writes one richer line per request.
    """
    global _service_name
    _service_name = service_name

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    pre_chain = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        timestamper,
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.PositionalArgumentsFormatter(),
            timestamper,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_context,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            _shape,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else str(level).upper())

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if uvicorn_access else logging.WARNING)


#: The same timestamp as `configure_logging`'s processors write.
_TIMESTAMPER = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")


def emit_structured(logger: logging.Logger, level: int, event: dict[str, Any]) -> None:
    """Hand `event` to a stdlib logger as structlog's bound logger would after its processors (context
    variables, level, logger name, timestamp): the JSON formatter writes the same line. Cheaper per
    line: no processor chain per call and no stack walk for the caller's file and line, which the
    JSON line does not show (the record names this module instead).

    When the JSON handler of `configure_logging` is the only one the line would reach (no other
    handler or filter on the way: the usual case in production), its formatter's processors render
    the line directly and it is written as that handler writes, without the two `LogRecord`s the
    logging module builds per line; otherwise the record goes through `logger.handle` as usual.
    """
    method = "error" if level >= logging.ERROR else "info"
    structlog.contextvars.merge_contextvars(None, method, event)
    event["level"] = method
    event["logger"] = logger.name
    _TIMESTAMPER(None, method, event)
    handler = _sole_json_handler(logger, level)
    if handler is None:
        record = logger.makeRecord(
            logger.name, level, __file__, 0, event, (), None, extra={"_logger": logger, "_name": method}
        )
        logger.handle(record)
        return
    formatter: structlog.stdlib.ProcessorFormatter = handler.formatter  # type: ignore[assignment]
    wrapped = formatter.logger if formatter.logger is not None else logger
    # What ProcessorFormatter.format hands its processors (ours never read the record itself).
    line: Any = {**event, "_record": None, "_from_structlog": True}
    for processor in formatter.processors:
        line = processor(wrapped, method, line)
    handler.acquire()
    try:
        handler.stream.write(f"{line}{handler.terminator}")
        handler.flush()
    finally:
        handler.release()


def _sole_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler | None:
    """`configure_logging`'s handler when a record of `logger` at `level` would reach it and nothing
    else (no other handler, no filter on the way, its JSON formatter in place); else None."""
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if found is not None or not getattr(handler, _HANDLER_MARK, False) or handler.filters:
                return None
            if level < handler.level or not isinstance(
                handler.formatter, structlog.stdlib.ProcessorFormatter
            ):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent  # type: ignore[assignment]
    return found


__all__ = [
    "configure_logging",
    "current_request_scope",
    "emit_structured",
    "user_id_of",
]
