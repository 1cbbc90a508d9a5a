"""Query parameter types whose OpenAPI schema says exactly what the server accepts.

FastAPI's plain `datetime` and `date` parameters are lax: pydantic takes `0.5` as a unix time and
`0` as 1970-01-01, while the schema they publish says `format: date-time` / `format: date`. The
types here accept ISO 8601 text only, and describe in the schema every form they accept:

- `IsoDateTime`: an RFC 3339 date-time (`2024-01-01T05:00:00Z`, `...+02:00`), the same without an
  offset (`2024-01-01T05:00:00`, read as UTC by the routes), or a date (`2024-01-01`, midnight).
- `IsoDate`: a date, `YYYY-MM-DD`, and nothing else.

Anything else (numbers, `yesterday`, `2024-02-30`) is a 422 naming the parameter. The integer
bounds are the limits every route declares (`le=`), so the schema refuses what the server or the
database cannot take instead of the server answering it with an undeclared error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

#: Largest page any route returns (`le` of every `limit`); MAX_PAGE_SIZE can only lower it.
PAGE_SIZE_CEILING = 5000
#: Largest offset, block number or count a query may name: the largest integer every JSON client
#: reads exactly (2**53 - 1), far above any row count or block height, and well inside the int64
#: the databases bind (so `offset + limit` and `block + span` never overflow).
MAX_QUERY_INT = 2**53 - 1
#: How the `limit` of every paged route describes the ceiling.
PAGE_SIZE_NOTE = (
    f"at most {PAGE_SIZE_CEILING}; a deployment may serve smaller pages (MAX_PAGE_SIZE): a larger limit is "
    "cut to that size, and the answer's limit is the page size used"
)


def page_size(limit: int | None, default: int, max_page_size: int) -> int:
    """The page size served: `limit` (or `default`), cut to the deployment's MAX_PAGE_SIZE.

    The schema declares `le=PAGE_SIZE_CEILING`. A deployment that serves smaller pages answers a
    larger, schema-valid limit with its own page size rather than refusing it, and says so in the
    answer's `limit`; `next_offset` continues from there.
    """
    return min(default if limit is None else limit, max(1, min(max_page_size, PAGE_SIZE_CEILING)))


# Years 0001-9999 (there is no year 0), and only days that exist: 29 February in leap years only.
_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
)
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
DATE_PATTERN = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
#: An RFC 3339 partial-time: hh:mm:ss (60 at a leap second) and any fraction of a second.
_TIME_PATTERN = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
#: A date-time without an offset (UTC by the routes' rule); the schema states it as a pattern.
NAIVE_DATETIME_PATTERN = rf"^{DATE_PATTERN}[Tt]{_TIME_PATTERN}$"

_DATE = re.compile(rf"^{DATE_PATTERN}$")
_DATETIME = re.compile(
    rf"^(?P<date>{DATE_PATTERN})[Tt](?P<hour>[0-9]{{2}}):(?P<minute>[0-9]{{2}}):(?P<second>[0-9]{{2}})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<offset>[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)

DATETIME_FORMS = (
    "an ISO 8601 date-time (2024-01-01T05:00:00Z, 2024-01-01T07:00:00+02:00, "
    "2024-01-01T05:00:00 with no offset) or a date (2024-01-01)"
)


def _parse_date(value: str) -> date:
    if _DATE.match(value) is None:
        raise ValueError(f"expected a date, YYYY-MM-DD (e.g. 2024-01-01), not {value!r}")
    return date.fromisoformat(value)


def parse_iso_date(value: Any) -> date:
    """`YYYY-MM-DD` text (or a `date` already) as a date; anything else is a ValueError."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return _parse_date(value if isinstance(value, str) else repr(value))


def parse_iso_datetime(value: Any) -> datetime:
    """ISO 8601 text (see `DATETIME_FORMS`) as a datetime, naive when the text has no offset.

    A date is its midnight. A leap second (:60) is the first instant after :59 (at the end of
    9999 the last representable one).
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        value = repr(value)  # not text: matches no form below
    if _DATE.match(value):
        return datetime.combine(date.fromisoformat(value), datetime.min.time())
    found = _DATETIME.match(value)
    if found is None or int(found["hour"]) > 23 or int(found["minute"]) > 59 or int(found["second"]) > 60:
        raise ValueError(f"expected {DATETIME_FORMS}, not {value!r}")
    day = date.fromisoformat(found["date"])
    second = int(found["second"])
    micro = int((found["fraction"] or "0")[:6].ljust(6, "0"))
    offset = found["offset"]
    tz: timezone | None = None
    if offset is not None:
        if offset in ("Z", "z"):
            tz = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    parsed = datetime(
        day.year,
        day.month,
        day.day,
        int(found["hour"]),
        int(found["minute"]),
        min(second, 59),
        micro,
        tzinfo=tz,
    )
    if second == 60:  # 23:59:60 is one second after 23:59:59 (POSIX time has no leap seconds)
        try:
            parsed += timedelta(seconds=1)
        except OverflowError:  # 9999-12-31T23:59:60: the last representable instant stands for it
            parsed = parsed.replace(microsecond=999_999)
    return parsed


IsoDateTime = Annotated[
    datetime,
    BeforeValidator(parse_iso_datetime),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
                {"type": "string", "pattern": NAIVE_DATETIME_PATTERN},
            ]
        }
    ),
]

IsoDate = Annotated[
    date,
    BeforeValidator(parse_iso_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]
