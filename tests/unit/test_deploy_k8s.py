"""deploy/k8s: each overlay renders, is valid Kubernetes, probes what tfo serves, and passes checkov.

The default overlays share no volume between pods: workers take the infra code from
git (infra.yaml `source:`) and saved plans from an S3 bucket (`artifacts:`), and
every pod writes only to its own emptyDirs. The shared-volume mode is an optional
component (components/shared-volume), rendered here on top of the dev overlay.

Rendering uses `kubectl kustomize` when kubectl is installed, else the small offline
renderer below. It implements only what deploy/k8s uses (resources, components,
patches with strategic merge, namespace, images) and refuses anything else; when
kubectl is present a test checks that both give the same objects.

checkov cannot live in the project's venv: its dependency bc-python-hcl2 installs a
top-level `hcl2` package over python-hcl2 8.x, which tfo imports. It is installed
once into its own venv under .tfo-dev/ (or taken from TFO_CHECKOV).
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import typer
import yaml
from prometheus_client import CollectorRegistry

from tests.unit.yaml_text import without_top_level_keys
from tfo.config.loader import LoadedConfig, load_config
from tfo.config.model import InfraConfig
from tfo.daemon import cli, cli_services
from tfo.daemon.metrics import MetricsServer

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.37"
CRD_KINDS = {"ServiceMonitor"}
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / ".tfo-dev" / "checkov-venv"
INFRA_MOUNT = "/etc/tfo"
SHARED_VOLUME = K8S / "components" / "shared-volume"
# Volume sources a pod may use without sharing anything with another pod.
POD_LOCAL_SOURCES = {"emptyDir", "ephemeral", "configMap", "secret"}
GIT_CONFIG_MAP, GIT_SECRET = "tfo-gitconfig", "tfo-git-credentials"


# --- rendering ------------------------------------------------------------------------

# Strategic-merge keys of the lists deploy/k8s patches; any other list is replaced,
# as Kubernetes does for lists without a patchMergeKey.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "components", "patches", "namespace", "images"}


def strategic_merge(dest: Any, patch: Any, field: str | None = None) -> Any:
    if isinstance(dest, dict) and isinstance(patch, dict):
        merged = dict(dest)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(dest, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        existing = {item[key]: item for item in dest}
        patched = {item[key] for item in patch}
        # kustomize puts the patch's items first, in the patch's order (merged into the
        # existing item of the same key, if any), then the existing items it left alone.
        merged = [
            strategic_merge(existing[item[key]], item) if item[key] in existing else copy.deepcopy(item)
            for item in patch
        ]
        return merged + [item for item in dest if item[key] not in patched]
    return copy.deepcopy(patch)


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def render_offline(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unsupported, f"{directory}: the offline renderer does not implement {sorted(unsupported)}"
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += render_offline(path) if path.is_dir() else load_documents(path)
    for entry in kustomization.get("components", []):
        component = directory / entry
        assert yaml.safe_load((component / "kustomization.yaml").read_text())["kind"] == "Component"
        objects = apply_kustomization(component, objects + render_offline_resources(component))
    return apply_kustomization(directory, objects)


def render_offline_resources(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return [doc for entry in kustomization.get("resources", []) for doc in load_documents(directory / entry)]


def apply_kustomization(directory: Path, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = copy.deepcopy(objects)
    for entry in kustomization.get("patches", []):
        assert set(entry) == {"path"}, f"{directory}: only `patches: - path:` is implemented"
        for patch in load_documents(directory / entry["path"]):
            targets = [
                i
                for i, obj in enumerate(objects)
                if (obj["kind"], obj["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])
            ]
            assert len(targets) == 1, f"{entry['path']}: patch target {patch['kind']}/{patch['metadata']['name']}"
            objects[targets[0]] = strategic_merge(objects[targets[0]], patch)
    if "namespace" in kustomization:
        for obj in objects:
            assert obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"), "cluster-scoped"
            obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        assert set(image) <= {"name", "newName", "newTag"}, image
        for obj in objects:
            for container in pod_containers(obj):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return objects


def render_kubectl(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render(directory: Path) -> list[dict[str, Any]]:
    return render_kubectl(directory) if shutil.which("kubectl") else render_offline(directory)


_RENDERED: dict[str, list[dict[str, Any]]] = {}


def rendered(overlay: str) -> list[dict[str, Any]]:
    if overlay not in _RENDERED:
        _RENDERED[overlay] = render(K8S / "overlays" / overlay)
    return copy.deepcopy(_RENDERED[overlay])


def with_shared_volume(tmp_path: Path, overlay: str = "dev") -> Path:
    """A kustomization in tmp_path: `overlay` plus components/shared-volume, as an operator would add it."""
    directory = tmp_path / f"{overlay}-shared-volume"
    directory.mkdir()
    namespace = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())["namespace"]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": [os.path.relpath(K8S / "overlays" / overlay, directory)],
        "components": [os.path.relpath(SHARED_VOLUME, directory)],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def objects_of(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in rendered(overlay) if obj["kind"] == kind}


def validate_strictly(objects: list[dict[str, Any]], label: str) -> None:
    assert objects
    seen = set()
    for obj in objects:
        assert key(obj) not in seen, f"duplicate {key(obj)}"
        seen.add(key(obj))
        if obj["kind"] in CRD_KINDS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{label}: {obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def pod_layout(deployment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], dict[str, str | None]]:
    """The single tfo container's volumes by name, mounts (path -> volume name) and env values."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    return volumes, mounts, env


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: str | int) -> int:
    """Bytes in a Kubernetes storage quantity such as `10Gi` (the forms used here)."""
    match = re.fullmatch(r"(\d+)([kMGT]i?|)", str(value))
    assert match, f"unexpected quantity {value!r}"
    return int(match.group(1)) * _UNITS[match.group(2)]


