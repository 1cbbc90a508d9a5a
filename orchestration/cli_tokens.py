"""`sextant token ...`: create, list and revoke the API's bearer tokens (kept in the warehouse)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from resources.settings import get_settings
from resources.tokens import SCOPES, TokenStore
from resources.warehouse import Warehouse

token_app = typer.Typer(help="Create, list and revoke API bearer tokens.", no_args_is_help=True)


@contextmanager
def _store() -> Iterator[TokenStore]:
    warehouse = Warehouse(get_settings().resolved_warehouse_url)
    try:
        yield TokenStore(warehouse, cache_ttl=0)
    finally:
        warehouse.dispose()


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


@token_app.command()
def create(
    client: Annotated[
        str, typer.Option("--client", help="Client the token is issued to (rate limits key on it).")
    ],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes", help=f"Comma-separated scopes among {', '.join(SCOPES)}; admin > write > read."
        ),
    ] = "read",
) -> None:
    """Issue a token. It is printed once, on stdout, and cannot be shown again."""
    err = Console(stderr=True, soft_wrap=True)
    with _store() as store:
        try:
            issued = store.create(client, scopes)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    err.print(
        f"[green]token {issued.token_id}[/] for client [bold]{issued.client_id}[/] "
        f"with scopes {','.join(issued.scopes)}"
    )
    err.print("[yellow]Store this token now: it cannot be shown again (only its hash is kept).")
    typer.echo(issued.token)  # alone on stdout, so `TOKEN=$(sextant token create ...)` works


@token_app.command("list")
def list_tokens() -> None:
    """List every token (id, client, scopes, dates), revoked ones included; never secrets or hashes."""
    with _store() as store:
        rows = store.list()
    if not rows:
        typer.echo("no tokens")
        return
    table = Table(box=None)
    table.add_column("token_id", no_wrap=True)
    table.add_column("client", overflow="fold")
    table.add_column("scopes", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("revoked (UTC)", no_wrap=True)
    for row in rows:
        table.add_row(
            row["token_id"],
            row["client_id"],
            ",".join(row["scopes"]),
            _when(row["created_at"]),
            _when(row["revoked_at"]),
        )
    Console().print(table)


@token_app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `sextant token list`).")],
) -> None:
    """Revoke a token. Other API replicas stop accepting it within their cache TTL (60 s)."""
    with _store() as store:
        revoked = store.revoke(token_id)
    if not revoked:
        typer.echo(f"no active token with id {token_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked token {token_id}")
