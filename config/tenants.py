"""The `tenants:` section: checks against the workspaces, and which queue a workspace runs on."""

from __future__ import annotations

import difflib

from tfo.config.errors import ConfigError
from tfo.config.model import InfraConfig, Workspace
from tfo.config.yaml_source import YamlDocument


def check_tenants(config: InfraConfig, doc: YamlDocument, source: str) -> None:
    """Each tenant has a unique name and names known workspaces, each in one tenant only.

    Raises:
        ConfigError: naming the tenant, the workspace and the YAML line.
    """
    names = sorted(ws.name for ws in config.workspaces)
    tenant_index: dict[str, int] = {}
    owner: dict[str, str] = {}
    for i, tenant in enumerate(config.tenants):
        where = f"tenants[{i}] ({tenant.name})"
        if tenant.name in tenant_index:
            raise ConfigError(
                f"{where}: duplicate tenant name (first defined as tenants[{tenant_index[tenant.name]}])",
                path=source,
                line=doc.line_of(("tenants", i, "name")),
            )
        tenant_index[tenant.name] = i
        for j, ws in enumerate(tenant.workspaces):
            loc = ("tenants", i, "workspaces", j)
            if ws not in names:
                hint = difflib.get_close_matches(ws, names, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(f"{where}: unknown workspace {ws!r}{extra}", path=source, line=doc.line_of(loc))
            if ws in owner:
                other = owner[ws]
                detail = (
                    f"lists workspace {ws!r} twice"
                    if other == tenant.name
                    else f"workspace {ws!r} is already in tenant {other!r} (a workspace belongs to one tenant)"
                )
                raise ConfigError(f"{where}: {detail}", path=source, line=doc.line_of(loc))
            owner[ws] = tenant.name


def workspace_queue(config: InfraConfig, ws: Workspace) -> str:
    """The task queue a workspace's terraform runs on: its own `taskQueue`, else its
    tenant's, else the config's default queue."""
    if ws.task_queue:
        return ws.task_queue
    for tenant in config.tenants:
        if ws.name in tenant.workspaces and tenant.task_queue:
            return tenant.task_queue
    return config.task_queue
