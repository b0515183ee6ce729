"""What a rule needs from outside itself: the recording behind `replay-from`, a mock's
`bodyFile`. Checked when a rule is saved (a 400 that says what is missing) and loaded when the
proxy compiles the rules."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from necto.har import HarError
from necto.rules.model import RuleError
from necto.rules.recorded import Recording, build_har_recording, build_session_recording
from necto.store.bodyfiles import WHOLE_BODY_MAX


async def load_recording(store: Any, config: dict[str, Any]) -> Recording:
    """The recording a replay-from config names. RuleError says why it cannot be used."""
    by = config.get("matchBy") or "url"
    if config.get("harFile"):
        path = os.path.expanduser(config["harFile"])
        if not os.path.isfile(path):
            raise RuleError(f"config.harFile: file not found: {config['harFile']}")
        try:
            return await asyncio.to_thread(build_har_recording, path, by)
        except HarError as e:
            raise RuleError(f"config.harFile: not a HAR file: {e}") from None
    session = await store.find_session(config["session"])
    if session is None:
        raise RuleError(f"config.session: Session not found: {config['session']}")
    rows = await store.recorded_rows(session.id)
    return await build_session_recording(rows, by, lambda: store.iter_entries(session.id, body_limit=WHOLE_BODY_MAX))


async def check_sources(store: Any, fields: dict[str, Any]) -> None:
    """Raise RuleError when a validated rule names a session or file that is not there."""
    config = fields.get("config") or {}
    action = fields.get("action")
    if action == "replay-from":
        await load_recording(store, config)
    elif action == "mock" and config.get("bodyFile"):
        if not os.path.isfile(os.path.expanduser(config["bodyFile"])):
            raise RuleError(f"config.bodyFile: file not found: {config['bodyFile']}")
