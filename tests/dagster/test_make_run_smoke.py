"""`make run` in process, for a bounded time: the first runs `sextant up` makes, then the daemon's work.

The devnet plays the default story (seed 7, 80 blocks, as `make run` does) and mines more blocks
between rounds; the first runs are `orchestration.demo.first_runs`; then each round evaluates every
schedule and sensor with Dagster's own `evaluate_tick` (validation included), runs what they ask
for in process, and evaluates the automation conditions as the automation sensor would. Asserted:
every asset group has a materialization, no run failed, no tick raised, the fraud and chain
routes' tables hold data, and every GET route of the README's "What you see where" table answers 200
with data from what the runs wrote.
"""

from __future__ import annotations

import io
import random
import re
import traceback
from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage
from rich.console import Console

from orchestration.definitions import build_definitions
from orchestration.demo import first_runs
from orchestration.instance import REPO_ROOT
from resources.warehouse import Warehouse

ROUNDS = 3


@pytest.fixture(scope="module")
def story(devnet_build_dir):
    from orchestration.simulator.scenario import start_devnet

    server, truth = start_devnet(7, port=0, blocks=80, cache_dir=devnet_build_dir)
    yield server, truth
    server.stop()


def _execute(defs, instance, job_name, request) -> dg.DagsterRunStatus:
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        run_config=request.run_config or None,
        tags=request.tags,
        partition_key=request.partition_key,
        raise_on_error=False,
    )
    return result.dagster_run.status


