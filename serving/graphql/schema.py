"""The GraphQL schema: chain rows, an address profile, risk scores and price forecasts.

Types are not written twice. Block, Transaction and TokenTransfer fields are the columns of their
warehouse tables (camelCase); RiskScore and Forecast are generated from the REST response models;
the address profile's parts are what `GET /chain/address/{address}` answers. Resolvers call the
REST routes' own loaders, so one address asked both ways gives the same answer. Lists go through
the request's DataLoaders (`serving.graphql.loaders`). `python -m serving.graphql.schema` prints
the SDL, which tests/serving/graphql/schema.graphql pins.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from enum import Enum
from functools import partial
from typing import Any, NewType

import polars as pl
import strawberry
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.scalars import JSON
from strawberry.types import Info

from ops.chain.schema import BLOCKS_SCHEMA, TOKEN_TRANSFERS_SCHEMA, TRANSACTIONS_SCHEMA
from ops.fraud.schema import normalize_address
from serving.errors import NotMaterialized
from serving.graphql.limits import MAX_LIMIT
from serving.routers import chain, chain_intel, fraud, ml

BigInt = NewType("BigInt", int)
#: GraphQL's Int is 32-bit; gas prices, timestamps in ms and wei amounts do not fit.
SCALARS = {BigInt: strawberry.scalar(name="BigInt", serialize=int, parse_value=int,
                                     description="A 64-bit integer (GraphQL's Int is 32-bit).")}  # fmt: skip
ADDRESS = re.compile(chain.ADDRESS_PATTERN)
TX_HASH = re.compile(chain.HASH_PATTERN)
MAX_ADDRESSES = 20
#: The widest block span one `blocks` query may name.
MAX_BLOCK_SPAN = 10_000

_SCALARS = {pl.Int64: BigInt, pl.Float64: float, pl.Boolean: bool, pl.Utf8: str}


def _with_columns(cls: type, schema: dict[str, pl.DataType]) -> type:
    """Add one optional field per table column to `cls` (before strawberry.type reads its annotations)."""
    annotations = dict(inspect.get_annotations(cls))
    for column, dtype in schema.items():
        annotations[column] = _SCALARS.get(dtype, str) | None
        setattr(cls, column, None)
    cls.__annotations__ = annotations
    cls.columns = tuple(schema)
    return cls


def _row(cls: type, row: dict[str, Any] | None):
    return None if row is None else cls(**{c: row.get(c) for c in cls.columns})


def _limit(value: int, name: str = "limit") -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"{name} must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def _loaders(info: Info):
    return info.context["loaders"]


def _address(value: str) -> str:
    if not ADDRESS.match(value):
        raise ValueError(f"address must be 0x and 40 hex digits, got {value[:50]!r}")
    return normalize_address(value)


async def _rest(info: Info, fn, *args) -> Any:
    """`fn(warehouse, tables, *args)`, a REST loader, through the guard; None where REST answers 404."""
    state = info.context["request"].app.state
    try:
        return await state.guard.call("warehouse", fn, state.warehouse, state.tables, *args)
    except (HTTPException, NotMaterialized) as exc:
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            raise ValueError(str(exc.detail)) from exc
        return None


# -- chain rows -----------------------------------------------------------------------------------
@strawberry.type(description="An indexed block header (the chain_blocks row).")
@partial(_with_columns, schema=BLOCKS_SCHEMA)
class Block:
    @strawberry.field(description="Its transactions, in block order.")
    async def transactions(self, info: Info, limit: int = 50, offset: int = 0) -> list[Transaction]:
        rows = await _loaders(info).transactions_of_block.load(self.number)
        return [_row(Transaction, r) for r in rows[offset : offset + _limit(limit)]]


@strawberry.type(description="A transaction with its receipt fields (the chain_transactions row).")
@partial(_with_columns, schema=TRANSACTIONS_SCHEMA)
class Transaction:
    @strawberry.field(description="Its ERC-20 and ERC-721 transfers, in log order.")
    async def token_transfers(self, info: Info) -> list[TokenTransfer]:
        return [_row(TokenTransfer, r) for r in await _loaders(info).transfers_of_transaction.load(self.hash)]

    @strawberry.field(description="The block it is in.")
    async def block(self, info: Info) -> Block | None:
        return _row(Block, await _loaders(info).blocks.load(self.block_number))


@strawberry.type(description="An ERC-20 or ERC-721 Transfer event (the token_transfers row).")
@partial(_with_columns, schema=TOKEN_TRANSFERS_SCHEMA)
class TokenTransfer:
    pass


@strawberry.type(description="A page of an address's transfers, newest first (as GET /chain/address/{a}/transfers).")
class TransferPage:
    total: int
    next_offset: int | None
    items: list[TokenTransfer]


@strawberry.enum(description="Which side of a transfer the address is on.")
class Direction(Enum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


# -- REST response models, as GraphQL types -------------------------------------------------------
def _from_model(model: type, name: str) -> type:
    """The GraphQL type of a REST response model (the models it nests are converted before it)."""
    return pydantic_type(model=model, all_fields=True, name=name)(type(name, (), {}))


RiskReason = _from_model(fraud.Reason, "RiskReason")
RiskCluster = _from_model(fraud.Cluster, "RiskCluster")
RiskScore = _from_model(fraud.RiskScore, "RiskScore")
PredictionInterval = _from_model(ml.PredictionInterval, "PredictionInterval")
ModelRef = _from_model(ml.ModelRef, "ModelRef")
Forecast = _from_model(ml.Forecast, "Forecast")


# -- the address profile --------------------------------------------------------------------------
@strawberry.type(description="The wallet cluster an address belongs to, and the links that put it there.")
class WalletCluster:
    cluster_id: str
    size: int
    members: list[str] = strawberry.field(description="Up to 100 members, sorted.")
    heuristics: list[str]
    behaviour_cluster: BigInt | None
    outlier_score: float | None
    evidence: JSON = strawberry.field(description="The wallet_links rows that touch this address.")


@strawberry.type(description="What the MEV detectors found this address doing.")
class MevRoles:
    sandwich_attacks: int
    sandwiched: int
    arbitrages: int
    roles: list[str]


@strawberry.type(description="The contract analysis of an address, when it is a contract.")
class ContractSummary:
    proxy_kind: str | None
    implementation: str | None
    interfaces: list[str]
    risky: bool | None
    risk_reasons: list[str]


@strawberry.type(description="Everything known about an address, in one answer.")
class AddressProfile:
    address: str
    known: bool = strawberry.field(description="False when the indexed data says nothing of it (REST: 404).")
    labels: list[str]
    cluster: WalletCluster | None
    mev: MevRoles | None
    contract: ContractSummary | None

    @strawberry.field(description="The stored risk score, with its reasons (GET /fraud/score/{address}).")
    async def risk(self, info: Info) -> RiskScore | None:
        store = getattr(info.context["request"].app.state, "model_store", None)
        answer = await _rest(info, fraud._stored_score, self.address, store)
        return None if answer is None else RiskScore.from_pydantic(fraud.RiskScore.model_validate(answer))

    @strawberry.field(description="Its token transfers, newest first.")
    async def transfers(
        self, info: Info, direction: Direction = Direction.BOTH, limit: int = 20, offset: int = 0
    ) -> TransferPage:
        page = await _rest(info, chain._transfers, self.address, chain.Direction(direction.value), _limit(limit),
                           offset)  # fmt: skip
        if page is None:
            return TransferPage(total=0, next_offset=None, items=[])
        items = [_row(TokenTransfer, r) for r in page["items"]]
        return TransferPage(total=page["total"], next_offset=page["next_offset"], items=items)


def _profile(address: str, answer: dict[str, Any] | None) -> AddressProfile:
    if answer is None:
        return AddressProfile(address=address, known=False, labels=[], cluster=None, mev=None, contract=None)
    cluster, contract = answer["cluster"], answer["contract"]
    return AddressProfile(
        address=address, known=True, labels=answer["labels"],
        cluster=WalletCluster(**cluster) if cluster else None,
        mev=MevRoles(**answer["mev"]),
        contract=ContractSummary(**{**contract, "interfaces": list(contract["interfaces"] or []),
                                    "risk_reasons": list(contract["risk_reasons"] or [])}) if contract else None,
    )  # fmt: skip


async def _profile_of(info: Info, address: str) -> AddressProfile:
    address = _address(address)
    return _profile(address, await _rest(info, lambda db, _tables, a: chain_intel._address(db, a), address))


# -- the root -------------------------------------------------------------------------------------
@strawberry.type
class Query:
    @strawberry.field(description="One indexed block (null while it is not indexed).")
    async def block(self, info: Info, number: BigInt) -> Block | None:
        return _row(Block, await _loaders(info).blocks.load(int(number)))

    @strawberry.field(description=f"Indexed blocks from_block..to_block (inclusive, at most {MAX_BLOCK_SPAN:,} apart).")
    async def blocks(self, info: Info, from_block: BigInt, to_block: BigInt, limit: int = 20) -> list[Block]:
        if not 0 <= to_block - from_block <= MAX_BLOCK_SPAN:
            raise ValueError(f"to_block must be from_block .. from_block + {MAX_BLOCK_SPAN}")
        numbers = list(range(int(from_block), int(to_block) + 1))[: _limit(limit)]
        rows = await _loaders(info).blocks.load_many(numbers)
        return [_row(Block, r) for r in rows if r is not None]

    @strawberry.field(description="One transaction by hash (null while it is not indexed).")
    async def transaction(self, info: Info, hash: str) -> Transaction | None:
        if not TX_HASH.match(hash):
            raise ValueError(f"hash must be 0x and 64 hex digits, got {hash[:80]!r}")
        rows = await _loaders(info).read(chain.CHAIN_TRANSACTIONS.name, {"hash": hash.lower()})
        return _row(Transaction, rows[0] if rows else None)

    @strawberry.field(description="What is known about an address: cluster, labels, MEV roles, contract, risk.")
    async def address(self, info: Info, address: str) -> AddressProfile:
        return await _profile_of(info, address)

    @strawberry.field(description=f"Several address profiles at once (at most {MAX_ADDRESSES}).")
    async def addresses(self, info: Info, addresses: list[str]) -> list[AddressProfile]:
        if len(addresses) > MAX_ADDRESSES:
            raise ValueError(f"at most {MAX_ADDRESSES} addresses per query, got {len(addresses)}")
        return list(await asyncio.gather(*(_profile_of(info, a) for a in addresses)))

    @strawberry.field(description="The price forecast from a symbol's latest bar (as GET /ml/predict/{symbol}).")
    async def forecast(self, info: Info, symbol: str, horizon: int = 1) -> Forecast | None:
        state = info.context["request"].app.state
        try:
            loaded, interval, ref = await ml.served_for(state, horizon)
        except RequestValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from exc
        answer = await _rest(info, ml.symbol_forecast, symbol.upper(), interval, horizon, loaded, ref)
        return None if answer is None else Forecast.from_pydantic(ml.Forecast.model_validate(answer))

if __name__ == "__main__":
    from serving.graphql.router import build_schema

    print(build_schema().as_str())