# --- what tfo serves --------------------------------------------------------------------


def parse_tfo(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse a `tfo ...` command line with tfo's real CLI; unknown options fail."""
    assert argv[0] == "tfo", argv
    group = typer.main.get_command(cli.app)
    parent = group.context_class(group, info_name="tfo")
    command = group.get_command(parent, argv[1])  # type: ignore[attr-defined]
    assert command is not None, f"tfo has no command {argv[1]!r}"
    ctx = command.make_context(argv[1], list(argv[2:]), parent=parent)
    return argv[1], dict(ctx.params)


def daemon_metrics_port() -> int:
    return int(inspect.signature(cli_services.daemon_).parameters["metrics_port"].default)


def worker_metrics_port() -> int | None:
    parameter = inspect.signature(cli_services.worker).parameters.get("metrics_port")
    return None if parameter is None else int(parameter.default)


@pytest.fixture(scope="module")
def served_paths() -> Iterator[dict[str, tuple[int, int]]]:
    """HTTP status of each probe path on the real MetricsServer: (when ready, when not ready)."""
    ready = threading.Event()
    server = MetricsServer(CollectorRegistry(), port=0, host="127.0.0.1", ready=ready.is_set)
    server.start()

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        paths = ("/healthz", "/readyz", "/metrics")
        not_ready = {path: status(path) for path in paths}
        ready.set()
        yield {path: (status(path), not_ready[path]) for path in paths}
    finally:
        server.stop()


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for entry in container.get("ports", []):
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


# --- tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay: str) -> None:
    validate_strictly(rendered(overlay), overlay)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_offline_renderer_matches_kubectl(overlay: str) -> None:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed; the offline renderer is used unchecked")
    directory = K8S / "overlays" / overlay
    offline = {key(obj): obj for obj in render_offline(directory)}
    kubectl = {key(obj): obj for obj in render_kubectl(directory)}
    assert offline.keys() == kubectl.keys()
    for name, obj in kubectl.items():
        assert offline[name] == obj, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_namespaced_and_labelled(overlay: str) -> None:
    namespace = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())["namespace"]
    for obj in rendered(overlay):
        assert obj["metadata"]["namespace"] == namespace
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tfo", key(obj)


