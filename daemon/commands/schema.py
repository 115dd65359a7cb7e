"""`tfo schema`: the JSON Schema of infra.yaml, for yaml-language-server."""

from __future__ import annotations

import json

from tfo.config.model import InfraConfig


def schema() -> int:
    document = InfraConfig.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "tfo infra.yaml"
    print(json.dumps(document, indent=2))
    return 0