def test_make_run_leaves_every_domain_whole_with_no_failed_run_or_tick(story, tmp_path):
    from resources.settings import Settings

    server, _ = story
    settings = Settings(
        SEXTANT_HOME=tmp_path / "home",
        WAREHOUSE_URL=f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
        CHAIN_RPC_URL=server.url,
        DEVNET_GROUND_TRUTH=tmp_path / "truth.json",
        NLP_TRAIN_SECONDS=5,
        TORCH_THREADS=1,
    )
    from orchestration.simulator.scenario import write_ground_truth

    write_ground_truth(story[1], settings.resolved_devnet_ground_truth)  # what `sextant devnet` writes
    console = Console(file=io.StringIO(), width=120)
    tick_errors: list[str] = []
    with dg.instance_for_test() as instance, set_defs_state_storage(instance.defs_state_storage):
        first_runs(instance, settings, console, days=7)  # as `make run`: the price model needs the bars
        defs = build_definitions(settings)
        cursors: dict[str, str | None] = {}
        automation_cursor = None
        for round_ in range(ROUNDS):
            server.world.random_trade(random.Random(round_))
            server.world.mine()
            for schedule in defs.schedules or []:
                context = dg.build_schedule_context(
                    instance=instance, resources=defs.resources, scheduled_execution_time=datetime.now(UTC)
                )
                try:
                    with context:
                        data = schedule.evaluate_tick(context)
                except Exception as exc:  # noqa: BLE001 - a tick that raises is what this test looks for
                    tick_errors.append(f"{schedule.name}: {exc}\n{traceback.format_exc()}")
                    continue
                if schedule.name == "market_hourly_schedule":  # the others retrain what first_runs trained
                    for request in data.run_requests or []:
                        _execute(defs, instance, schedule.job_name, request)
            for sensor in defs.sensors or []:
                if isinstance(sensor, dg.AutomationConditionSensorDefinition):
                    continue
                context = dg.build_sensor_context(  # with the instance's ref, as the daemon's code server has it
                    instance=instance, instance_ref=instance.get_ref(), resources=defs.resources, definitions=defs,
                    cursor=cursors.get(sensor.name),
                )
                try:
                    with context:
                        data = sensor.evaluate_tick(context)
                except Exception as exc:  # noqa: BLE001
                    tick_errors.append(f"{sensor.name}: {exc}\n{traceback.format_exc()}")
                    continue
                cursors[sensor.name] = data.cursor
                for request in data.dynamic_partitions_requests or []:
                    instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
                for request in data.run_requests or []:
                    _execute(defs, instance, request.job_name or sensor.job_name, request)
            automation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=automation_cursor)
            automation_cursor = automation.cursor
            requested: dict[str | None, list[dg.AssetKey]] = {}  # what the automation sensor would launch
            for node in defs.resolve_asset_graph().asset_nodes:
                for partition in automation.get_requested_partitions(node.key):
                    requested.setdefault(partition, []).append(node.key)
            for partition, keys in sorted(requested.items(), key=lambda item: str(item[0])):
                dg.materialize(list(defs.assets or []), instance=instance, resources=defs.resources,
                               selection=keys, partition_key=partition, raise_on_error=False)

        runs = instance.get_runs()
        failed = [(r.job_name, r.tags.get("dagster/partition")) for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
        graph = defs.resolve_asset_graph()
        groups: dict[str, list[dg.AssetKey]] = {}
        for node in graph.asset_nodes:
            groups.setdefault(node.group_name, []).append(node.key)
        empty = [
            group for group, keys in groups.items()
            if not any(instance.get_latest_materialization_event(key) for key in keys)
        ]

    assert tick_errors == [], "\n".join(tick_errors)
    assert failed == [], f"{len(failed)} of {len(runs)} runs did not succeed: {failed}"
    assert empty == [], f"asset groups never materialized: {empty}"
    warehouse = Warehouse(settings.resolved_warehouse_url)
    assert warehouse.count("address_risk_scores") > 0  # fraud answers data
    assert warehouse.count("chain_blocks") > 80 and warehouse.count("wallet_clusters") > 0
    # the story's sandwiches and contracts (all in its first 80 blocks, indexed before any daemon) are analysed
    assert warehouse.count("mev_sandwiches") > 0 and warehouse.count("contract_analysis") > 0
    try:
        answers = _readme_routes_answer(settings, warehouse)
    finally:
        warehouse.dispose()
    empty_answers = {route: answer for route, answer in answers.items() if answer != "data"}
    assert len(answers) >= 20 and empty_answers == {}, empty_answers


def readme_get_routes() -> list[str]:
    """The GET paths of the README's "What you see where" table (query strings dropped)."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## What you see where", 1)[1].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("|"))
    table = section[start:section.index("", start)]
    routes = []
    for line in table:
        first = line.split("|")[1] if line.startswith("|") else ""
        if "GET " not in first:
            continue
        rest = first.split("GET ", 1)[1]  # `GET /a`, `/b`: every path after the verb, until another verb
        rest = rest.split("`POST", 1)[0]
        routes += [path.split("?", 1)[0] for path in re.findall(r"(/api/[^`\s]+)", rest)]
    return routes


def _readme_routes_answer(settings, warehouse) -> dict[str, str]:
    """Each README GET route, filled with values the runs wrote, called on the app -> "data" or what went wrong."""
    from fastapi.testclient import TestClient

    from resources.tokens import TokenStore
    from serving.app import create_app

    def first(table: str, column: str, **where) -> str:
        frame = warehouse.read(table, where or None, columns=[column])  # small: the devnet story
        values = [v for v in frame[column].to_list() if v and int(str(v), 16) != 0] if column.endswith("address") \
            else frame[column].to_list()
        assert values, f"{table}.{column} is empty"
        return str(values[0])

    sender = first("token_transfers", "from_address")
    values = {
        "/api/v1/chain/contract/{address}": {"address": first("contract_analysis", "address")},
        "/api/v1/fraud/score/{address}": {"address": first("address_risk_scores", "address")},
        "{address}": {"address": sender},
        "{symbol}": {"symbol": "BTC-USD"},
        "{number}": {"number": first("chain_blocks", "number")},
        "{hash}": {"hash": first("token_transfers", "transaction_hash")},  # one with logs and transfers
    }
    params = {"/api/v1/chain/mev": {"from_block": 0, "to_block": 10_000}}
    answers: dict[str, str] = {}
    app = create_app(settings, warehouse)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TokenStore(warehouse).create('smoke', 'read').token}"
        for route in readme_get_routes():
            fill = next((v for k, v in values.items() if route == k or (k.startswith("{") and k in route)), {})
            path = route.format(**fill)
            response = client.get(path, params=params.get(route, {}))
            if response.status_code != 200:
                answers[route] = f"{response.status_code}: {response.text[:200]}"
                continue
            answers[route] = "data" if _has_data(response) else f"no data: {response.text[:200]}"
    return answers


#: The list a listing answers with; an object without one must just not be empty.
LISTINGS = ("items", "clusters", "versions", "sandwiches")


def _has_data(response) -> bool:
    """Non-empty text, or a JSON object that is not empty and whose listing (if it is one) has rows."""
    if "json" not in response.headers.get("content-type", ""):
        return bool(response.text.strip())
    body = response.json()
    listing = [body[key] for key in LISTINGS if isinstance(body, dict) and key in body]
    return bool(body) and all(listing)
