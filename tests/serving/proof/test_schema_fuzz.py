"""Property-based proof of the API contract: every operation of the app's OpenAPI schema, fuzzed in
process, answers without a server error and as its schema says (status code, content type, body).

The operations are read from the schema the app serves, so a router mounted later (new domains,
metrics, the dashboard) is fuzzed without editing this file. Requests carry a valid read token
(the auth matrix covers the others); the warehouse holds a few bars, their daily summaries and
their features. One app per warehouse backend serves every test of this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from resources.warehouse import Warehouse
from serving.app import create_app
from tests.serving.proof.conftest import SYMBOL, auth, fresh_postgres_database, issue, proof_settings, seed

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
SCHEMA_PATH = "/api/openapi.json"


def _openapi() -> dict[str, Any]:
    """The schema of an app built (never started) with the settings of these tests: opens nothing."""
    return create_app(settings=proof_settings(Path("/nonexistent-proof-home"), "sqlite://")).openapi()


OPENAPI = _openapi()
OPERATIONS = sorted(f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item)
#: Operations that take some input besides the token: the ones negative generation can break.
WITH_INPUTS = {
    f"{method.upper()} {path}"
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
    if operation.get("parameters") or operation.get("requestBody")
}
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in OPERATIONS if label in WITH_INPUTS
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory) -> Iterator[tuple[Any, dict[str, str]]]:
    """(schemathesis schema loaded from the running app, the read token's header), per backend."""
    home = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        yield from _serve(home, f"sqlite:///{home / 'warehouse.sqlite'}")
    else:
        with fresh_postgres_database(request.getfixturevalue("postgres_admin_url")) as url:
            yield from _serve(home, url)


def _serve(home: Path, url: str) -> Iterator[tuple[Any, dict[str, str]]]:
    warehouse = Warehouse(url)
    try:
        seed(warehouse)
        header = auth(issue(warehouse, "fuzzer"))
        app = create_app(settings=proof_settings(home / "home", url), warehouse=warehouse)
        try:
            yield schemathesis.openapi.from_asgi(SCHEMA_PATH, app), header
        finally:
            # The in-process transport keeps the apps it started running until told to stop them.
            schemathesis_asgi.shutdown_lifespans()
    finally:
        warehouse.dispose()


def test_every_operation_is_fuzzed(api) -> None:
    """The parametrization below covers exactly the operations the running app publishes."""
    schema, _ = api
    assert sorted(result.ok().label for result in schema.get_all_operations()) == OPERATIONS


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_operation_conforms(api, label: str, mode: GenerationMode) -> None:
    schema, header = api
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the schema the app serves"

    @hypothesis_settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    # The token is fixed in the strategy, so negative generation never drops it (a 401 is the auth
    # matrix's business), and passed again on the call so it wins over anything generated.
    @given(case=operation.as_strategy(generation_mode=mode, headers=header))
    def fuzz(case) -> None:
        case.call_and_validate(headers=header, checks=CHECKS)

    fuzz()


# -- answers of the gateway itself ------------------------------------------------------------------
def test_gateway_answers_are_documented() -> None:
    """Clients generated from the schema must know a protected route can answer 401, 403 and 429."""
    missing = {}
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            if not operation.get("security"):
                continue  # open route
            absent = {"401", "403", "429"} - set(operation.get("responses", {}))
            if absent:
                missing[f"{method.upper()} {path}"] = sorted(absent)
    assert not missing, missing


# -- boundary values ------------------------------------------------------------------------------
# Random generation rarely reaches the ends of a type's range; these valid values are sent to every
# parameter of their type, one at a time.
DATE_TIME_EDGES: list[tuple[str, list[pytest.MarkDecorator]]] = [
    ("0001-01-01T00:00:00Z", []),
    ("9999-12-31T23:59:59.999999Z", []),
    ("2024-01-01T00:00:00+14:00", []),
    ("0001-01-01T00:00:00+05:00", []),
    ("9999-12-31T23:59:59-05:00", []),
]
DATE_EDGES = ["0001-01-01", "9999-12-31"]
PATH_EDGES = [SYMBOL, "A" * 40, "0._:-"]


def _kinds(schema: dict[str, Any]) -> set[str]:
    """`date-time`, `date`, `integer` or `string` for a parameter schema (through anyOf)."""
    out: set[str] = set()
    for option in [schema, *schema.get("anyOf", [])]:
        if "format" in option:
            out.add(option["format"])
        elif option.get("type") in ("integer", "string"):
            out.add(option["type"])
    return out


def _integer_edges(schema: dict[str, Any]) -> list[int]:
    minimum = next((o["minimum"] for o in [schema, *schema.get("anyOf", [])] if "minimum" in o), -(2**63))
    return [minimum, 2**31, 2**63, 10**30]


def _boundary_cases() -> list[Any]:
    cases = []
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                where, name, schema = parameter["in"], parameter["name"], parameter.get("schema", {})
                kinds = _kinds(schema)
                values: list[tuple[Any, list[pytest.MarkDecorator]]] = []
                if where == "path":
                    values = [(value, []) for value in PATH_EDGES]
                elif where != "query":
                    continue
                elif "date-time" in kinds:
                    values = DATE_TIME_EDGES
                elif "date" in kinds:
                    values = [(value, []) for value in DATE_EDGES]
                elif "integer" in kinds:
                    values = [(value, []) for value in _integer_edges(schema)]
                for value, marks in values:
                    cases.append(
                        pytest.param(label, where, name, value, marks=marks, id=f"{label} {name}={value}")
                    )
    return cases


@pytest.mark.parametrize(("label", "where", "name", "value"), _boundary_cases())
def test_boundary_values(api, label: str, where: str, name: str, value: Any) -> None:
    schema, header = api
    operation = schema.find_operation_by_label(label)
    path_parameters = {p.name: SYMBOL for p in operation.iter_parameters() if _location(p) == "path"}
    query: dict[str, Any] = {}
    if where == "path":
        path_parameters[name] = value
    else:
        query[name] = value
    case = operation.Case(path_parameters=path_parameters or None, query=query or None, headers=header)
    case.call_and_validate(headers=header, checks=CHECKS)


def _location(parameter) -> str:
    return getattr(parameter.location, "value", parameter.location)
