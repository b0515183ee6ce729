"""JSON Schema inferred from every sample, not the first (mitmproxy2swagger's limit).

A `SchemaNode` counts what it has seen; properties present in every object are required,
formats hold only when every string had them, and nodes merge so endpoints templated together
combine their evidence. Memory is bounded by the data's structure, not by the number of samples.
"""

from __future__ import annotations

import re
from typing import Any

from necto.inventory.templating import DATE_RE, DATETIME_RE, EMAIL_RE, UUID_RE, valid_date

MAX_PROPERTIES = 200  # an object with more distinct keys is a map, described by additionalProperties
MAX_ITEMS = 200  # array elements inspected per sample
MAX_DEPTH = 32
URI_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^\s]+$")
IPV4_RE = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")


def string_format(value: str) -> str | None:
    if DATETIME_RE.match(value) and "T" in value and valid_date(value):
        return "date-time"
    if DATE_RE.match(value) and valid_date(value):
        return "date"
    if UUID_RE.match(value):
        return "uuid"
    if EMAIL_RE.match(value):
        return "email"
    if URI_RE.match(value):
        return "uri"
    if IPV4_RE.match(value):
        return "ipv4"
    return None


class SchemaNode:
    __slots__ = ("types", "props", "prop_counts", "objects", "items", "formats", "strings", "overflow")

    def __init__(self) -> None:
        self.types: dict[str, int] = {}
        self.props: dict[str, SchemaNode] = {}
        self.prop_counts: dict[str, int] = {}
        self.objects = 0
        self.items: SchemaNode | None = None
        self.formats: dict[str, int] = {}
        self.strings = 0
        self.overflow: SchemaNode | None = None  # values of keys past MAX_PROPERTIES

    def observe(self, value: Any, depth: int = 0) -> None:
        t = json_type(value)
        self.types[t] = self.types.get(t, 0) + 1
        if depth >= MAX_DEPTH:
            return
        if t == "object":
            self.objects += 1
            for key, child in value.items():
                key = str(key)
                node = self.props.get(key)
                if node is None:
                    if len(self.props) >= MAX_PROPERTIES:
                        self.overflow = self.overflow or SchemaNode()
                        self.overflow.observe(child, depth + 1)
                        continue
                    node = self.props[key] = SchemaNode()
                node.observe(child, depth + 1)
                self.prop_counts[key] = self.prop_counts.get(key, 0) + 1
        elif t == "array":
            if self.items is None:
                self.items = SchemaNode()
            for child in value[:MAX_ITEMS]:
                self.items.observe(child, depth + 1)
        elif t == "string":
            self.strings += 1
            fmt = string_format(value)
            if fmt:
                self.formats[fmt] = self.formats.get(fmt, 0) + 1

    def merge(self, other: SchemaNode) -> None:
        for t, n in other.types.items():
            self.types[t] = self.types.get(t, 0) + n
        self.objects += other.objects
        for key, node in other.props.items():
            mine = self.props.get(key)
            if mine is None:
                if len(self.props) >= MAX_PROPERTIES:
                    self.overflow = self.overflow or SchemaNode()
                    self.overflow.merge(node)
                    continue
                mine = self.props[key] = SchemaNode()
            mine.merge(node)
            self.prop_counts[key] = self.prop_counts.get(key, 0) + other.prop_counts.get(key, 0)
        if other.items is not None:
            if self.items is None:
                self.items = SchemaNode()
            self.items.merge(other.items)
        self.strings += other.strings
        for f, n in other.formats.items():
            self.formats[f] = self.formats.get(f, 0) + n
        if other.overflow is not None:
            self.overflow = self.overflow or SchemaNode()
            self.overflow.merge(other.overflow)

    def to_schema(self) -> dict[str, Any]:
        """JSON Schema 2020-12 (OpenAPI 3.1 dialect)."""
        types = [t for t in self.types if t != "null"]
        if "integer" in types and "number" in types:
            types.remove("integer")
        if not types:
            return {"type": "null"} if self.types else {}
        ordered = sorted(types, key=TYPE_ORDER.index)
        if "null" in self.types:
            ordered.append("null")
        out: dict[str, Any] = {"type": ordered[0] if len(ordered) == 1 else ordered}
        if "object" in types:
            out["properties"] = {k: v.to_schema() for k, v in self.props.items()}
            required = [k for k in self.props if self.prop_counts.get(k, 0) == self.objects]
            if required:
                out["required"] = required
            if self.overflow is not None:
                out["additionalProperties"] = self.overflow.to_schema()
        if "array" in types and self.items is not None:
            out["items"] = self.items.to_schema()
        if "string" in types and len(self.formats) == 1:
            fmt, n = next(iter(self.formats.items()))
            if n == self.strings:
                out["format"] = fmt
        return out

    def field_paths(self, path: str = "$", limit: int = 200) -> list[str]:
        """Every property path (`$.users[*].email`), for diffs between inventories."""
        out: list[str] = []
        stack: list[tuple[SchemaNode, str]] = [(self, path)]
        while stack and len(out) < limit:
            node, p = stack.pop()
            for key in sorted(node.props, reverse=True):
                child = f"{p}.{key}"
                out.append(child)
                stack.append((node.props[key], child))
            if node.items is not None:
                stack.append((node.items, p + "[*]"))
        return sorted(out[:limit])


TYPE_ORDER = ["object", "array", "string", "integer", "number", "boolean", "null"]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"
