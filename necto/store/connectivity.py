"""Connectivity settings: DNS mappings, SSL passthrough domains and the upstream proxy.

Rows come and go as NectoProxy's JSON shapes (camelCase), since the API and the running proxy
are their only readers. Every change notifies listeners with "connectivity", so a running
Necto applies it at once.
"""

from __future__ import annotations

from typing import Any

import orjson

from necto.model import new_id, now_ms
from necto.store.base import StoreBase
from necto.vocab import TLS_FAILED_ERROR

_DNS = "id, domain, target_ip, enabled, description, created_at, updated_at"
_PASS = "id, domain, enabled, reason, created_at"


def _dns(r: Any) -> dict[str, Any]:
    return {
        "id": r[0], "domain": r[1], "targetIp": r[2], "enabled": bool(r[3]),
        "description": r[4], "createdAt": r[5], "updatedAt": r[6],
    }  # fmt: skip


def _passthrough(r: Any) -> dict[str, Any]:
    return {"id": r[0], "domain": r[1], "enabled": bool(r[2]), "reason": r[3], "createdAt": r[4]}


class ConnectivitySettings(StoreBase):
    async def _write_connectivity(self, sql: str, args: tuple[Any, ...]) -> int:
        async with self._lock:
            cur = await self._w.execute(sql, args)
            changed = cur.rowcount
        if changed:
            self._notify("connectivity", None)
        return changed

    # ---------------------------------------------------------------- DNS mappings
    async def list_dns_mappings(self) -> list[dict[str, Any]]:
        async with self._r.execute(f"SELECT {_DNS} FROM dns_mappings ORDER BY created_at, rowid") as cur:
            return [_dns(r) for r in await cur.fetchall()]

    async def get_dns_mapping(self, mapping_id: str) -> dict[str, Any] | None:
        async with self._r.execute(f"SELECT {_DNS} FROM dns_mappings WHERE id = ?", (mapping_id,)) as cur:
            row = await cur.fetchone()
        return _dns(row) if row else None

    async def add_dns_mapping(
        self, domain: str, target_ip: str, enabled: bool = True, description: str | None = None
    ) -> dict[str, Any]:
        mid, ts = new_id(), now_ms()
        await self._write_connectivity(
            "INSERT INTO dns_mappings (id, domain, target_ip, enabled, description, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (mid, domain, target_ip, int(enabled), description, ts, ts),
        )
        found = await self.get_dns_mapping(mid)
        assert found is not None
        return found

    async def update_dns_mapping(self, mapping_id: str, **fields: Any) -> dict[str, Any] | None:
        """Change `domain`, `target_ip`, `enabled`, `description` (those given)."""
        sets, args = ["updated_at = ?"], [now_ms()]
        for name in ("domain", "target_ip", "enabled", "description"):
            if name in fields:
                sets.append(f"{name} = ?")
                args.append(int(fields[name]) if name == "enabled" else fields[name])
        if not await self._write_connectivity(
            f"UPDATE dns_mappings SET {', '.join(sets)} WHERE id = ?", (*args, mapping_id)
        ):
            return None
        return await self.get_dns_mapping(mapping_id)

    async def toggle_dns_mapping(self, mapping_id: str) -> dict[str, Any] | None:
        if not await self._write_connectivity(
            "UPDATE dns_mappings SET enabled = 1 - enabled, updated_at = ? WHERE id = ?", (now_ms(), mapping_id)
        ):
            return None
        return await self.get_dns_mapping(mapping_id)

    async def delete_dns_mapping(self, mapping_id: str) -> bool:
        return bool(await self._write_connectivity("DELETE FROM dns_mappings WHERE id = ?", (mapping_id,)))

    # ---------------------------------------------------------------- SSL passthrough
    async def list_passthrough(self) -> list[dict[str, Any]]:
        async with self._r.execute(f"SELECT {_PASS} FROM ssl_passthrough ORDER BY created_at, rowid") as cur:
            return [_passthrough(r) for r in await cur.fetchall()]

    async def get_passthrough(self, entry_id: str) -> dict[str, Any] | None:
        async with self._r.execute(f"SELECT {_PASS} FROM ssl_passthrough WHERE id = ?", (entry_id,)) as cur:
            row = await cur.fetchone()
        return _passthrough(row) if row else None

    async def add_passthrough(self, domain: str, enabled: bool = True, reason: str | None = None) -> dict[str, Any]:
        eid = new_id()
        await self._write_connectivity(
            "INSERT INTO ssl_passthrough (id, domain, enabled, reason, created_at) VALUES (?, ?, ?, ?, ?)",
            (eid, domain, int(enabled), reason, now_ms()),
        )
        found = await self.get_passthrough(eid)
        assert found is not None
        return found

    async def toggle_passthrough(self, entry_id: str) -> dict[str, Any] | None:
        if not await self._write_connectivity(
            "UPDATE ssl_passthrough SET enabled = 1 - enabled WHERE id = ?", (entry_id,)
        ):
            return None
        return await self.get_passthrough(entry_id)

    async def delete_passthrough(self, entry_id: str) -> bool:
        return bool(await self._write_connectivity("DELETE FROM ssl_passthrough WHERE id = ?", (entry_id,)))

    # ---------------------------------------------------------------- upstream proxy
    async def get_upstream_proxy(self) -> dict[str, Any] | None:
        async with self._r.execute("SELECT config FROM upstream_proxy WHERE id = 1") as cur:
            row = await cur.fetchone()
        return orjson.loads(row[0]) if row else None

    async def set_upstream_proxy(self, config: dict[str, Any] | None) -> None:
        """Store the configuration (None removes it)."""
        if config is None:
            await self._write_connectivity("DELETE FROM upstream_proxy WHERE id = 1", ())
            return
        await self._write_connectivity(
            "INSERT INTO upstream_proxy (id, config, updated_at) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
            (orjson.dumps(config), now_ms()),
        )

    # ---------------------------------------------------------------- counts
    async def count_tls_failures(self, session_id: str) -> int:
        """Client TLS handshakes that failed in a session ("my app shows nothing")."""
        async with self._r.execute(
            "SELECT COUNT(*) FROM entries WHERE session_id = ? AND method = 'CONNECT' AND substr(error, 1, ?) = ?",
            (session_id, len(TLS_FAILED_ERROR), TLS_FAILED_ERROR),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
