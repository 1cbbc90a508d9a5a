"""When to use Redis and when to fall back to process memory: one small state machine.

The cache and the rate limiter both prefer Redis (shared by every replica) and both must keep
answering when it fails. While Redis is healthy every call goes to it; after a failure calls go to
memory, one warning is logged, and once every `retry_seconds` a single call probes Redis again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal


class RedisFailover:
    """Tracks Redis health for one component; `fallbacks` counts the switches to memory."""

    def __init__(
        self, what: str, retry_seconds: float, log: logging.Logger, clock: Callable[[], float] = time.monotonic
    ):
        self.what = what  # e.g. "cache Redis", used in the log lines
        self.retry_seconds = retry_seconds
        self.fallbacks = 0
        self._log = log
        self._clock = clock
        self._down_since: float | None = None  # when Redis was given up; None while healthy
        self._retry_at = 0.0

    @property
    def healthy(self) -> bool:
        return self._down_since is None

    def use_redis(self) -> bool:
        """True while healthy, and for the one call that probes Redis once `retry_seconds` passed."""
        if self._down_since is None:
            return True
        now = self._clock()
        if now >= self._retry_at:
            self._retry_at = now + self.retry_seconds  # one call probes; the others stay on memory
            return True
        return False

    def failed(self, exc: BaseException, fallback: str) -> None:
        now = self._clock()
        self._retry_at = now + self.retry_seconds
        if self._down_since is None:
            self._down_since = now
            self.fallbacks += 1
            cause = exc.__cause__ or exc
            self._log.warning(
                "%s failed (%s: %s); %s in process memory, retrying Redis in %.0f s",
                self.what, cause.__class__.__name__, cause, fallback, self.retry_seconds,
            )
        else:
            self._log.debug("%s still failing: %s", self.what, exc.__class__.__name__)

    def answered(self) -> None:
        if self._down_since is not None:
            self._log.warning("%s is back after %.0f s", self.what, self._clock() - self._down_since)
            self._down_since = None


class RedisBacked:
    """What the cache and the rate limiter say about their backend: `_redis` (None when configured
    for memory only) and `_failover` are set by each."""

    _redis: Any
    _failover: RedisFailover

    @property
    def backend(self) -> Literal["redis", "memory"]:
        return "redis" if self._redis is not None and self._failover.healthy else "memory"

    @property
    def fallbacks(self) -> int:
        """Times Redis was given up for memory."""
        return self._failover.fallbacks

    @property
    def retry_seconds(self) -> float:
        return self._failover.retry_seconds
