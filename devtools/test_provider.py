"""A tiny terraform provider whose refresh reads the world. For tests only.

`null_resource` and `terraform_data` never drift: their refresh reads nothing.
`filestore_object` keeps one JSON file per resource, and its Read parses that
file back, so editing or deleting the file outside terraform is real drift
that `terraform plan` reports (`resource_drift` from terraform 1.1 on).

Source address `registry.terraform.io/tfo-test/filestore`, version 0.1.0,
built on the `tf` framework from PyPI (a dev dependency). terraform starts it
through the wrapper that `devtools.offline_terraform.write_offline_setup`
lays into the filesystem mirror:

    resource "filestore_object" "a" {
      path    = "/tmp/a.json"     # changing it replaces the resource
      content = "hello"
      tags    = { team = "x" }    # optional
      secret  = "s3cret"          # optional, sensitive
    }
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tf import runner, schema, types
from tf.iface import (
    Config,
    CreateContext,
    DataSource,
    DeleteContext,
    Provider,
    ReadContext,
    Resource,
    State,
    UpdateContext,
)
from tf.utils import Diagnostics

SOURCE = "registry.terraform.io/tfo-test/filestore"
VERSION = "0.1.0"
_FIELDS = ("content", "tags", "secret")


def write_object(state: State) -> None:
    """Write the object's fields as JSON to its path, readable by the owner only."""
    path = Path(state["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({field: state.get(field) for field in _FIELDS}, sort_keys=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    os.chmod(path, 0o600)  # an existing file keeps its mode through os.open


def read_object(path: str) -> dict[str, Any] | None:
    """The object's fields as the file holds them now; None when the file is gone."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        # Somebody overwrote the file with plain text: that text is the content now.
        return {"content": text, "tags": None, "secret": None}
    return {field: data.get(field) for field in _FIELDS}


class FileObject(Resource):
    """`filestore_object`: one JSON file holding content, tags and a secret."""

    def __init__(self, provider: FilestoreProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "object"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return schema.Schema(
            version=1,
            attributes=[
                schema.Attribute("path", types.String(), required=True, requires_replace=True),
                schema.Attribute("content", types.String(), required=True),
                schema.Attribute("tags", types.Map(types.String()), optional=True),
                schema.Attribute("secret", types.String(), optional=True, sensitive=True),
                schema.Attribute("id", types.String(), computed=True),
            ],
        )

    def create(self, ctx: CreateContext, planned: State) -> State:
        state = {**planned, "id": planned["path"]}
        write_object(state)
        return state

    def read(self, ctx: ReadContext, current: State) -> State | None:
        found = read_object(current["path"])
        if found is None:
            return None
        return {**current, **found}

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State:
        state = {**planned, "id": planned["path"]}
        write_object(state)
        return state

    def delete(self, ctx: DeleteContext, current: State) -> None:
        Path(current["path"]).unlink(missing_ok=True)


class FilestoreProvider(Provider):
    """The provider itself: no configuration, one resource type."""

    def get_model_prefix(self) -> str:
        return "filestore_"

    def full_name(self) -> str:
        return SOURCE

    def get_provider_schema(self, diags: Diagnostics) -> schema.Schema:
        return schema.Schema(attributes=[])

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        pass

    def get_data_sources(self) -> list[type[DataSource]]:
        return []

    def get_resources(self) -> list[type[Resource]]:
        return [FileObject]


def main() -> None:
    runner.run_provider(FilestoreProvider(), sys.argv)


if __name__ == "__main__":
    main()
