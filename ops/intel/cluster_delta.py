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
from typing import Protocol

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
#: The persisted state's tables (resources/tables.py): incoming totals, sweeps, sweep targets, spenders.
INCOMING_SCHEMA: dict[str, pl.DataType] = {"address": pl.Utf8, "token_address": pl.Utf8, "received": pl.Float64,
                                           "first_in": pl.Int64, "last_in": pl.Int64}
INCOMING_KEY = ("address", "token_address")
SWEEPS_SCHEMA: dict[str, pl.DataType] = {"deposit": pl.Utf8, "token_address": pl.Utf8, "target": pl.Utf8}
SWEEPS_KEY = ("deposit", "token_address", "target")
TARGETS_SCHEMA: dict[str, pl.DataType] = {"target": pl.Utf8, "deposits": pl.Int64}
TARGETS_KEY = ("target",)
SPENDERS_SCHEMA: dict[str, pl.DataType] = {"spender": pl.Utf8, "owner": pl.Utf8, "evidence": pl.Utf8}
SPENDERS_KEY = ("spender", "owner")
EXCLUDED_SCHEMA: dict[str, pl.DataType] = {"address": pl.Utf8}
EXCLUDED_KEY = ("address",)
#: One row: the last block folded in (the asset folds the blocks after it).
CURSOR_SCHEMA: dict[str, pl.DataType] = {"name": pl.Utf8, "folded_to": pl.Int64}
CURSOR_KEY = ("name",)
#: (column, addresses) -> the indexed history's transfers whose `column` (from_address or to_address)
#: is one of `addresses`.
History = Callable[[str, list[str]], pl.DataFrame]


