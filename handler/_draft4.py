"""Turn pydantic's JSON Schema (draft 2020-12) into the draft 4 that API Gateway models accept.

Only what our models produce is translated; anything else raises, so a new model feature fails the build
instead of being silently dropped from gateway validation.
"""

from __future__ import annotations

from typing import Any, Final

DRAFT4_URI: Final = "http://json-schema.org/draft-04/schema#"

# Keywords both drafts share with the same meaning.
_KEPT: Final = frozenset(
    {
        "title",
        "description",
        "type",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "required",
        "additionalProperties",
        "properties",
        "items",
        "format",
    }
)
_DROPPED: Final = frozenset({"$defs", "examples", "default", "readOnly", "writeOnly"})


def to_draft4(schema: dict[str, Any]) -> dict[str, Any]:
    converted = _convert(schema, schema.get("$defs", {}))
    return {"$schema": DRAFT4_URI, **converted}


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _convert({**defs[name], **siblings}, defs)
    if "anyOf" in node:
        return _merge_any_of(node, defs)

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: _convert(child, defs) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs)
        elif key in _KEPT:
            out[key] = value
        else:
            raise ValueError(f"JSON Schema keyword {key!r} has no draft 4 translation here")
    return out


def _merge_any_of(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``anyOf`` of simple typed branches becomes one schema with a list of types.

    A ``null`` branch is dropped: optional fields are expressed by leaving them out of ``required``,
    and an explicit null is refused by the handler too.
    """
    outer = _convert({key: value for key, value in node.items() if key != "anyOf"}, defs)
    branches = [_convert(branch, defs) for branch in node["anyOf"]]
    branches = [branch for branch in branches if branch != {"type": "null"}]
    types: list[str] = []
    merged: dict[str, Any] = {}
    for branch in branches:
        branch_types = branch.get("type")
        branch_types = [branch_types] if isinstance(branch_types, str) else branch_types
        if not branch_types or any(name in types for name in branch_types):
            raise ValueError(f"anyOf branch {branch!r} cannot be merged into a draft 4 type list")
        types.extend(branch_types)
        for key, value in branch.items():
            if key != "type" and merged.setdefault(key, value) != value:
                raise ValueError(f"anyOf branches disagree on {key!r}; no draft 4 translation")
    merged["type"] = types[0] if len(types) == 1 else types
    return {**merged, **outer}
