"""Field types for request bodies that accept what their OpenAPI schema says, and nothing more.

Pydantic's lax mode turns `false` into 0, `0` into False and `0.5` or `"1700000000"` into a
datetime of 1970: a client's mistake stored as data. The schema says boolean, number, date-time;
these types hold the server to it (JSON numbers stay numbers: an integer is a valid number).
Date-times are `serving.params.IsoDateTime`, the type the query parameters use.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool

from serving.params import IsoDateTime


def _not_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("expected an integer (a JSON number such as 1 or 1.0, not a boolean or text)")  # noqa: TRY004 - pydantic makes only ValueError a 422
    return value


#: A JSON number (integers included), never a boolean or a numeric string.
Number = Annotated[float, Field(strict=True)]
#: A JSON integer as JSON Schema means it: 1 or 1.0, never 1.5, `true` or "1".
Integer = Annotated[int, BeforeValidator(_not_bool_or_text)]

__all__ = ["Integer", "IsoDateTime", "Number", "StrictBool"]
