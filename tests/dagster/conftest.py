"""Fixtures for real Dagster runs: a temporary instance and the project's resources."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.market.partitions import SYMBOLS
from resources.configurable import build_resources


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def resources(settings):
    return build_resources(settings)


@pytest.fixture
def add_symbols(instance):
    def add(*symbols: str) -> None:
        instance.add_dynamic_partitions(SYMBOLS.name, list(symbols))

    return add
