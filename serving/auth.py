"""Bearer-token authentication and scope checks, as FastAPI dependencies.

The app puts a `resources.tokens.TokenStore` on `app.state.token_store`; a route asks for a scope
with `ReadPrincipal`, `WritePrincipal` or `AdminPrincipal` (or `Depends(require_scopes(...))`):

    @router.get("/things")
    def things(principal: ReadPrincipal): ...

Answers follow RFC 6750: no credentials -> 401 with `WWW-Authenticate: Bearer`; a malformed,
unknown, wrong or revoked token -> 401 with `WWW-Authenticate: Bearer error="invalid_token"`; a
valid token without the scope -> 403 `{"detail": "missing scope 'write'"}` (with
`error="insufficient_scope"` in the header). The authenticated principal is left on
`request.state.principal` for logging (`user_id` = its client_id), rate limiting and caching.

Failed authentications are rate-limited by address before the 401 is answered
(`serving.ratelimit.limit_failed_authentication`): past the address's budget of failures the answer
is 429 with Retry-After. A valid token is never counted there, only on its client's own budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from resources.tokens import SCOPES, Principal, TokenStore

MISSING_TOKEN = "missing bearer token"
INVALID_TOKEN = "invalid or revoked token"

#: Documents the scheme in OpenAPI (the "Authorize" button); the header is parsed below.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="sxt_<token_id>_<secret>",
    description="A token from `sextant token create`.",
)


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


def get_token_store(request: Request) -> TokenStore:
    store = getattr(request.app.state, "token_store", None)
    if store is None:
        # Fail closed: a misconfigured app answers 500, never lets a request through.
        raise RuntimeError("no token store on app.state.token_store: authentication is not set up")
    return store


def bearer_credentials(header: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer <token>` value (scheme case-insensitive), or None;
    the one parser of the routers, the fast path and the stream."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def bearer_token(request: Request) -> str | None:
    """`bearer_credentials` of the request's Authorization header."""
    return bearer_credentials(request.headers.get("authorization"))


async def _count_failure(request: Request) -> None:
    """Count a failed authentication against the caller's address (429 past its budget)."""
    # Imported here, at call time: at the top it would load serving.ratelimit (and the observability
    # modules it imports) for every importer of this module, serving.observability.metrics among them.
    from serving.ratelimit import limit_failed_authentication

    await limit_failed_authentication(request)


async def verify_token(store: TokenStore, token: str) -> Principal | None:
    """The token's principal, or None: from the store's memo inline, else the database in a worker thread."""
    known, principal = store.verify_memoized(token)
    if not known:
        principal = await to_thread.run_sync(store.verify, token)
    return principal


async def authenticate(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
) -> Principal:
    """The caller's principal, or 401 (429 once the address spent its budget of failures).
    Sets `request.state.principal`.

    A token the store has memoized is checked inline (and a malformed one refused without the
    database); a memo miss queries the database, so it runs in a worker thread.
    """
    token = bearer_token(request)
    if token is None:
        await _count_failure(request)
        raise _unauthorized(MISSING_TOKEN)
    principal = await verify_token(get_token_store(request), token)
    if principal is None:
        await _count_failure(request)
        raise _unauthorized(INVALID_TOKEN, "invalid_token")
    request.state.principal = principal
    return principal


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and then demands every one of `scopes` (403 naming a missing one).

    Scopes nest (admin > write > read), so an admin token passes a `write` requirement.
    """
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; expected one of {', '.join(SCOPES)}")
    required = tuple(dict.fromkeys(scopes))

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        for scope in required:
            if scope not in principal.scopes:
                raise HTTPException(
                    status_code=403,
                    detail=f"missing scope {scope!r}",
                    headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
                )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_scopes_{'_'.join(required) or 'none'}"
    return dependency


#: Any valid token.
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
ReadPrincipal = Annotated[Principal, Depends(require_scopes("read"))]
WritePrincipal = Annotated[Principal, Depends(require_scopes("write"))]
AdminPrincipal = Annotated[Principal, Depends(require_scopes("admin"))]

__all__ = [
    "INVALID_TOKEN",
    "MISSING_TOKEN",
    "AdminPrincipal",
    "CurrentPrincipal",
    "ReadPrincipal",
    "WritePrincipal",
    "authenticate",
    "bearer_credentials",
    "bearer_scheme",
    "bearer_token",
    "get_token_store",
    "require_scopes",
    "verify_token",
]
