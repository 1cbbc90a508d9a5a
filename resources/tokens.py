"""API bearer tokens: issued by the CLI, verified by the serving gateway, kept in the warehouse.

A token reads `sxt_<token_id>_<secret>`: `token_id` is 12 hex characters, public (it names the
token in `sextant token list` and in `revoke`), and `secret` comes from `secrets.token_urlsafe(32)`
(256 random bits). Only `sha256(secret)` is stored, in hex, in the warehouse table `api_tokens`;
the plaintext is shown once, when it is created. A slow password KDF (bcrypt, scrypt, argon2)
protects low-entropy human passwords against guessing; a 256-bit random secret cannot be guessed
whatever the hash speed, so one SHA-256 is enough and keeps verification cheap. Hashes are
compared with `hmac.compare_digest` (constant time).

Scopes are `read`, `write` and `admin`, and they nest: `admin` implies `write` and `read`, `write`
implies `read`. The table keeps the scopes a token was granted; `Principal.scopes` holds the
effective set (the granted ones and everything they imply), so a check is `"read" in p.scopes`.

Verification does not query the database on every request: each `TokenStore` keeps an in-process
memo of token_id -> (stored hash, principal) for `cache_ttl` seconds (60 by default), bounded to
`cache_size` entries (least recently used evicted first). Only tokens found in the table are
memoized (a flood of made-up ids cannot evict real entries). `revoke` clears the entry at once in
the process that revoked; other processes and replicas keep accepting a revoked token until their
entry expires, so a revocation reaches every replica within `cache_ttl` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from resources.warehouse import TableSpec, Warehouse

#: Every scope, weakest first.
SCOPES: tuple[str, ...] = ("read", "write", "admin")
#: What each scope grants, itself included.
IMPLIED_SCOPES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"write", "read"}),
    "admin": frozenset({"admin", "write", "read"}),
}

TOKEN_PREFIX = "sxt"
TOKEN_ID_HEX_CHARS = 12
#: sxt_<12 lowercase hex>_<urlsafe base64>; the bounds on the secret refuse junk before any hashing.
_TOKEN_RE = re.compile(r"sxt_([0-9a-f]{12})_([A-Za-z0-9_-]{16,256})")

API_TOKENS = TableSpec(
    "api_tokens",
    {
        "token_id": pl.Utf8,
        "client_id": pl.Utf8,
        "scopes": pl.Utf8,  # granted scopes, comma-joined, in SCOPES order
        "secret_hash": pl.Utf8,  # sha256(secret), hex
        "created_at": pl.Datetime("us", "UTC"),
        "revoked_at": pl.Datetime("us", "UTC"),  # null while the token is active
    },
    ("token_id",),
)
#: The columns `TokenStore.list` shows: everything but the hash.
_PUBLIC_COLUMNS = ("token_id", "client_id", "scopes", "created_at", "revoked_at")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the client a token was issued to, and its effective scopes.

    `client_id` is the identity the gateway keys rate limits and caches on and logs as `user_id`.
    """

    client_id: str
    scopes: frozenset[str]
    token_id: str

    def has(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class IssuedToken:
    """A token just created. `token` is the only copy of the plaintext: show it once, then drop it."""

    token: str = field(repr=False)
    token_id: str
    client_id: str
    scopes: tuple[str, ...]  # as granted, in SCOPES order (not expanded)


def normalize_scopes(scopes: Iterable[str] | str) -> tuple[str, ...]:
    """The granted scopes, deduplicated, in SCOPES order. A string is read as `read,write`.

    Raises ValueError naming an unknown scope, or when no scope is given.
    """
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    wanted: set[str] = set()
    for raw in scopes:
        scope = str(raw).strip().lower()
        if not scope:
            continue
        if scope not in IMPLIED_SCOPES:
            raise ValueError(f"unknown scope {raw!r}; expected one of {', '.join(SCOPES)}")
        wanted.add(scope)
    if not wanted:
        raise ValueError(f"a token needs at least one scope ({', '.join(SCOPES)})")
    return tuple(s for s in SCOPES if s in wanted)


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The effective scopes: each known scope plus those it implies. Unknown names are dropped."""
    out: set[str] = set()
    for scope in scopes:
        out |= IMPLIED_SCOPES.get(scope.strip(), frozenset())
    return frozenset(out)


def parse_token(token: object) -> tuple[str, str] | None:
    """(token_id, secret) of a well-formed token, None for anything else (never raises)."""
    if not isinstance(token, str):
        return None
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    return match.group(1), match.group(2)


def hash_secret(secret: str) -> str:
    """What the table stores for a secret: its SHA-256 in hex (see the module docstring)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Entry:
    secret_hash: str
    principal: Principal | None  # None: the token is revoked
    expires: float


class _Memo:
    """A thread-safe, bounded, expiring map token_id -> _Entry.

    `generation` grows on every invalidation; a lookup started before one must not store what it
    read (it may predate the revocation), so `put` refuses a stale generation.
    """

    def __init__(self, ttl: float, size: int, clock: Callable[[], float]):
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_id: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(token_id)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._entries[token_id]
                return None
            self._entries.move_to_end(token_id)
            return entry

    def put(self, token_id: str, secret_hash: str, principal: Principal | None, generation: int) -> None:
        if self.ttl <= 0 or self.size <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            self._entries[token_id] = _Entry(secret_hash, principal, self._clock() + self.ttl)
            self._entries.move_to_end(token_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def invalidate(self, token_id: str | None = None) -> None:
        with self._lock:
            self.generation += 1
            if token_id is None:
                self._entries.clear()
            else:
                self._entries.pop(token_id, None)


class TokenStore:
    """Create, verify, list and revoke API tokens kept in the warehouse table `api_tokens`.

    Thread-safe: the API verifies from its threadpool. The table is created on the first `create`;
    until then every token is unknown.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        *,
        cache_ttl: float = 60.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.warehouse = warehouse
        self._memo = _Memo(cache_ttl, cache_size, clock)

    # -- issuing --------------------------------------------------------------------------------
    def create(self, client_id: str, scopes: Iterable[str] | str) -> IssuedToken:
        """Issue a token for `client_id` with `scopes`; the returned `token` is the only plaintext."""
        client_id = (client_id or "").strip()
        if not client_id:
            raise ValueError("client_id must not be empty")
        granted = normalize_scopes(scopes)
        token_id = self._new_token_id()
        secret = secrets.token_urlsafe(32)
        row = {
            "token_id": token_id,
            "client_id": client_id,
            "scopes": ",".join(granted),
            "secret_hash": hash_secret(secret),
            "created_at": datetime.now(UTC),
            "revoked_at": None,
        }
        self.warehouse.upsert(API_TOKENS, pl.DataFrame([row], schema=dict(API_TOKENS.schema)))
        self._memo.invalidate(token_id)
        return IssuedToken(f"{TOKEN_PREFIX}_{token_id}_{secret}", token_id, client_id, granted)

    def _new_token_id(self) -> str:
        # 48 random bits: a clash is very unlikely but an upsert would overwrite, so look first.
        for _ in range(8):
            token_id = secrets.token_hex(TOKEN_ID_HEX_CHARS // 2)
            if self._row(token_id) is None:
                return token_id
        raise RuntimeError("could not find an unused token id")

    # -- verifying ------------------------------------------------------------------------------
    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, active token; None when malformed, unknown, wrong or revoked.

        Bad input never raises. A database that does not answer does (the API turns that into a
        503, not a 401: an outage must not look like bad credentials).
        """
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        entry = self._memo.get(token_id)
        if entry is None:
            generation = self._memo.generation
            row = self._row(token_id)
            if row is None:
                return None
            principal = None
            if row["revoked_at"] is None:
                principal = Principal(
                    client_id=row["client_id"],
                    scopes=expand_scopes((row["scopes"] or "").split(",")),
                    token_id=token_id,
                )
            secret_hash = row["secret_hash"] or ""
            self._memo.put(token_id, secret_hash, principal, generation)
        else:
            secret_hash, principal = entry.secret_hash, entry.principal
        if not hmac.compare_digest(secret_hash.encode(), hash_secret(secret).encode()):
            return None
        return principal

    def verify_memoized(self, token: str) -> tuple[bool, Principal | None]:
        """(True, verify(token)) when that needs no database (malformed, or memoized); else (False, None).

        Lets an async caller answer most requests inline and hop to a thread only on a memo miss.
        """
        parsed = parse_token(token)
        if parsed is None:
            return True, None
        token_id, secret = parsed
        entry = self._memo.get(token_id)
        if entry is None:
            return False, None
        if not hmac.compare_digest(entry.secret_hash.encode(), hash_secret(secret).encode()):
            return True, None
        return True, entry.principal

    # -- managing -------------------------------------------------------------------------------
    def revoke(self, token_id: str) -> bool:
        """Revoke a token. True when it was active; False when unknown or already revoked.

        This process forgets it at once; other processes within their memo TTL.
        """
        row = self._row(token_id)
        if row is None:
            return False
        if row["revoked_at"] is not None:
            self._memo.invalidate(token_id)
            return False
        row["revoked_at"] = datetime.now(UTC)
        self.warehouse.upsert(API_TOKENS, pl.DataFrame([row], schema=dict(API_TOKENS.schema)))
        self._memo.invalidate(token_id)
        return True

    def list(self) -> list[dict[str, Any]]:
        """Every token, oldest first: token_id, client_id, scopes (granted), created_at, revoked_at, active.

        Never the hashes.
        """
        try:
            frame = self.warehouse.read(
                API_TOKENS.name, columns=list(_PUBLIC_COLUMNS), order_by=["created_at"]
            )
        except KeyError:  # no token was ever created
            return []
        out = []
        for row in frame.iter_rows(named=True):
            row["scopes"] = [s for s in (row["scopes"] or "").split(",") if s]
            row["active"] = row["revoked_at"] is None
            out.append(row)
        return out

    def clear_cache(self) -> None:
        """Forget every memoized token (the next verifications read the table)."""
        self._memo.invalidate()

    def _row(self, token_id: str) -> dict[str, Any] | None:
        try:
            frame = self.warehouse.read(
                API_TOKENS.name, {"token_id": token_id}, columns=list(API_TOKENS.schema)
            )
        except KeyError:  # the table does not exist yet: no token was ever created
            return None
        if frame.is_empty():
            return None
        return frame.row(0, named=True)


__all__ = [
    "API_TOKENS",
    "IMPLIED_SCOPES",
    "SCOPES",
    "IssuedToken",
    "Principal",
    "TokenStore",
    "expand_scopes",
    "hash_secret",
    "normalize_scopes",
    "parse_token",
]
