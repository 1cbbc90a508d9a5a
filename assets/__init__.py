"""Dagster assets and checks, one package per domain: thin wiring over `ops` and `resources`.

Single-run backfills (`BackfillPolicy.single_run`) are still marked beta in Dagster 1.13; we rely on
them on purpose (a file spanning years is one run), so their warning is silenced once, here.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
