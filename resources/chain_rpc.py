"""``ChainRPC``: the indexer's client for an Ethereum JSON-RPC node (devnet, replay server or mainnet).

It uses web3's ``HTTPProvider`` raw requests (its per-call result formatters cost more than the
decoding) and adds what a long range against a real node needs: batching with workers, receipts
per block with a learnt fallback, a client-side rate limit, retries that re-send only failed batch
elements, and the circuit breaker the API shares. docs/architecture.md ("Chain indexing") has the
rules; ``fetch_range`` returns a range's raw answers, checked for completeness.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ops.backoff import backoff_seconds
from ops.chain.decode import RawRange
from resources.breaker import HALF_OPEN, CircuitBreaker, DependencyUnavailable
from resources.chain_capabilities import (
    BLOCK_RECEIPTS,
    PROCESS_MEMORY,
    CapabilityStore,
    endpoint_id,
    unknown_method_verdict,
)
from resources.token_bucket import TokenBucket

Json = dict[str, Any]
Call = tuple[str, list[Any]]
log = logging.getLogger("sextant.chain")

METHOD_NOT_FOUND = -32601
#: JSON-RPC errors that a retry cannot fix (malformed request, unknown method, bad params).
PERMANENT_CODES = frozenset({-32700, -32600, METHOD_NOT_FOUND, -32602})
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ChainRPCError(RuntimeError):
    """The node could not give a usable answer (after retries, or a permanent JSON-RPC error).

    For a JSON-RPC error: its ``code``, the ``method`` and the node's ``rpc_message``; ``mixed`` when
    other calls of the same method in that batch were answered (the node contradicts itself).
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        *,
        method: str | None = None,
        rpc_message: str | None = None,
        mixed: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.method = method
        self.rpc_message = rpc_message
        self.mixed = mixed


class ChainUnavailable(ChainRPCError):
    """The circuit breaker is open: the node failed repeatedly and is not being called for now."""