def test_dev_has_one_daemon_and_one_worker() -> None:
    deployments = objects_of("dev", "Deployment")
    assert set(deployments) == {"tfo-daemon", "tfo-worker"}
    assert deployments["tfo-daemon"]["spec"]["replicas"] == 1
    hpa = objects_of("dev", "HorizontalPodAutoscaler")["tfo-worker"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 1)
    assert not objects_of("dev", "ServiceMonitor")


def test_prod_serves_every_queue_of_its_config_with_its_own_credentials(tmp_path: Path) -> None:
    loaded = load_infra_config("prod", tmp_path)
    queues: dict[str, str] = {}
    for name, deployment in objects_of("prod", "Deployment").items():
        if name == "tfo-daemon":
            continue
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        _, params = parse_tfo(container["args"])
        for queue in params["task_queue"] or [params["default_queue"]]:
            assert queue not in queues, f"{queue} is served by {queues[queue]} and {name}"
            queues[queue] = name
        secrets = {ref["secretRef"]["name"] for ref in container.get("envFrom", []) if "secretRef" in ref}
        if params["task_queue"]:
            assert secrets == {f"tfo-provider-credentials-{queue}" for queue in params["task_queue"]}
    assert set(queues) == {loaded.config.task_queue, *loaded.task_queues()}
    assert set(queues) >= {"tfo", "prod", "staging"}
    hpas = objects_of("prod", "HorizontalPodAutoscaler")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in hpas.values()} == set(queues.values())
    pdbs = objects_of("prod", "PodDisruptionBudget")
    assert len(pdbs) == len(queues)
    assert objects_of("prod", "ServiceMonitor")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_infra_configmap_is_a_valid_config(overlay: str, tmp_path: Path) -> None:
    loaded = load_infra_config(overlay, tmp_path)
    assert loaded.config.name, "a ConfigMap mount needs an explicit config name"
    # The mount resolves to a timestamped directory: without `id` the identity (which
    # keys schedules, the drift ledger and workspace locks) would change at every update.
    assert loaded.config.id, "a ConfigMap mount needs an explicit config id"
    artifacts = infra_data(overlay)["artifacts"]
    url = artifacts if isinstance(artifacts, str) else artifacts["url"]
    assert urlsplit(url).scheme == "s3", "pods share no disk: plans go to an S3 bucket"
    daemon = objects_of(overlay, "Deployment")["tfo-daemon"]
    (container,) = daemon["spec"]["template"]["spec"]["containers"]
    _, params = parse_tfo(container["args"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == INFRA_MOUNT)
    volume = next(v for v in daemon["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "tfo-infra"
    assert Path(params["config"]) == Path(INFRA_MOUNT) / "infra.yaml"


def infra_text(overlay: str) -> str:
    return str(objects_of(overlay, "ConfigMap")["tfo-infra"]["data"]["infra.yaml"])


def infra_data(overlay: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(infra_text(overlay))
    return data


def loader_knows_sources() -> bool:
    return {"source", "artifacts"} <= set(InfraConfig.model_fields)


def load_infra_config(overlay: str, tmp_path: Path) -> LoadedConfig:
    """Load the overlay's infra.yaml with tfo's real loader, its git URL replaced by a local repository.

    While tfo's loader does not know `source:` and `artifacts:` yet, those two are
    checked with their own models and the rest is loaded with `workspace_root` where
    a checkout would put the workspaces.
    """
    text = infra_text(overlay)
    data = infra_data(overlay)
    assert "workspace_root" not in data, "the workspaces come from `source:`, not from a mounted directory"
    source = data["source"]
    repo = tmp_path / "infra"
    root = repo / source.get("path", "")
    for ws in data["workspaces"]:
        (root / ws["dir"]).mkdir(parents=True, exist_ok=True)
        (root / ws["dir"] / "main.tf").touch()
    if loader_knows_sources():
        init_repo(repo, branch=source["ref"])
        text = text.replace(source["git"], repo.as_uri())
    else:
        from tfo.config.artifact_models import ArtifactsConfig
        from tfo.config.source_models import GitSource

        GitSource.model_validate(source)
        ArtifactsConfig.model_validate(data["artifacts"])
        text = without_top_level_keys(text, {"source", "artifacts"}) + f"workspace_root: {root}\n"
    config = tmp_path / "infra.yaml"
    config.write_text(text)
    names = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    with pytest.MonkeyPatch.context() as env:
        for name in names:
            env.setenv(name, "json://127.0.0.1:9/hook")
        return load_config(config)


def init_repo(repo: Path, *, branch: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    identity = ["-c", "user.name=tfo", "-c", "user.email=tfo@example.com"]
    for args in (["init", "-q", "-b", branch], ["add", "-A"], [*identity, "commit", "-q", "-m", "infra"]):
        subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_daemon_probes_hit_what_the_daemon_serves(overlay: str, served_paths: dict[str, tuple[int, int]]) -> None:
    assert served_paths["/healthz"] == (200, 200)
    assert served_paths["/readyz"] == (200, 503)
    daemon = objects_of(overlay, "Deployment")["tfo-daemon"]
    (container,) = daemon["spec"]["template"]["spec"]["containers"]
    _, params = parse_tfo(container["args"])
    assert params["metrics_port"] == daemon_metrics_port()
    check_probes(container, params["metrics_port"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_probes_hit_what_the_worker_serves(overlay: str) -> None:
    port = worker_metrics_port()
    if port is None:
        pytest.xfail("`tfo worker` has no --metrics-port yet: its /healthz and /readyz (issue 10) are not served")
    for name, deployment in objects_of(overlay, "Deployment").items():
        if name == "tfo-daemon":
            continue
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        _, params = parse_tfo(container["args"])
        check_probes(container, params.get("metrics_port", port))


def check_probes(container: dict[str, Any], metrics_port: int) -> None:
    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, (container["name"], probe)
        assert container_port(container, get["port"]) == metrics_port, (container["name"], probe)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down_and_writable_where_terraform_writes(overlay: str) -> None:
    for name, deployment in objects_of(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 300, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        volumes, mounts, env = pod_layout(deployment)
        # Everything tfo and terraform write goes to the pod's own emptyDirs: the state
        # dir, and the work dir (git trees, init markers, fetched plans, plugin cache) in
        # a volume of its own, which components/shared-volume leaves local.
        for path in ("/tmp", env["HOME"], env["TFO_STATE_DIR"], env["TFO_WORK_DIR"]):
            assert path in mounts and "emptyDir" in volumes[mounts[path]], (name, path)
        assert mounts[env["TFO_STATE_DIR"]] != mounts[env["TFO_WORK_DIR"]], name
        # emptyDirs count against the pod's ephemeral-storage limit: the kubelet would
        # evict the pod before a volume reached its sizeLimit if the limit were smaller.
        local = sum(quantity(v["emptyDir"]["sizeLimit"]) for v in volumes.values() if "emptyDir" in v)
        assert local <= quantity(container["resources"]["limits"]["ephemeral-storage"]), name
        # Credentials are referenced, never inlined.
        for entry in container["env"]:
            if re.search(r"KEY|SECRET|TOKEN|PASSWORD|URL", entry["name"]) and "value" in entry:
                assert entry["name"] in ("TFO_TEMPORAL_TLS_KEY",) and entry["value"].startswith("/"), entry
    assert not objects_of(overlay, "Secret"), "Secrets are created by the operator, not shipped"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_overlays_share_no_volume(overlay: str) -> None:
    assert "ReadWriteMany" not in yaml.safe_dump_all(rendered(overlay))
    assert not objects_of(overlay, "PersistentVolumeClaim")
    deployments = objects_of(overlay, "Deployment")
    assert {"tfo-daemon", "tfo-worker"} <= set(deployments)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        for volume in pod["volumes"]:
            sources = set(volume) - {"name"}
            assert len(sources) == 1 and sources <= POD_LOCAL_SOURCES, (name, volume)
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), f"{name}: emptyDir {volume['name']} has no sizeLimit"
        for container in pod_containers(deployment):
            assert not [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/infra"], name


def test_only_the_shared_volume_component_asks_for_storage_and_nothing_for_readwritemany() -> None:
    for path in sorted(K8S.rglob("*.yaml")):
        text = path.read_text()
        assert "ReadWriteMany" not in text, path
        if SHARED_VOLUME not in path.parents:
            assert "PersistentVolumeClaim" not in text, path
    for overlay in OVERLAYS:
        kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
        included = [Path(entry).name for entry in kustomization.get("components", [])]
        assert SHARED_VOLUME.name not in included, f"{overlay} includes the shared-volume component"


def test_shared_volume_component_still_renders(tmp_path: Path) -> None:
    directory = with_shared_volume(tmp_path)
    objects = render(directory)
    if shutil.which("kubectl"):
        assert {key(obj): obj for obj in render_offline(directory)} == {key(obj): obj for obj in objects}
    validate_strictly(objects, "dev + shared-volume")
    claims = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "PersistentVolumeClaim"}
    assert set(claims) == {"tfo-workspaces", "tfo-state"}
    assert all(claim["spec"]["accessModes"] == ["ReadWriteOnce"] for claim in claims.values())  # one node
    deployments = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "Deployment"}
    for name in ("tfo-daemon", "tfo-worker"):
        volumes, mounts, env = pod_layout(deployments[name])
        for volume in volumes.values():
            assert len(set(volume) - {"name"}) == 1, (name, volume)
        for path, claim in (("/infra", "tfo-workspaces"), (env["TFO_STATE_DIR"], "tfo-state")):
            assert volumes[mounts[path]]["persistentVolumeClaim"]["claimName"] == claim, (name, path)
        # terraform's plugin cache must not be shared between hosts: the work dir stays local.
        assert "emptyDir" in volumes[mounts[env["TFO_WORK_DIR"]]], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_git_credentials_come_from_an_optional_secret(overlay: str, tmp_path: Path) -> None:
    secret_dirs = set()
    for name, deployment in objects_of(overlay, "Deployment").items():
        volumes, mounts, env = pod_layout(deployment)
        config_file = Path(str(env["GIT_CONFIG_GLOBAL"]))
        assert volumes[mounts[str(config_file.parent)]]["configMap"]["name"] == GIT_CONFIG_MAP, name
        (secret_dir,) = [
            path for path, volume in mounts.items() if volumes[volume].get("secret", {}).get("secretName") == GIT_SECRET
        ]
        secret = volumes[mounts[secret_dir]]["secret"]
        # Optional: a public repository needs none. Never readable by other users.
        assert secret["optional"] is True and secret["defaultMode"] & 0o007 == 0, name
        secret_dirs.add(secret_dir)
    (secret_dir,) = secret_dirs
    git_url = urlsplit(infra_data(overlay)["source"]["git"])
    assert git_url.hostname

    # The gitconfig, with the Secret's mount path pointing at files here, in real git.
    files = tmp_path / "git-credentials"
    files.mkdir()
    (files / "token").write_text("t0ken-from-the-secret\n")
    gitconfig = objects_of(overlay, "ConfigMap")[GIT_CONFIG_MAP]["data"][config_file.name]
    assert secret_dir in gitconfig
    (tmp_path / "gitconfig").write_text(gitconfig.replace(secret_dir, str(files)))
    env_git = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }

    def fill(host: str) -> str:
        query = f"protocol=https\nhost={host}\n\n"
        result = subprocess.run(
            ["git", "credential", "fill"], input=query, env=env_git, capture_output=True, text=True, timeout=30
        )
        return result.stdout

    answer = fill(git_url.hostname)
    assert "username=x-access-token\n" in answer and "password=t0ken-from-the-secret\n" in answer
    assert "t0ken" not in fill("github.com"), "the token is offered to another host"
    ssh = subprocess.run(
        ["git", "config", "--global", "core.sshCommand"], env=env_git, capture_output=True, text=True, timeout=30
    ).stdout.split()
    assert ["-i", f"{files}/ssh-privatekey"] == ssh[ssh.index("-i") : ssh.index("-i") + 2]
    assert f"UserKnownHostsFile={files}/known_hosts" in ssh
    assert "StrictHostKeyChecking=yes" in ssh


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_service_and_network_policy(overlay: str) -> None:
    port = daemon_metrics_port()
    service = objects_of(overlay, "Service")["tfo-daemon-metrics"]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    daemon_labels = objects_of(overlay, "Deployment")["tfo-daemon"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= daemon_labels.items()
    policy = objects_of(overlay, "NetworkPolicy")["tfo"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {port, 9465}
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    # HTTPS covers git over https:// and S3; git over SSH needs port 22 as well.
    ssh = urlsplit(infra_data(overlay)["source"]["git"]).scheme == "ssh"
    assert egress_ports == {53, 7233, 443} | ({22} if ssh else set())


# --- checkov ----------------------------------------------------------------------------

# A deliberately bad Deployment scanned alongside ours: checkov must flag it, so a
# clean result for our files means the scan really ran.
CONTROL = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "control", "namespace": "default"},
    "spec": {
        "selector": {"matchLabels": {"app": "control"}},
        "template": {
            "metadata": {"labels": {"app": "control"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:latest", "securityContext": {"privileged": True}}]},
        },
    },
}


def checkov_binary() -> Path:
    """checkov lives in its own venv (its hcl2 clashes with python-hcl2): `make test` installs it."""
    binary = Path(os.environ.get("TFO_CHECKOV") or CHECKOV_VENV / "bin" / "checkov")
    if not binary.exists():
        pytest.fail(f"checkov is not installed at {binary}: run `make test`, which installs checkov=={CHECKOV_VERSION}")
    return binary


def test_checkov_passes_with_every_waiver_explained(tmp_path: Path) -> None:
    scan = tmp_path / "scan"
    scan.mkdir()
    for overlay in OVERLAYS:
        (scan / f"{overlay}.yaml").write_text(yaml.safe_dump_all(rendered(overlay), sort_keys=False))
    shared = render(with_shared_volume(tmp_path))
    (scan / "dev-shared-volume.yaml").write_text(yaml.safe_dump_all(shared, sort_keys=False))
    (scan / "control.yaml").write_text(yaml.safe_dump(CONTROL))
    shutil.copy(ROOT / "Dockerfile", scan / "Dockerfile")
    result = subprocess.run(
        [
            str(checkov_binary()),
            "-d",
            str(scan),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    by_type = {report["check_type"]: report for report in reports}
    assert set(by_type) == {"kubernetes", "dockerfile"}, result.stderr[-2000:]
    failed = [check for report in reports for check in report["results"]["failed_checks"]]
    ours = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in failed if c["file_path"] != "/control.yaml"]
    assert not ours, "checkov findings to fix or waive with a reason:\n" + "\n".join(ours)
    assert any(c["file_path"] == "/control.yaml" for c in failed), "checkov flagged nothing in the control"
    for report in reports:
        assert not report["results"]["parsing_errors"], report["results"]["parsing_errors"]
        for check in report["results"]["skipped_checks"]:
            reason = check["check_result"].get("suppress_comment", "")
            assert len(reason) > 20, f"{check['check_id']} on {check['resource']} is waived without a reason"
    assert by_type["dockerfile"]["summary"]["resource_count"] == 1
    assert by_type["dockerfile"]["summary"]["passed"] > 0


def test_kubernetes_guide_matches_the_manifests() -> None:
    guide = (ROOT / "docs/kubernetes.md").read_text()
    secrets: set[str] = set()
    config_maps: set[str] = set()
    waivers: set[str] = set()
    for overlay in OVERLAYS:
        for name, deployment in objects_of(overlay, "Deployment").items():
            assert f"`{name}`" in guide, name
            for annotation, value in deployment["metadata"].get("annotations", {}).items():
                if annotation.startswith("checkov.io/skip"):
                    waivers.add(value.split("=", 1)[0])
            pod = deployment["spec"]["template"]["spec"]
            secrets |= {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
            config_maps |= {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
            for container in pod["containers"]:
                secrets |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
                config_maps |= {e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e}
                secrets |= {
                    e["valueFrom"]["secretKeyRef"]["name"]
                    for e in container.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})
                }
    for name in sorted(secrets | config_maps | waivers):
        assert f"`{name}`" in guide, f"docs/kubernetes.md does not mention {name}"
    assert "components/shared-volume" in guide
