"""Test doubles shared by several test packages."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told: hand it where code takes a `clock` (monotonic or epoch)."""

    def __init__(self, start: float = 1_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