class _Transient(Exception):
    """One failed attempt worth retrying (the whole request, or some elements of a batch)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChainRPC:
    """Batched, rate-limited, retrying JSON-RPC client with a circuit breaker (see the module docstring)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8545",
        *,
        batch_size: int = 50,
        workers: int = 4,
        max_rps: float | None = None,
        timeout_seconds: float = 30.0,
        retry_attempts: int = 10,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 10.0,
        breaker_failures: int = 5,
        breaker_recovery_seconds: float = 30.0,
        breaker_healthy_seconds: float = 60.0,
        block_receipts: bool | None = None,
        capability_store: CapabilityStore | None = None,
    ) -> None:
        from web3 import HTTPProvider  # heavy: imported when a client is built, not when Dagster loads

        if batch_size < 1 or workers < 1 or retry_attempts < 1:
            raise ValueError("batch_size, workers and retry_attempts must be at least 1")
        self.url = url
        self.batch_size = batch_size
        self.workers = workers
        self.timeout_seconds = timeout_seconds
        self.retry_attempts = retry_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.endpoint = endpoint_id(url)
        #: True/False: forced by the caller; None: learnt from the node (see ``block_receipts``).
        self._forced_block_receipts = block_receipts
        self._capability_store = capability_store
        self._stored: dict[str, bool] | None = None  # the store's decisions, read once
        self._client_version: str | None = None
        #: (logging level, message) of decisions this client made about the node, for the caller's log.
        self.notices: list[tuple[int, str]] = []
        self.breaker = CircuitBreaker(
            "chain RPC",
            failures=breaker_failures,
            recovery_seconds=breaker_recovery_seconds,
            healthy_seconds=breaker_healthy_seconds,
        )
        self.limiter = TokenBucket(max_rps) if max_rps else None
        self.http_requests = 0  # HTTP requests sent (attempts included), for metadata and tests
        self._stats_lock = threading.Lock()
        self._session = requests.Session()
        pool = max(4, workers * 2)
        self._session.mount("http://", HTTPAdapter(pool_connections=2, pool_maxsize=pool, max_retries=0))
        self._session.mount("https://", HTTPAdapter(pool_connections=2, pool_maxsize=pool, max_retries=0))
        self._provider = HTTPProvider(
            url,
            request_kwargs={"timeout": timeout_seconds},
            session=self._session,
            exception_retry_configuration=None,  # retries are ours (backoff, partial batches, breaker)
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the transport: one HTTP request, then retries of what failed -------------------------

    def _send(self, calls: Sequence[Call]) -> list[Json]:
        """One HTTP request carrying ``calls``; the answers in call order. Raises ``_Transient``.

        Every way out after ``_admit`` settles the breaker's admission (success, failure or release),
        or a half-open breaker would wait forever for its probe.
        """
        probe = self._admit()
        try:
            if self.limiter is not None:
                self.limiter.acquire(len(calls))
            with self._stats_lock:
                self.http_requests += 1
        except BaseException:  # nothing was sent: nothing learnt about the node
            self.breaker.release(probe)
            raise
        try:
            if len(calls) == 1:
                answers: Any = [self._provider.make_request(calls[0][0], calls[0][1])]  # type: ignore[arg-type]
            else:
                answers = self._provider.make_batch_request(list(calls))  # type: ignore[arg-type]
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            message = f"HTTP {status}"
            if status not in RETRY_STATUSES:
                self.breaker.record_failure(probe, message)
                raise ChainRPCError(f"{self.url} answered {message}") from error
            if status == 429:  # alive but throttling us: back off (Retry-After), the node is not down
                self.breaker.record_success(probe)
            else:
                self.breaker.record_failure(probe, message)
            raise _Transient(message, retry_after=_retry_after(error.response)) from error
        except (requests.RequestException, OSError, ValueError) as error:  # connection, timeout, not JSON
            message = f"{type(error).__name__}: {str(error)[:200]}"
            self.breaker.record_failure(probe, message)
            raise _Transient(message) from error
        except Exception as error:  # anything else the request raised still counts against the node
            self.breaker.record_failure(probe, f"{type(error).__name__}: {str(error)[:200]}")
            raise
        except BaseException:  # interrupted (KeyboardInterrupt, SystemExit): says nothing about the node
            self.breaker.release(probe)
            raise
        if isinstance(answers, dict):  # a batch answered with one error object
            message = f"batch rejected: {answers.get('error')}"
            self.breaker.record_failure(probe, message)
            raise _Transient(message)
        if len(answers) != len(calls):
            message = f"{len(answers)} answers to {len(calls)} calls"
            self.breaker.record_failure(probe, message)
            raise _Transient(message)
        self.breaker.record_success(probe)
        return answers

    def _admit(self) -> bool:
        """The breaker's admission (True for the probe of a half-open breaker), or ``ChainUnavailable``."""
        try:
            return self.breaker.acquire()
        except DependencyUnavailable as refused:
            brk = self.breaker
            if refused.state == HALF_OPEN:
                why = "circuit breaker half-open, its probe request is still in flight"
            else:
                streak = brk.failure_streak
                why = f"circuit breaker open after {streak} consecutive failed request{'s' * (streak != 1)}"
            raise ChainUnavailable(
                f"chain RPC at {self.url} is unavailable: {why} (last: {brk.last_error or 'none'}); "
                f"next attempt in {refused.retry_after} s"
            ) from refused

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff, factor 1.5, plus 0-10 % jitter; at least the server's Retry-After."""
        delay = backoff_seconds(state.attempt_number, base=self.backoff_base_seconds, factor=1.5,
                                cap=self.backoff_max_seconds, jitter=0.1, draw=random.random())  # fmt: skip
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Transient) and error.retry_after:
            delay = max(delay, min(error.retry_after, self.backoff_max_seconds))
        return delay

    def call_batch(self, calls: Sequence[Call], *, require: bool = True) -> list[Any]:
        """The results of ``calls`` (in order), retrying only failed elements.

        An element fails on a JSON-RPC error (permanent ones -- see ``PERMANENT_CODES`` -- raise
        ``ChainRPCError`` with the code at once) or, when ``require``, a null result (the node
        does not have it yet). Calls go out at most ``batch_size`` per HTTP request, sequentially.
        """
        results: list[Any] = [None] * len(calls)
        for offset in range(0, len(calls), self.batch_size):
            chunk = list(range(offset, min(offset + self.batch_size, len(calls))))
            self._call_chunk(calls, chunk, results, require)
        return results

    def _call_chunk(
        self, calls: Sequence[Call], pending: list[int], results: list[Any], require: bool
    ) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.retry_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    answers = self._send([calls[i] for i in pending])
                    failed: list[int] = []
                    first_error = ""
                    for index, answer in zip(pending, answers, strict=True):
                        error = answer.get("error")
                        if error is not None:
                            code = error.get("code") if isinstance(error, dict) else None
                            message = error.get("message") if isinstance(error, dict) else str(error)
                            if code in PERMANENT_CODES or unknown_method_verdict(code, message):
                                method = calls[index][0]
                                raise ChainRPCError(
                                    f"{method} failed: {message} (code {code})",
                                    code,
                                    method=method,
                                    rpc_message=message,
                                    mixed=any(
                                        calls[i][0] == method and a.get("error") is None
                                        for i, a in zip(pending, answers, strict=True)
                                    ),
                                )
                            failed.append(index)
                            first_error = first_error or f"{calls[index][0]}: {error}"
                        elif require and answer.get("result") is None:
                            failed.append(index)
                            first_error = first_error or f"{calls[index][0]}{calls[index][1]}: null result"
                        else:
                            results[index] = answer.get("result")
                    if failed:
                        pending = failed
                        raise _Transient(f"{len(failed)} of the batch failed, e.g. {first_error}")
        except _Transient as error:
            raise ChainRPCError(
                f"{self.url}: gave up after {self.retry_attempts} attempts: {error}"
            ) from error

    def call(self, method: str, params: list[Any] | None = None, *, require: bool = True) -> Any:
        return self.call_batch([(method, params or [])], require=require)[0]

    def _parallel(self, chunks: Iterable[Any], work: Callable[[Any], Any]) -> list[Any]:
        chunks = list(chunks)
        if self.workers == 1 or len(chunks) <= 1:
            return [work(c) for c in chunks]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="chain-rpc") as pool:
            return list(pool.map(work, chunks))

    # --- public reads -------------------------------------------------------------------------

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def get_code(self, address: str, block: int | str = "latest") -> str:
        return self.call("eth_getCode", [address, _tag(block)])

    def get_storage_at(self, address: str, slot: int | str, block: int | str = "latest") -> str:
        return self.call(
            "eth_getStorageAt", [address, slot if isinstance(slot, str) else hex(slot), _tag(block)]
        )

    def block_hashes(self, numbers: Iterable[int]) -> dict[int, str]:
        """{number: hash} of the blocks the node has (numbers beyond its head are left out)."""
        numbers = sorted(set(numbers))
        chunks = [numbers[i : i + self.batch_size] for i in range(0, len(numbers), self.batch_size)]

        def work(chunk: list[int]) -> list[Any]:
            return self.call_batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk], require=False)

        found: dict[int, str] = {}
        for chunk, blocks in zip(chunks, self._parallel(chunks, work), strict=True):
            found.update({n: b["hash"] for n, b in zip(chunk, blocks, strict=True) if b is not None})
        return found

    def fetch_range(self, start: int, end: int) -> RawRange:
        """Blocks ``start..end`` (inclusive) with full transactions, their receipts and created code.

        Every block and receipt must come back (a missing one is retried, then raises), and each
        receipt must belong to the block fetched (else the chain moved under us: ``ChainRPCError``).
        """
        if end < start:
            raise ValueError(f"empty range {start}..{end}")
        numbers = list(range(start, end + 1))
        chunks = [numbers[i : i + self.batch_size] for i in range(0, len(numbers), self.batch_size)]
        parts = self._parallel(chunks, self._fetch_chunk)
        blocks = [b for part in parts for b in part[0]]
        receipts = {h: r for part in parts for h, r in part[1].items()}
        codes = self._fetch_codes(blocks, receipts)
        return RawRange(start, end, blocks, receipts, codes)

    def _fetch_chunk(self, numbers: list[int]) -> tuple[list[Json], dict[str, list[Json]]]:
        blocks = self.call_batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
        return blocks, self._fetch_receipts(blocks)

    def _fetch_receipts(self, blocks: list[Json]) -> dict[str, list[Json]]:
        with_txs = [b for b in blocks if b["transactions"]]
        receipts: dict[str, list[Json]] = {b["hash"]: [] for b in blocks}
        if with_txs and self.block_receipts is not False:
            answers = self._block_receipts(with_txs)
            if answers is not None:
                for block, block_receipts in zip(with_txs, answers, strict=True):
                    receipts[block["hash"]] = _checked(block, block_receipts)
                return receipts
        hashes = [t["hash"] for b in with_txs for t in b["transactions"]]
        answers = self.call_batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        at = 0
        for block in with_txs:
            count = len(block["transactions"])
            receipts[block["hash"]] = _checked(block, answers[at : at + count])
            at += count
        return receipts

    # --- what the node can do -----------------------------------------------------------------

    @property
    def block_receipts(self) -> bool | None:
        """Whether eth_getBlockReceipts is used: forced, else learnt (process, then store), else None."""
        if self._forced_block_receipts is not None:
            return self._forced_block_receipts
        known = PROCESS_MEMORY.get(self.endpoint, BLOCK_RECEIPTS)
        if known is None and self._capability_store is not None:
            if self._stored is None:
                self._stored = self._capability_store.load(self.endpoint)
            known = self._stored.get(BLOCK_RECEIPTS)
            if known is not None:
                PROCESS_MEMORY.put(self.endpoint, BLOCK_RECEIPTS, known)
        return known

    def node_name(self) -> str:
        """The node's own name (web3_clientVersion) and where it is, for error messages."""
        if self._client_version is None:
            try:
                version = self.call("web3_clientVersion", require=False)
            except ChainRPCError:
                version = None
            self._client_version = str(version) if version else "a node that does not name itself"
        return f"{self._client_version} at {self.endpoint}"

    def _learn(self, capability: str, supported: bool, detail: str) -> None:
        before = self.block_receipts
        PROCESS_MEMORY.put(self.endpoint, capability, supported)
        if self._capability_store is not None:
            self._capability_store.save(self.endpoint, capability, supported, detail)
            self._stored = {**(self._stored or {}), capability: supported}
        if before is not supported:
            notice = (logging.INFO if supported else logging.WARNING, f"{self.node_name()}: {detail}")
            self.notices.append(notice)
            log.log(*notice)

    def _block_receipts(self, blocks: list[Json]) -> list[Any] | None:
        """Every block's receipts through eth_getBlockReceipts, or None once the node says it lacks it."""
        calls = [("eth_getBlockReceipts", [b["number"]]) for b in blocks]
        try:
            answers = self.call_batch(calls)
        except ChainRPCError as error:
            if error.method != BLOCK_RECEIPTS:
                raise
            self._receipts_refused(error, blocks[0]["number"])
            return None
        if self.block_receipts is None:
            self._learn(BLOCK_RECEIPTS, True, "answers eth_getBlockReceipts: one call per block")
        return answers

    def _receipts_refused(self, error: ChainRPCError, number: str) -> None:
        """Decide what an error answer to eth_getBlockReceipts means: return (fall back) or raise."""
        said = f"code {error.code} {error.rpc_message!r}"
        off = "set CHAIN_BLOCK_RECEIPTS=off to use per-transaction receipts"
        if error.mixed:
            raise ChainRPCError(
                f"{self.node_name()} answered eth_getBlockReceipts for some blocks of one batch and refused "
                f"others ({said}): its answers are inconsistent (a load balancer over mixed nodes?); {off}",
                error.code,
            ) from error
        verdict = unknown_method_verdict(error.code, error.rpc_message)
        if verdict is None:
            verdict = self._control_call(error, number)
        if not verdict or self._forced_block_receipts:
            raise ChainRPCError(
                f"{self.node_name()} refused eth_getBlockReceipts({number}) with {said}; {off}", error.code
            ) from error
        was = self.block_receipts
        change = " (it answered it before: the node behind this URL changed)" if was else ""
        self._learn(
            BLOCK_RECEIPTS, False,
            f"has no eth_getBlockReceipts ({said}){change}; receipts are fetched per transaction from now on",
        )

    def _control_call(self, error: ChainRPCError, number: str) -> bool:
        """An ambiguous code (-32700, -32600): does the node answer a known method in the same request?

        True when eth_chainId is answered and eth_getBlockReceipts refused again the same way: the node
        parses our requests and refuses this method. Anything else is a node contradicting itself.
        """
        try:
            control, again = self._send([("eth_chainId", []), ("eth_getBlockReceipts", [number])])
        except _Transient as failed:
            raise ChainRPCError(f"{self.url}: the control call failed: {failed}") from failed
        again_error = again.get("error") if isinstance(again.get("error"), dict) else None
        if control.get("error") is None and again_error is not None and again_error.get("code") == error.code:
            return True
        outcome = "answered it" if again_error is None else f"then said {again.get('error')}"
        raise ChainRPCError(
            f"{self.node_name()} refused eth_getBlockReceipts({number}) with code {error.code} "
            f"{error.rpc_message!r}, {outcome}, and answered eth_chainId with {control}: its answers are "
            "inconsistent; set CHAIN_BLOCK_RECEIPTS=off (per-transaction receipts) or =on to insist",
            error.code,
        )

    def _fetch_codes(self, blocks: list[Json], receipts: dict[str, list[Json]]) -> dict[str, str]:
        created = [
            (r["contractAddress"], block["number"])
            for block in blocks
            for r in receipts[block["hash"]]
            if r.get("contractAddress")
        ]
        if not created:
            return {}
        codes = self.call_batch([("eth_getCode", [address, number]) for address, number in created])
        return {address.lower(): code for (address, _), code in zip(created, codes, strict=True)}


def _checked(block: Json, receipts: list[Json]) -> list[Json]:
    """The block's receipts, verified to be all of them and of this very block (not a reorged twin)."""
    if len(receipts) != len(block["transactions"]):
        raise ChainRPCError(
            f"block {int(block['number'], 16)}: {len(receipts)} receipts for {len(block['transactions'])} transactions"
        )
    for receipt in receipts:
        if receipt.get("blockHash") not in (None, block["hash"]):
            raise ChainRPCError(
                f"block {int(block['number'], 16)} changed while it was fetched (receipts of "
                f"{receipt['blockHash']}, block {block['hash']}): a reorg; fetch the range again"
            )
    return receipts


def _tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _retry_after(response: requests.Response | None) -> float | None:
    """Seconds from a Retry-After header (the delta-seconds form; HTTP dates are ignored)."""
    if response is None:
        return None
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
