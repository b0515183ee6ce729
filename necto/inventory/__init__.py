"""API inventory and OpenAPI from recorded traffic (a session or a HAR file), and their diff.

Public entry points: `build_inventory` (async iterator of Entry -> Inventory),
`inventory_json`, `openapi_document`, `diff_inventories`. Submodules import nothing from here,
so `necto.redact` can use `necto.inventory.sensitive` without cycles.
"""

from __future__ import annotations

from necto.inventory.diff import diff_inventories, diff_table
from necto.inventory.model import Inventory, InventoryBuilder, build_inventory
from necto.inventory.openapi import openapi_document, openapi_yaml
from necto.inventory.report import inventory_json, inventory_table

__all__ = [
    "Inventory",
    "InventoryBuilder",
    "build_inventory",
    "diff_inventories",
    "diff_table",
    "inventory_json",
    "inventory_table",
    "openapi_document",
    "openapi_yaml",
]
