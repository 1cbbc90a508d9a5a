"""`/api/v1/graphql`: the schema behind the same gateway as REST (read scope, per-client limits).

The router is included with the REST gateway's dependencies, so a missing token is 401, a token
without `read` 403 and a client past its budget 429, before GraphQL runs. Queries are bounded by
depth, aliases, tokens and estimated cost (`serving.graphql.limits`); a refused query is a GraphQL
error naming the limit. Only POST and GET queries: no subscriptions (the live stream is
`/api/v1/stream`), no in-browser IDE (it would load scripts from a CDN).
"""

from __future__ import annotations

import logging

import strawberry
from cross_web import HTTPException as PlainHTTPException
from fastapi import HTTPException, Request
from fastapi.responses import PlainTextResponse
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.config import StrawberryConfig

from serving.graphql.limits import cost_limit
from serving.graphql.loaders import Loaders
from serving.graphql.schema import SCALARS, Query

log = logging.getLogger("serving.graphql")

PATH = "/api/v1/graphql"
#: address { cluster { ... } } is 3 deep, blocks { transactions { tokenTransfers { ... } } } 4.
MAX_DEPTH = 6
MAX_ALIASES = 20
MAX_TOKENS = 2_000
#: Rows and fields one query may reach (blocks(limit: 20) x transactions(limit: 50) x 5 fields = 5,000).
MAX_COST = 10_000


class Schema(strawberry.Schema):
    """Logs a refused or failed query as one line (the client has the message), a server fault with its traceback."""

    def process_errors(self, errors: list[GraphQLError], execution_context=None) -> None:
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, (ValueError, GraphQLError)):
                log.info("graphql query refused: %s", error.message)
            else:
                log.error("graphql resolver failed: %s", error.message, exc_info=original)


def build_schema() -> strawberry.Schema:
    return Schema(
        query=Query,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            # Factories: a fresh extension per request.
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            cost_limit(MAX_COST),  # last: it runs the validation the rules above added
        ],
    )


async def _context(request: Request) -> dict:
    state = request.app.state
    return {"loaders": Loaders(state.warehouse, state.guard)}


REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1,
                      "description": "The GraphQL document (see GET /api/v1/graphql/schema)."},
            "variables": {"type": ["object", "null"]},
            "operationName": {"type": ["string", "null"]},
        },
    }}},
}  # fmt: skip
DESCRIPTION = ("GraphQL over POST: blocks, transactions, address profiles (cluster, MEV roles, contract, risk "
               "score with reasons, transfers) and price forecasts, answered as the REST routes answer them. "
               "Errors in the query are GraphQL errors (200 with `errors`); a body that is not a GraphQL "
               "request is 400.")  # fmt: skip


class Router(GraphQLRouter):
    """strawberry's router, POST only, with the API's error answers and documented in OpenAPI.

    A body that is not a JSON object is a JSON 400 naming what is expected (strawberry answers `null`
    or a number with a 500, and its other refusals in plain text). The GET and WebSocket routes are
    dropped (no queries in URLs, no subscriptions: the live stream is /api/v1/stream); the SDL is at
    GET /api/v1/graphql/schema.
    """

    def __init__(self, schema: strawberry.Schema, **kwargs):
        super().__init__(schema, **kwargs)
        self.routes[:] = [r for r in self.routes if "POST" in getattr(r, "methods", ())]
        for route in self.routes:
            route.summary, route.description = "GraphQL query", DESCRIPTION
            route.openapi_extra = {"requestBody": REQUEST_BODY}
            route.responses = {**route.responses, 400: {"description": "The body is not a GraphQL request."}}
        sdl = schema.as_str() + "\n"
        self.add_api_route(f"{PATH}/schema", lambda: PlainTextResponse(sdl), methods=["GET"],
                           summary="The GraphQL schema (SDL)",
                           responses={200: {"content": {"text/plain": {}}, "description": "The SDL."}})  # fmt: skip

    def parse_json(self, data: str | bytes):
        try:
            parsed = self.decode_json(data)
        except ValueError:  # not JSON, or not UTF-8 (which strawberry lets through as a 500)
            raise HTTPException(400, "the body is not JSON (UTF-8)") from None
        if not isinstance(parsed, dict):
            raise HTTPException(400, 'the body must be a JSON object: {"query": "...", "variables": {...}}')
        for key, kinds, what in (("query", (str,), "a string"), ("variables", (dict, type(None)), "an object"),
                                 ("operationName", (str, type(None)), "a string")):  # fmt: skip
            if not isinstance(parsed.get(key), kinds) or (key == "query" and not parsed[key].strip()):
                raise HTTPException(400, f"{key} must be {what}" + (", not empty" if key == "query" else ""))
        return parsed

    async def parse_http_body(self, request):
        try:
            return await super().parse_http_body(request)
        except PlainHTTPException as exc:
            raise HTTPException(exc.status_code, exc.reason) from None


def build_router() -> GraphQLRouter:
    return Router(build_schema(), path=PATH, graphql_ide=None, context_getter=_context, subscription_protocols=(),
                  allow_queries_via_get=False)  # fmt: skip
