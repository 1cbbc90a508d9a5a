"""Incremental wallet clusters: fold one new chain range into persisted union-find state.

`clusters.wallet_clusters` recomputes everything from the whole history, so its cost grows with the
chain. `ClusterState.add_range` does the same heuristics on one new range, reading only the history of
the addresses that range touches (through the `history` callback, an indexed read in the asset) and
the state it keeps: per-(address, token) incoming totals, each deposit candidate's sweeps, each
approved spender's first owners, the links and the clusters. Components touched by added or removed
links are rebuilt from their own links; ids still come from the smallest member, so the final
clusters equal the one-shot computation (tests/intel/test_cluster_delta.py pins that).

Assumes the excluded set (contracts, pools, routers) only grows; an address leaving it needs a full
recomputation. Behaviour context (HDBSCAN) is not kept here: see `clusters.behaviour_clusters`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from ops.intel.clusters import (
    CLUSTER_SCHEMA,
    COLLECTOR_MIN_OWNERS,
    FORWARD_BLOCKS,
    FORWARD_SHARE,
    HOT_WALLET_MIN_DEPOSITS,
    LINK_SCHEMA,
    TRANSFER_COLUMNS,
    UnionFind,
    _eoa_approvals,
    cluster_id,
)

ZERO = "0x" + "0" * 40
#: (column, addresses) -> the indexed history's transfers whose `column` (from_address or to_address)
#: is one of `addresses`.
History = Callable[[str, list[str]], pl.DataFrame]


@dataclass
class ClusterState:
    """Everything the heuristics need between ranges; each map grows with addresses, not with reads."""

    excluded: set[str] = field(default_factory=set)
    #: (address, token) -> [received, first_in, last_in] over every transfer into the address.
    incoming: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: deposit candidate -> {(token, target)} it swept (forwarded >= FORWARD_SHARE within the window).
    sweeps: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    #: target -> candidates sweeping to it (the reverse of `sweeps`).
    swept_by: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    hot: set[str] = field(default_factory=set)
    deposits: set[str] = field(default_factory=set)
    #: spender -> {owner: evidence}, at most COLLECTOR_MIN_OWNERS owners kept (more change nothing).
    spenders: dict[str, dict[str, str]] = field(default_factory=dict)
    #: (a, b, heuristic) -> evidence; deposit links are also indexed by their deposit.
    links: dict[tuple[str, str, str], str] = field(default_factory=dict)
    deposit_links: dict[str, set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    by_address: dict[str, set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    #: address -> cluster id, and cluster id -> members.
    cluster_of: dict[str, str] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)

    # -- links ---------------------------------------------------------------------------------
    def _add_link(self, a: str, b: str, heuristic: str, evidence: str, touched: set[str]) -> None:
        key = (min(a, b), max(a, b), heuristic)
        if key in self.links:
            return
        self.links[key] = evidence
        self.by_address[key[0]].add(key)
        self.by_address[key[1]].add(key)
        if heuristic == "deposit_reuse":
            self.deposit_links[evidence].add(key)
        touched.update(key[:2])

    def _drop_link(self, key: tuple[str, str, str], touched: set[str]) -> None:
        evidence = self.links.pop(key, None)
        if evidence is None:
            return
        self.by_address[key[0]].discard(key)
        self.by_address[key[1]].discard(key)
        if key[2] == "deposit_reuse":
            self.deposit_links[evidence].discard(key)
        touched.update(key[:2])

    # -- one range -----------------------------------------------------------------------------
    def add_range(self, transfers: pl.DataFrame, approvals_logs: pl.DataFrame, history: History,
                  excluded: Iterable[str] = ()) -> set[str]:
        """Fold one new range (its transfers, token + native, and its Approval logs) in; `history` must
        already include the range. Returns the addresses whose cluster rows may have changed."""
        touched: set[str] = set()
        new_excluded = {e.lower() for e in excluded} | {ZERO}
        if not self.excluded <= new_excluded:
            raise ValueError("an address left the excluded set: recompute the clusters in full")
        grown = new_excluded - self.excluded
        self.excluded = new_excluded
        t = transfers.select(TRANSFER_COLUMNS) if transfers.height else pl.DataFrame(
            schema={c: (pl.Int64 if c == "block_number" else pl.Utf8) for c in TRANSFER_COLUMNS})
        self._approvals(approvals_logs, grown, touched)
        self._deposits(t, history, grown, touched)
        self._recluster(touched)
        return touched

    def _approvals(self, logs: pl.DataFrame, grown: set[str], touched: set[str]) -> None:
        for spender in grown & set(self.spenders):  # an excluded spender's owners never counted
            owners = self.spenders.pop(spender)
            if len(owners) < COLLECTOR_MIN_OWNERS:
                for owner in owners:
                    self._drop_link((min(owner, spender), max(owner, spender), "self_authorization"), touched)
        if not logs.height:
            return
        rows = _eoa_approvals(logs, self.excluded).select("owner", "spender", "transaction_hash").rows()
        for owner, spender, tx in rows:
            owners = self.spenders.setdefault(spender, {})
            if owner in owners or len(owners) >= COLLECTOR_MIN_OWNERS:
                continue
            owners[owner] = tx
            if len(owners) < COLLECTOR_MIN_OWNERS:
                self._add_link(owner, spender, "self_authorization", tx, touched)
            else:  # a second owner: the spender collects approvals, the earlier single-owner link goes
                for first in owners:
                    self._drop_link((min(first, spender), max(first, spender), "self_authorization"), touched)

    def _deposits(self, t: pl.DataFrame, history: History, grown: set[str], touched: set[str]) -> None:
        amount = pl.col("value").cast(pl.Float64)
        for to, token, received, first, last in t.group_by("to_address", "token_address").agg(
                amount.sum(), pl.col("block_number").min().alias("first"), pl.col("block_number").max().alias("last")
        ).rows():
            acc = self.incoming.get((to, token))
            self.incoming[(to, token)] = [received, first, last] if acc is None else [
                acc[0] + received, min(acc[1], first), max(acc[2], last)]
        candidates = set(t["to_address"].to_list()) | set(t["from_address"].to_list())
        # Sweeps depend only on a candidate's own transfers: re-derive them for every address the range moved.
        outgoing = history("from_address", sorted(candidates)) if candidates else pl.DataFrame()
        by_from = {k[0]: g for k, g in outgoing.group_by("from_address")} if outgoing.height else {}
        targets: set[str] = set()
        for d in candidates:
            old = self.sweeps.pop(d, set())
            new = self._sweeps_of(d, by_from.get(d))
            if new:
                self.sweeps[d] = new
            for _tok, target in old - new:
                self.swept_by[target].discard(d)
            for _tok, target in new - old:
                self.swept_by[target].add(d)
            targets |= {target for _tok, target in old ^ new}
        targets |= grown | {target for d in grown & set(self.sweeps) for _t, target in self.sweeps[d]}
        # Hot wallets (then deposits) whose status can have changed.
        review = set(candidates) | grown
        flipped: set[str] = set()  # hot status changed
        for target in targets:
            deps = {d for d in self.swept_by.get(target, ()) if d not in self.excluded}
            hot = target not in self.excluded and len(deps) >= HOT_WALLET_MIN_DEPOSITS
            if hot != (target in self.hot):
                (self.hot.add if hot else self.hot.discard)(target)
                review |= deps | {target}
                flipped.add(target)
                touched.add(target)
        changed: set[str] = set()
        for d in review:
            is_deposit = (d not in self.hot and d not in self.excluded
                          and any(tg in self.hot and tg not in self.excluded for _tok, tg in self.sweeps.get(d, ())))
            if is_deposit != (d in self.deposits):
                (self.deposits.add if is_deposit else self.deposits.discard)(d)
                changed.add(d)
                touched.add(d)
        # Deposits whose sender set can have changed: new payments in, own status, a sender's status.
        relink = {d for d in set(t["to_address"].to_list()) if d in self.deposits} | changed
        def stops(a: str) -> bool:  # never a deposit's sender
            return a in self.deposits or a in self.hot or a in self.excluded
        moved = flipped | changed | grown
        for a in (a for a in moved if stops(a)):  # no longer a sender: the deposits it linked relink
            relink |= {self.links[k] for k in self.by_address.get(a, ()) if k[2] == "deposit_reuse"}
        freed = sorted(a for a in moved if not stops(a))  # may now be senders of deposits they paid into
        if freed:
            sent = history("from_address", freed)
            relink |= set(sent["to_address"].to_list()) & self.deposits if sent.height else set()
        relink = sorted(relink)
        paid = history("to_address", relink) if relink else pl.DataFrame()
        senders = {k[0]: set(g["from_address"].to_list()) for k, g in paid.group_by("to_address")} if paid.height else {}
        for d in relink:
            for key in list(self.deposit_links.get(d, ())):
                self._drop_link(key, touched)
            if d not in self.deposits:
                continue
            members = sorted(a for a in senders.get(d, set()) if not stops(a))
            for other in members[1:]:
                self._add_link(members[0], other, "deposit_reuse", d, touched)

    def _sweeps_of(self, d: str, out: pl.DataFrame | None) -> set[tuple[str, str]]:
        if out is None or out.height == 0 or d in self.excluded:
            return set()
        found = set()
        for (token, target), g in out.group_by("token_address", "to_address"):
            acc = self.incoming.get((d, token))
            if acc is None or acc[0] <= 0 or target in self.excluded:
                continue
            window = g.filter((pl.col("block_number") >= acc[1]) & (pl.col("block_number") <= acc[2] + FORWARD_BLOCKS))
            if window.height and window["value"].cast(pl.Float64).sum() >= FORWARD_SHARE * acc[0]:
                found.add((token, target))
        return found

    def _recluster(self, touched: set[str]) -> None:
        """Rebuild the components touched addresses are in, from their own links only."""
        todo, seen = list(touched), set()
        for cid in {self.cluster_of[a] for a in touched if a in self.cluster_of}:
            todo.extend(self.members.get(cid, ()))
        while todo:  # the closure over current links, plus the old components it meets
            a = todo.pop()
            if a in seen:
                continue
            seen.add(a)
            for key in self.by_address.get(a, ()):
                todo.extend(x for x in key[:2] if x not in seen)
            cid = self.cluster_of.get(a)
            if cid is not None:
                todo.extend(x for x in self.members.get(cid, ()) if x not in seen)
        for a in seen:
            cid = self.cluster_of.pop(a, None)
            if cid is not None:
                self.members.pop(cid, None)
        uf = UnionFind()
        for a in seen:
            if self.by_address.get(a) or a in self.deposits or a in self.hot:
                uf.find(a)
            for key in self.by_address.get(a, ()):
                uf.union(key[0], key[1])
        for group in uf.groups().values():
            cid = cluster_id(group)
            self.members[cid] = set(group)
            for m in group:
                self.cluster_of[m] = cid

    # -- output --------------------------------------------------------------------------------
    def rows(self, addresses: Iterable[str] | None = None) -> pl.DataFrame:
        """Cluster rows (CLUSTER_SCHEMA, behaviour columns null) of `addresses` (every address if None)."""
        names = sorted(self.cluster_of) if addresses is None else sorted(a for a in set(addresses) if a in self.cluster_of)
        out = []
        for a in names:
            cid = self.cluster_of[a]
            labels = (["deposit_address"] if a in self.deposits else []) + (["hot_wallet"] if a in self.hot else [])
            out.append({"address": a, "cluster_id": cid, "cluster_size": len(self.members[cid]),
                        "heuristics": ",".join(sorted({k[2] for k in self.by_address.get(a, ())})),
                        "labels": ",".join(labels), "behaviour_cluster": None, "outlier_score": None})
        return pl.DataFrame(out, schema=CLUSTER_SCHEMA).sort("cluster_id", "address")

    def link_frame(self) -> pl.DataFrame:
        return pl.DataFrame([{"address_a": a, "address_b": b, "heuristic": h, "evidence": e}
                             for (a, b, h), e in sorted(self.links.items())], schema=LINK_SCHEMA)


def frame_history(transfers: pl.DataFrame) -> History:
    """A `History` over an in-memory transfers frame (tests and the bench; the asset reads by index)."""
    def read(column: str, addresses: list[str]) -> pl.DataFrame:
        return transfers.filter(pl.col(column).is_in(addresses))
    return read


__all__ = ["ClusterState", "History", "frame_history", "FORWARD_SHARE"]
