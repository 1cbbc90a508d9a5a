"""A blocking rate limiter for clients that must pace themselves (a hosted node bills per call).

The `limits` library answers "allowed now?" and leaves the waiting to the caller; a blocking client
needs "when may I send n calls?", which a token bucket answers exactly, with smooth pacing and
bounded bursts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Blocking rate limiter: ``acquire(n)`` returns once n tokens are spent at ``rate`` per second.

    Capacity (the largest burst) is one second's worth. A request larger than the capacity waits
    for a full bucket and then goes into debt, so the average rate still holds.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = float(rate)
        self._sleep = sleep
        self.capacity = max(1.0, self.rate)
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, n: int = 1) -> float:
        """Spend ``n`` tokens, sleeping as needed; returns the seconds waited."""
        waited = 0.0
        need = min(float(n), self.capacity)
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= need:
                    self._tokens -= n
                    return waited
                pause = (need - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause
