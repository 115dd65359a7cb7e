"""Loading infra.yaml: parse, validate every rule, and name the culprit on failure."""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import ValidationError

from tfo.config.dag import Dag
from tfo.config.drift_validation import check_drift_sections
from tfo.config.errors import ConfigError, DependencyCycleError
from tfo.config.files import module_problem
from tfo.config.model import InfraConfig, Operation, Workspace
from tfo.config.payloads import ConfigSnapshot, RunSettings, WorkspaceSpec
from tfo.config.policy_compile import check_policies
from tfo.config.source_layout import repo_path, source_lock_key, source_problems
from tfo.config.tenants import check_tenants, workspace_queue
from tfo.config.tfvars import read_tfvars
from tfo.config.validation_errors import from_validation_error, kind
from tfo.config.yaml_source import Loc, YamlDocument, read_yaml


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from."""

    config: InfraConfig
    path: Path
    root: Path
    dag: Dag

    @property
    def name(self) -> str:
        return self.config.name or self.path.resolve().parent.name or "infra"

    @property
    def id(self) -> str:
        """What schedules and the drift ledger are keyed by: never shared by accident.

        An explicit top-level `id:` wins (it survives moving the repo); otherwise the
        name plus a fingerprint of the config file's real path, so two repos both called
        `infra` (or two files with one `name:`) never share schedules or a ledger.
        """
        return self.config.id or config_id(self.name, self.path)

    def workspace_dir(self, ws: Workspace) -> Path:
        return (self.root / ws.dir).resolve()

    def tfvars_path(self, ws: Workspace) -> Path | None:
        return (self.root / ws.tfvars).resolve() if ws.tfvars else None

    def task_queues(self) -> list[str]:
        """Every task queue the workspaces' terraform runs on (tenants applied)."""
        return sorted({workspace_queue(self.config, ws) for ws in self.config.workspaces})


def load_config(path: Path, *, check_files: bool = True) -> LoadedConfig:
    """Read, parse and validate a config file.

    Args:
        check_files: Also check the workspace dirs and tfvars files. Commands that
            only read Temporal (`tfo drift`) pass False: a missing dir must not hide
            the drift state of every other workspace.

    Raises:
        ConfigError: anything is wrong; the message names file, line and workspace.
    """
    doc = read_yaml(path)
    return validate_document(doc, path, check_files=check_files)


def validate_document(doc: YamlDocument, path: Path, *, check_files: bool = True) -> LoadedConfig:
    """Validate already-parsed YAML data as infra.yaml."""
    source = str(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"the document must be a mapping with a 'workspaces' list, not a {kind(doc.data)}",
            path=source,
            line=doc.line_of(()),
        )
    try:
        config = InfraConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise from_validation_error(exc, doc, source) from None
    root = (path.resolve().parent / config.workspace_root).resolve()
    dag = _check_graph(config, doc, source)
    check_tenants(config, doc, source)
    check_drift_sections(config, doc, source)
    check_policies(config.policies, doc, source)
    loaded = LoadedConfig(config=config, path=path, root=root, dag=dag)
    if config.source is not None:
        for i, field, problem in source_problems(config):
            raise _ws_error(doc, source, i, config.workspaces[i].name, field, problem)
    elif check_files:
        _check_files(loaded, doc, source)  # a git source's files are checked out by workers
    return loaded


def snapshot(loaded: LoadedConfig, *, state_dir: Path) -> ConfigSnapshot:
    """Normalise a loaded config into the payload a run carries."""
    cfg = loaded.config
    specs = []
    for ws in cfg.workspaces:
        if cfg.source is not None:
            where, tfvars_at = repo_path(cfg.source, ws.dir), ws.tfvars and repo_path(cfg.source, ws.tfvars)
            key = source_lock_key(cfg.source, ws)
        else:
            directory, tfvars = loaded.workspace_dir(ws), loaded.tfvars_path(ws)
            where, tfvars_at, key = str(directory), str(tfvars) if tfvars else None, lock_key(directory)
        specs.append(
            WorkspaceSpec(
                name=ws.name,
                dir=where,
                tfvars=tfvars_at,
                vars=ws.vars,
                depends_on=sorted(set(ws.depends_on)),
                inputs=ws.inputs,
                operations=ws.operations,
                binary=ws.binary or cfg.terraform.binary,
                task_queue=workspace_queue(cfg, ws),
                lock_key=key,
                remediate=ws.remediate,
                drift_ignore=[
                    rule for rule in cfg.drift.ignore if any(fnmatchcase(ws.name, g) for g in rule.workspaces)
                ],
            )
        )
    tf = cfg.terraform
    return ConfigSnapshot(
        name=loaded.name,
        id=loaded.id,
        path=str(loaded.path.resolve()),
        state_dir=str(state_dir.resolve()),
        task_queue=cfg.task_queue,
        workspaces=specs,
        settings=RunSettings(
            parallelism=tf.parallelism,
            lock_timeout=tf.lock_timeout,
            timeout=tf.timeout,
            heartbeat_timeout=tf.heartbeat_timeout,
            approval_timeout=tf.approval_timeout,
            worker_timeout=tf.worker_timeout,
        ),
        alerts=cfg.alerts,
        policies=cfg.policies,
        source=cfg.source,
        artifacts=cfg.artifacts,
    )


