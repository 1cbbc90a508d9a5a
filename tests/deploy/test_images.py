"""The image and the development stack: the Dockerfile's promises, and compose wired by the README's settings."""

from __future__ import annotations

import re

from tests.deploy.conftest import DEPLOY, REPO, setting_aliases, yaml_docs

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
COMPOSE = yaml_docs(DEPLOY / "docker-compose.yml")[0]
#: Variables the image or a third-party container reads that are not Sextant settings.
NOT_SETTINGS = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"(?m)^([A-Z]+)\s+(.*)$", text)]


def test_multi_stage_on_a_pinned_base():
    args = dict(a.split("=", 1) for op, a in _instructions() if op == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    froms = [a for op, a in _instructions() if op == "FROM"]
    assert len(froms) >= 2 and all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    assert any("--from=build" in a for op, a in _instructions() if op == "COPY")


def test_runs_as_a_non_root_user():
    users = [a for op, a in _instructions() if op == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root")
    assert f"--uid {uid}" in DOCKERFILE
    # the last stage ends with that user
    last_stage = DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]
    assert f"USER {users[-1]}" in last_stage


def test_installs_torch_cpu_first_then_the_lock_then_the_project():
    runs = [a for op, a in _instructions() if op == "RUN"]
    torch = next(i for i, r in enumerate(runs) if "torch==" in r)
    lock = next(i for i, r in enumerate(runs) if "-r requirements.lock" in r)
    project = next(i for i, r in enumerate(runs) if "--no-deps" in r)
    assert torch < lock < project
    assert "/whl/cpu" in runs[torch]
    pinned = re.search(r"^torch==(\S+)$", (REPO / "requirements.lock").read_text(), re.MULTILINE).group(1)
    assert re.search(r"torch==(\S+)", runs[torch]).group(1) == pinned.split("+")[0]
    copied = [a for op, a in _instructions() if op == "COPY"]
    assert any("requirements.lock" in c for c in copied[:1])  # the lock comes before the source (layer cache)


def test_image_serves_with_its_health_check_on_a_real_route():
    assert 'CMD ["sextant", "serve"]' in DOCKERFILE
    assert "/api/health/live" in DOCKERFILE
    assert "API_HOST=0.0.0.0" in DOCKERFILE


def test_dockerignore_keeps_local_state_out():
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".sextant", ".git", ".env"} <= set(ignored)


def _readme_settings() -> set[str]:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Settings") :]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))


def test_compose_has_the_whole_stack():
    assert set(COMPOSE["services"]) == {
        "postgres",
        "redis",
        "devnet",
        "code-location",
        "dagster-webserver",
        "dagster-daemon",
        "serving",
    }
    image = COMPOSE["services"]["serving"]["build"]
    assert (DEPLOY / image["context"] / image["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()


def test_compose_services_use_the_readme_settings():
    aliases = setting_aliases()
    readme = _readme_settings()
    for name, service in COMPOSE["services"].items():
        env = service.get("environment", {})
        unknown = set(env) - aliases - NOT_SETTINGS
        assert not unknown, f"{name}: {unknown} are not settings"
        assert set(env) & aliases <= readme, (
            f"{name}: {(set(env) & aliases) - readme} missing from the README"
        )
    serving = COMPOSE["services"]["serving"]["environment"]
    assert serving["CACHE_URL"].startswith("redis://redis:")
    assert (
        "@postgres:5432/" in serving["WAREHOUSE_URL"]
        and "@postgres:5432/dagster" in serving["DAGSTER_PG_URL"]
    )
    from resources.settings import Settings

    settings = Settings(**{k: v for k, v in serving.items() if k in aliases})
    assert settings.api_host == "0.0.0.0"


def test_compose_dagster_reads_the_postgres_instance_and_the_grpc_workspace():
    for name in ("dagster-webserver", "dagster-daemon", "code-location"):
        mounts = COMPOSE["services"][name]["volumes"]
        assert "./dagster/dagster-postgres.yaml:/opt/dagster/dagster_home/dagster.yaml:ro" in mounts
    workspace = yaml_docs(DEPLOY / "compose" / "workspace.yaml")[0]["load_from"][0]["grpc_server"]
    command = COMPOSE["services"]["code-location"]["command"]
    assert str(workspace["port"]) == command[command.index("--port") + 1]
    # the code location shares the devnet's network, so it is reached under the devnet's name
    assert COMPOSE["services"]["code-location"]["network_mode"] == f"service:{workspace['host']}"


def test_cluster_settings_are_documented_in_the_readme():
    (config,) = [d for d in yaml_docs(DEPLOY / "k8s" / "config.yaml") if d["kind"] == "ConfigMap"]
    missing = set(config["data"]) - _readme_settings()
    assert not missing, f"settings set on the cluster but missing from the README table: {sorted(missing)}"
