"""Cross-checks of `schedules:` and `alerts:` against the rest of infra.yaml."""

from __future__ import annotations

import difflib
import os
from fnmatch import fnmatchcase

from tfo.config.drift_config import env_names, expand_env
from tfo.config.errors import ConfigError
from tfo.config.model import InfraConfig
from tfo.config.yaml_source import YamlDocument


def check_drift_sections(config: InfraConfig, doc: YamlDocument, source: str) -> None:
    names = sorted(ws.name for ws in config.workspaces)
    seen: set[str] = set()
    for i, schedule in enumerate(config.schedules):
        where = f"schedules[{i}] ({schedule.name})"
        if schedule.name in seen:
            raise ConfigError(f"{where}: duplicate schedule name", path=source, line=doc.line_of(("schedules", i)))
        seen.add(schedule.name)
        for j, ws in enumerate(schedule.workspaces or []):
            if ws not in names:
                hint = difflib.get_close_matches(ws, names, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(
                    f"{where}: unknown workspace {ws!r}{extra}",
                    path=source,
                    line=doc.line_of(("schedules", i, "workspaces", j)),
                )
    for i, rule in enumerate(config.drift.ignore):
        for j, pattern in enumerate(rule.workspaces):
            if not any(fnmatchcase(name, pattern) for name in names):
                raise ConfigError(
                    f"drift.ignore[{i}]: workspace pattern {pattern!r} matches no workspace",
                    path=source,
                    line=doc.line_of(("drift", "ignore", i, "workspaces", j)),
                )
    if config.alerts is not None:
        _check_urls(config.alerts.urls, doc, source)


def _check_urls(urls: list[str], doc: YamlDocument, source: str) -> None:
    import apprise  # about 100 ms: only for configs that send alerts

    for i, url in enumerate(urls):
        try:
            expanded = expand_env(url, dict(os.environ))
        except KeyError:
            # Only the worker that sends alerts expands the URL (and says so if it
            # cannot): validate, graph and plan run where the secret is rightly absent.
            continue
        if not apprise.Apprise().add(expanded):
            # Never echo an expanded URL: it usually holds a token.
            if env_names(url):
                shown = url
            elif "://" in url:
                shown = url.split("://", 1)[0] + "://..."
            else:
                shown = "(no scheme://)"  # the whole text may be a pasted token
            line = doc.line_of(("alerts", "urls", i))
            raise ConfigError(f"alerts.urls[{i}]: apprise cannot use URL {shown!r}", path=source, line=line)