class Loader(Protocol):
    """Persisted state, read by address (the asset's indexed warehouse reads; None: all in memory)."""

    def load(self, addresses: list[str]) -> dict[str, pl.DataFrame]:
        """Frames `incoming`, `sweeps` (deposit in addresses), `targets`, `spenders`, `links` (either end
        or the evidence in addresses) and `clusters` (the addresses' rows and their clusters' members)."""

    def deps(self, target: str) -> set[str]:
        """Deposits with a persisted sweep to `target`."""


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
    #: target -> distinct non-excluded candidates sweeping to it (hot at HOT_WALLET_MIN_DEPOSITS).
    target_count: dict[str, int] = field(default_factory=dict)
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
    loader: Loader | None = None
    loaded: set[str] = field(default_factory=set)
    #: What changed since the state was loaded (see `changes`).
    dirty_incoming: set[tuple[str, str]] = field(default_factory=set)
    dirty_sweeps: set[str] = field(default_factory=set)
    dirty_targets: set[str] = field(default_factory=set)
    dirty_spenders: set[str] = field(default_factory=set)
    added_links: set[tuple[str, str, str]] = field(default_factory=set)
    dropped_links: set[tuple[str, str, str]] = field(default_factory=set)
    grown_excluded: set[str] = field(default_factory=set)
    rebuilt: set[str] = field(default_factory=set)
    gone_clusters: set[str] = field(default_factory=set)

    # -- persisted state -----------------------------------------------------------------------
    def ensure(self, addresses: Iterable[str]) -> None:
        """Load what the store holds about `addresses` (no-op in memory)."""
        if self.loader is None:
            return
        fresh = set(addresses) - self.loaded
        if not fresh:
            return
        self.loaded |= fresh
        frames = self.loader.load(sorted(fresh))
        for a, token, received, first, last in frames["incoming"].iter_rows():
            self.incoming.setdefault((a, token), [received, first, last])
        for d, token, target in frames["sweeps"].iter_rows():
            if d not in self.dirty_sweeps:
                self.sweeps.setdefault(d, set()).add((token, target))
        for target, n in frames["targets"].iter_rows():
            self.target_count.setdefault(target, n)
        for spender, owner, evidence in frames["spenders"].iter_rows():
            if spender not in self.dirty_spenders:
                self.spenders.setdefault(spender, {})[owner] = evidence
        for a, b, heuristic, evidence in frames["links"].select(list(LINK_SCHEMA)).iter_rows():
            key = (a, b, heuristic)
            if key in self.links or key in self.dropped_links:
                continue
            self.links[key] = evidence
            self.by_address[a].add(key)
            self.by_address[b].add(key)
            if heuristic == "deposit_reuse":
                self.deposit_links[evidence].add(key)
        rows = frames["clusters"]
        for a, cluster, labels in rows.select("address", "cluster_id", "labels").iter_rows():
            if a in self.rebuilt or cluster in self.gone_clusters:
                continue
            self.cluster_of.setdefault(a, cluster)
            self.members.setdefault(cluster, set()).add(a)
            if a in fresh:
                names = set((labels or "").split(","))
                if "hot_wallet" in names:
                    self.hot.add(a)
                if "deposit_address" in names:
                    self.deposits.add(a)

    def _deps(self, target: str) -> set[str]:
        found = set(self.swept_by.get(target, ()))
        if self.loader is not None:
            found |= self.loader.deps(target) - self.dirty_sweeps
            self.ensure(found)
            found = {d for d in found if any(tg == target for _t, tg in self.sweeps.get(d, ()))}
        return {d for d in found if d not in self.excluded}

    def changes(self) -> dict[str, object]:
        """What to write back: frames to upsert and keys to delete, per persisted table."""
        incoming = pl.DataFrame([(a, t, *self.incoming[(a, t)]) for a, t in sorted(self.dirty_incoming)],
                                schema=INCOMING_SCHEMA, orient="row")
        sweeps = pl.DataFrame([(d, t, tg) for d in sorted(self.dirty_sweeps) for t, tg in sorted(self.sweeps.get(d, ()))],
                              schema=SWEEPS_SCHEMA, orient="row")
        targets = pl.DataFrame([(t, self.target_count.get(t, 0)) for t in sorted(self.dirty_targets)],
                               schema=TARGETS_SCHEMA, orient="row")
        spenders = pl.DataFrame([(sp, o, e) for sp in sorted(self.dirty_spenders) for o, e in sorted(self.spenders.get(sp, {}).items())],
                                schema=SPENDERS_SCHEMA, orient="row")
        added = sorted(k for k in self.added_links if k in self.links)
        links = pl.DataFrame([(*k, self.links[k]) for k in added], schema=LINK_SCHEMA, orient="row")
        kept = set(self.cluster_of)
        return {
            "incoming": incoming, "sweeps": sweeps, "sweeps_replaced": sorted(self.dirty_sweeps),
            "targets": targets, "spenders": spenders, "spenders_replaced": sorted(self.dirty_spenders),
            "links": links, "links_dropped": sorted(k for k in self.dropped_links if k not in self.links),
            "clusters": self.rows(self.rebuilt & kept), "clusters_dropped": sorted(self.rebuilt - kept),
            "excluded": sorted(self.grown_excluded),
        }

    # -- links ---------------------------------------------------------------------------------
    def _add_link(self, a: str, b: str, heuristic: str, evidence: str, touched: set[str]) -> None:
        key = (min(a, b), max(a, b), heuristic)
        if key in self.links:
            return
        self.links[key] = evidence
        self.added_links.add(key)
        self.by_address[key[0]].add(key)
        self.by_address[key[1]].add(key)
        if heuristic == "deposit_reuse":
            self.deposit_links[evidence].add(key)
        touched.update(key[:2])

    def _drop_link(self, key: tuple[str, str, str], touched: set[str]) -> None:
        evidence = self.links.pop(key, None)
        if evidence is None:
            return
        self.dropped_links.add(key)
        self.added_links.discard(key)
        self.by_address[key[0]].discard(key)
        self.by_address[key[1]].discard(key)
        if key[2] == "deposit_reuse":
            self.deposit_links[evidence].discard(key)
        touched.update(key[:2])

    # -- one range -----------------------------------------------------------------------------
    def add_range(self, transfers: pl.DataFrame, approvals_logs: pl.DataFrame, history: History,
                  excluded: Iterable[str] = ()) -> set[str]:
        """Fold one new range (its transfers, token + native, and its Approval logs) in; `history` must
        already include the range. Returns the addresses whose cluster rows were rebuilt."""
        touched: set[str] = set()
        new_excluded = {e.lower() for e in excluded} | {ZERO}
        if not self.excluded <= new_excluded:
            raise ValueError("an address left the excluded set: recompute the clusters in full")
        grown = new_excluded - self.excluded
        self.grown_excluded |= grown
        t = transfers.select(TRANSFER_COLUMNS) if transfers.height else pl.DataFrame(
            schema={c: (pl.Int64 if c == "block_number" else pl.Utf8) for c in TRANSFER_COLUMNS})
        old_excluded = set(self.excluded)
        self.excluded = new_excluded
        self._approvals(approvals_logs, grown, touched)
        self._deposits(t, history, grown, old_excluded, touched)
        self._recluster(touched)
        return self.rebuilt

    def _approvals(self, logs: pl.DataFrame, grown: set[str], touched: set[str]) -> None:
        rows = _eoa_approvals(logs, self.excluded).select("owner", "spender", "transaction_hash").rows() \
            if logs.height else []
        self.ensure(grown | {a for row in rows for a in row[:2]})
        for spender in grown & set(self.spenders):  # an excluded spender's owners never counted
            owners = self.spenders.pop(spender)
            self.dirty_spenders.add(spender)
            if len(owners) < COLLECTOR_MIN_OWNERS:
                for owner in owners:
                    self._drop_link((min(owner, spender), max(owner, spender), "self_authorization"), touched)
        for owner, spender, tx in rows:
            owners = self.spenders.setdefault(spender, {})
            if owner in owners or len(owners) >= COLLECTOR_MIN_OWNERS:
                continue
            owners[owner] = tx
            self.dirty_spenders.add(spender)
            if len(owners) < COLLECTOR_MIN_OWNERS:
                self._add_link(owner, spender, "self_authorization", tx, touched)
            else:  # a second owner: the spender collects approvals, the earlier single-owner link goes
                for first in owners:
                    self._drop_link((min(first, spender), max(first, spender), "self_authorization"), touched)

    def _contributes(self, d: str, excluded: set[str]) -> set[str]:
        return set() if d in excluded else {target for _tok, target in self.sweeps.get(d, ())}

    def _deposits(self, t: pl.DataFrame, history: History, grown: set[str], old_excluded: set[str],
                  touched: set[str]) -> None:
        amount = pl.col("value").cast(pl.Float64)
        candidates = set(t["to_address"].to_list()) | set(t["from_address"].to_list())
        self.ensure(candidates | grown)
        for to, token, received, first, last in t.group_by("to_address", "token_address").agg(
                amount.sum(), pl.col("block_number").min().alias("first"), pl.col("block_number").max().alias("last")
        ).rows():
            acc = self.incoming.get((to, token))
            self.incoming[(to, token)] = [received, first, last] if acc is None else [
                acc[0] + received, min(acc[1], first), max(acc[2], last)]
            self.dirty_incoming.add((to, token))
        # Sweeps depend only on a candidate's own transfers: re-derive them for every address the range moved.
        outgoing = history("from_address", sorted(candidates)) if candidates else pl.DataFrame()
        by_from = {k[0]: g for k, g in outgoing.group_by("from_address")} if outgoing.height else {}
        targets: set[str] = set()
        for d in candidates | grown:
            before = self._contributes(d, old_excluded)
            if d in candidates:
                old = self.sweeps.pop(d, set())
                new = self._sweeps_of(d, by_from.get(d))
                if new:
                    self.sweeps[d] = new
                if new != old:
                    self.dirty_sweeps.add(d)
                for _tok, target in old - new:
                    self.swept_by[target].discard(d)
                for _tok, target in new - old:
                    self.swept_by[target].add(d)
            after = self._contributes(d, self.excluded)
            if before != after:
                self.ensure(before ^ after)
            for target in before - after:
                self.target_count[target] = self.target_count.get(target, 0) - 1
                self.dirty_targets.add(target)
            for target in after - before:
                self.target_count[target] = self.target_count.get(target, 0) + 1
                self.dirty_targets.add(target)
            targets |= before ^ after
        targets |= grown
        self.ensure(targets)
        # Hot wallets (then deposits) whose status can have changed.
        review = set(candidates) | grown
        flipped: set[str] = set()  # hot status changed
        for target in targets:
            hot = target not in self.excluded and self.target_count.get(target, 0) >= HOT_WALLET_MIN_DEPOSITS
            if hot != (target in self.hot):
                (self.hot.add if hot else self.hot.discard)(target)
                review |= self._deps(target) | {target}
                flipped.add(target)
                touched.add(target)
        self.ensure(review | {tg for d in review for _tok, tg in self.sweeps.get(d, ())})
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
            if sent.height:
                self.ensure(sent["to_address"].to_list())
                relink |= set(sent["to_address"].to_list()) & self.deposits
        relink = sorted(relink)
        self.ensure(relink)
        paid = history("to_address", relink) if relink else pl.DataFrame()
        senders = {k[0]: set(g["from_address"].to_list()) for k, g in paid.group_by("to_address")} if paid.height else {}
        self.ensure({a for group in senders.values() for a in group})
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
        seen: set[str] = set()
        frontier = set(touched)
        while frontier:  # the closure over current links, plus the old components it meets
            self.ensure(frontier)
            seen |= frontier
            reached: set[str] = set()
            for a in frontier:
                for key in self.by_address.get(a, ()):
                    reached.update(key[:2])
                cluster = self.cluster_of.get(a)
                if cluster is not None:
                    reached.update(self.members.get(cluster, ()))
            frontier = reached - seen
        for a in seen:
            cluster = self.cluster_of.pop(a, None)
            if cluster is not None:
                self.members.pop(cluster, None)
                self.gone_clusters.add(cluster)
        uf = UnionFind()
        for a in seen:
            if self.by_address.get(a) or a in self.deposits or a in self.hot:
                uf.find(a)
            for key in self.by_address.get(a, ()):
                uf.union(key[0], key[1])
        for group in uf.groups().values():
            cluster = cluster_id(group)
            self.gone_clusters.discard(cluster)
            self.members[cluster] = set(group)
            for m in group:
                self.cluster_of[m] = cluster
        self.rebuilt |= seen

    # -- output --------------------------------------------------------------------------------
    def rows(self, addresses: Iterable[str] | None = None) -> pl.DataFrame:
        """Cluster rows (CLUSTER_SCHEMA, behaviour columns null) of `addresses` (every address if None)."""
        names = sorted(self.cluster_of) if addresses is None else sorted(a for a in set(addresses) if a in self.cluster_of)
        out = []
        for a in names:
            cluster = self.cluster_of[a]
            labels = (["deposit_address"] if a in self.deposits else []) + (["hot_wallet"] if a in self.hot else [])
            out.append({"address": a, "cluster_id": cluster, "cluster_size": len(self.members[cluster]),
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


__all__ = ["FORWARD_SHARE", "ClusterState", "History", "frame_history"]