def config_id(name: str, path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def lock_key(directory: Path) -> str:
    """The workspace's mutual-exclusion key: the state it works on, not its name.

    Two workspaces (of one config or of two) on one directory share its state, so
    they share one lock. The key is the real directory; with a remote backend the
    state address would refine it, but reading it needs the backend block parsed
    (and `-backend-config` files), so one directory is one lock: safe, if coarse.
    """
    real = directory.resolve()
    digest = hashlib.sha256(str(real).encode()).hexdigest()[:16]
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", real.name).strip("-.")[:40] or "root"
    return f"{label}-{digest}"


def _ws_error(doc: YamlDocument, source: str, index: int, name: str, key: str | None, message: str) -> ConfigError:
    loc: Loc = ("workspaces", index) if key is None else ("workspaces", index, key)
    return ConfigError(f"workspace {name!r}: {message}", path=source, line=doc.line_of(loc))


def _check_graph(config: InfraConfig, doc: YamlDocument, source: str) -> Dag:
    seen: dict[str, int] = {}
    for i, ws in enumerate(config.workspaces):
        if ws.name in seen:
            raise _ws_error(
                doc, source, i, ws.name, "name", f"duplicate name (first defined as workspaces[{seen[ws.name]}])"
            )
        seen[ws.name] = i
    names = sorted(seen)
    for i, ws in enumerate(config.workspaces):
        for dep in ws.depends_on:
            if dep == ws.name:
                raise _ws_error(doc, source, i, ws.name, "dependsOn", "depends on itself")
            if dep not in seen:
                hint = difflib.get_close_matches(dep, names, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise _ws_error(
                    doc, source, i, ws.name, "dependsOn", f"dependsOn names unknown workspace {dep!r}{extra}"
                )
    try:
        dag = Dag({ws.name: ws.depends_on for ws in config.workspaces})
    except DependencyCycleError as exc:
        first = exc.message.removeprefix("cycle: ").split(" -> ")[0]
        raise DependencyCycleError(
            exc.message, path=source, line=doc.line_of(("workspaces", seen[first], "dependsOn"))
        ) from None
    for i, ws in enumerate(config.workspaces):
        # Walked only past a direct dependency: walking every workspace's ancestors is
        # quadratic (minutes at 10,000 workspaces).
        indirect = {m.source_workspace for m in ws.inputs} - set(ws.depends_on)
        ancestors = dag.ancestors(ws.name) if indirect else set(ws.depends_on)
        targets: dict[str, int] = {}
        for j, mapping in enumerate(ws.inputs):
            loc_key = "inputs"
            if mapping.source_workspace not in ancestors:
                raise ConfigError(
                    f"workspace {ws.name!r}: input {mapping.target_var!r} reads from "
                    f"{mapping.source_workspace!r}, which is not a direct or transitive dependency "
                    "(add it to dependsOn)",
                    path=source,
                    line=doc.line_of(("workspaces", i, loc_key, j)),
                )
            if mapping.target_var in targets:
                raise ConfigError(
                    f"workspace {ws.name!r}: two inputs set variable {mapping.target_var!r}",
                    path=source,
                    line=doc.line_of(("workspaces", i, loc_key, j)),
                )
            targets[mapping.target_var] = j
        ops = ws.operations
        if not ops:
            raise _ws_error(doc, source, i, ws.name, "operations", "operations must not be empty")
        if len(set(ops)) != len(ops):
            raise _ws_error(doc, source, i, ws.name, "operations", "operations lists a step twice")
        if Operation.APPLY in ops and Operation.PLAN not in ops:
            raise _ws_error(
                doc,
                source,
                i,
                ws.name,
                "operations",
                "'apply' needs 'plan': tfo only ever applies a saved plan",
            )
    return dag


def _check_files(loaded: LoadedConfig, doc: YamlDocument, source: str) -> None:
    if not loaded.root.is_dir():
        raise ConfigError(
            f"workspace_root {loaded.config.workspace_root!r} is not a directory ({loaded.root})",
            path=source,
            line=doc.line_of(("workspace_root",)),
        )
    for i, ws in enumerate(loaded.config.workspaces):
        directory = loaded.workspace_dir(ws)
        problem = module_problem(directory)
        if problem:
            raise _ws_error(doc, source, i, ws.name, "dir", f"dir {ws.dir!r} {problem} ({directory})")
        tfvars = loaded.tfvars_path(ws)
        if tfvars is not None:
            try:
                read_tfvars(tfvars)
            except ConfigError as exc:
                where = f"{exc.path}:{exc.line}" if exc.line else str(exc.path)
                raise _ws_error(doc, source, i, ws.name, "tfvars", f"{exc.message} ({where})") from None
