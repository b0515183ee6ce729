"""`necto mock SESSION|FILE.har`: serve a recording as a working backend, no proxy needed."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, err, open_store
from necto.store.bodyfiles import WHOLE_BODY_MAX


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    p = sub.add_parser("mock", help="serve a recorded session or HAR file as a mock backend")
    add_data_dir_arg(p)
    p.add_argument("source", help="session id or name, or a .har file")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8890, help="listen port (default 8890; 0 = any free port)")
    p.add_argument("--match-by", choices=("url", "template"), default="url",
                   help="pair requests by method + path + query (default) or by the inventory's path template")  # fmt: skip
    p.add_argument("--timing", action="store_true", help="replay the recorded timing (wait, then a paced body)")
    return {"mock": cmd_mock}


async def cmd_mock(args: argparse.Namespace) -> int:
    from necto.har import HarError
    from necto.rules.mockserver import mock_app, start_mock_server
    from necto.rules.recorded import build_har_recording, build_session_recording

    path = Path(args.source)
    async with open_store(args) as store:
        if path.suffix.lower() == ".har" or path.is_file():
            if not path.is_file():
                err(f"file not found: {path}")
                return EXIT_FAIL
            try:
                recording = await asyncio.to_thread(build_har_recording, str(path), args.match_by)
            except HarError as e:
                err(f"{path}: not a HAR file: {e}")
                return EXIT_FAIL
            label = str(path)
        else:
            session = await store.find_session(args.source)
            if session is None:
                err(f"Session not found: {args.source}")
                return EXIT_FAIL
            rows = await store.recorded_rows(session.id)
            recording = await build_session_recording(
                rows, args.match_by, lambda: store.iter_entries(session.id, body_limit=WHOLE_BODY_MAX)
            )
            label = f"session {session.name}"
        app = mock_app(recording, store.get_entry, replay_timing=args.timing)
        try:
            runner, port = await start_mock_server(app, args.host, args.port)
        except OSError as e:
            err(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}. Choose another port with --port.")
            return EXIT_USAGE
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"Necto mock of {label}: {len(recording.items)} recorded responses", flush=True)
        print(f"  Serving    http://{shown}:{port}/", flush=True)
        print("Stop with Ctrl-C.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await runner.cleanup()
        print("mock server stopped", file=sys.stderr)
    return EXIT_OK
