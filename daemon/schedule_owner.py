"""Which of the server's schedules belong to a config, found by its identity.

A schedule is `tfo-sched:CONFIG_ID:NAME`, where CONFIG_ID is `LoadedConfig.id` (an
explicit `id:`, or the name plus a fingerprint of the config file's real path), and
carries a schedule memo naming the config file and ID. So two configs that share a
`name:` never see each other's schedules, and one that shares an explicit `id:` with
another file is a clash, reported in one line instead of fought over.

Schedules made before config IDs were `tfo-sched:NAME:…` with no schedule memo. One of
those belongs to this config only if the config file its scheduled runs record is this
one; reconcile then replaces it with its new ID. Any other is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError

from tfo.config.errors import ConfigError
from tfo.config.loader import LoadedConfig

MEMO_PATH = "tfo_config"
MEMO_ID = "tfo_config_id"


def schedule_id(config_id: str, name: str) -> str:
    # ':' cannot appear in tfo names or IDs, so one config's prefix never matches another's.
    return f"tfo-sched:{config_id}:{name}"


def owned_prefix(config_id: str) -> str:
    return f"tfo-sched:{config_id}:"


def schedule_memo(loaded: LoadedConfig) -> dict[str, str]:
    return {MEMO_PATH: str(loaded.path.resolve()), MEMO_ID: loaded.id}


@dataclass
class Owned:
    """This config's schedules on the server."""

    current: set[str] = field(default_factory=set)
    # Old-format IDs (`tfo-sched:NAME:…`) recorded with this config file: to replace.
    legacy: set[str] = field(default_factory=set)


async def find_owned(client: Client, loaded: LoadedConfig) -> Owned:
    """This config's schedules, current and to be replaced.

    Raises:
        ConfigError: another config file that still exists uses the same ID.
    """
    mine = str(loaded.path.resolve())
    prefix = owned_prefix(loaded.id)
    legacy_prefixes = (prefix, owned_prefix(loaded.name))
    owned = Owned()
    async for item in await client.list_schedules():
        if not item.id.startswith("tfo-sched:"):
            continue
        memo = await item.memo()
        recorded_id = memo.get(MEMO_ID)
        if recorded_id is None:  # made before config IDs: ours only if its runs name this file
            if item.id.startswith(legacy_prefixes) and await _legacy_path(client, item.id) == mine:
                (owned.current if item.id.startswith(prefix) else owned.legacy).add(item.id)
            continue
        recorded = memo.get(MEMO_PATH)
        if recorded == mine:
            # This file under an earlier identity (its `id:` or `name:` changed): replace it.
            (owned.current if recorded_id == loaded.id else owned.legacy).add(item.id)
        elif recorded_id == loaded.id:
            if isinstance(recorded, str) and Path(recorded).is_file():
                raise ConfigError(
                    f"config id {loaded.id!r} is also used by {recorded} (schedule {item.id}): "
                    "give one of them another top-level `id:`",
                    path=str(loaded.path),
                )
            owned.current.add(item.id)  # the same `id:`, its file moved here: adopt it
    return owned


async def _legacy_path(client: Client, sid: str) -> str | None:
    """The config file an old-format schedule's runs record (their `config` memo)."""
    try:
        desc = await client.get_schedule_handle(sid).describe()
    except RPCError:
        return None
    action = desc.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        return None
    raw = action.memo.get("config")
    if isinstance(raw, str):
        return raw
    try:  # described memos come back as payloads
        value = client.data_converter.payload_converter.from_payloads([raw])[0]  # type: ignore[list-item]
    except Exception:  # an unreadable memo: not provably ours
        return None
    return value if isinstance(value, str) else None
