"""Ctrl-C stops the long-running commands, whatever the process inherited.

A child inherits its parent's signal mask and an ignored SIGINT across fork and exec: a background
job of a non-interactive shell starts with SIGINT ignored, and a library that blocks signals in a
thread that starts processes passes the block on. Python then never raises KeyboardInterrupt, and
`sextant devnet` or `sextant up` (and the children `up` stops with SIGINT) run on after Ctrl-C.
"""

from __future__ import annotations

import signal


def ctrl_c_stops() -> None:
    """Unblock SIGINT and SIGTERM and make SIGINT raise KeyboardInterrupt in this process (and so,
    after exec, take its default action in the children it starts)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.default_int_handler)
