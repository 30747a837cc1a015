"""Our answer schema in the form OpenAI's strict structured outputs accept (pure).

Strict mode (https://platform.openai.com/docs/guides/structured-outputs#supported-schemas)
wants `additionalProperties: false` on every object and every property listed in `required`,
and refuses keywords outside its subset: string lengths are validated by us instead.
"""

from __future__ import annotations

import copy
import json
from typing import Any

# Outside the strict subset (the answer is validated by `parse_answer` either way).
_UNSUPPORTED = frozenset({"minLength", "maxLength", "default"})


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `schema` that strict structured outputs accept."""
    return _strict(copy.deepcopy(schema))


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    for keyword in _UNSUPPORTED & node.keys():
        del node[keyword]
    properties = node.get("properties")
    if node.get("type") == "object" or isinstance(properties, dict):
        node["additionalProperties"] = False
        if isinstance(properties, dict):
            node["properties"] = {name: _strict(value) for name, value in properties.items()}
            node["required"] = list(properties)
    for keyword in ("items", "anyOf", "allOf", "$defs"):
        if keyword in node:
            value = node[keyword]
            node[keyword] = (
                {name: _strict(item) for name, item in value.items()}
                if keyword == "$defs" and isinstance(value, dict)
                else _strict(value)
            )
    return node


def schema_name(schema: dict[str, Any]) -> str:
    """The response format's name (`^[a-zA-Z0-9_-]{1,64}$`): grouped or single answer."""
    properties = schema.get("properties") or {}
    return "triage_group_answer" if "results" in properties else "triage_answer"


def schema_instruction(schema: dict[str, Any]) -> str:
    """What JSON mode adds to the system message: the model sees no schema otherwise."""
    return (
        "\n\nAnswer with one JSON object that validates against this JSON schema:\n"
        + json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    )
