"""`necto sessions ...`: the sessions of the data directory, with or without a running Necto."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from necto.cli.common import EXIT_FAIL, EXIT_OK, DataDirArg, Handler, open_store, print_json, table
from necto.model import Session


def recording_state(s: Session, short: bool = False) -> str:
    """The one meaning the page shows too: only the active session records; `isRecording`
    says whether it does now (pause/resume). Other sessions are simply not recording."""
    if not s.is_active:
        return "-" if short else "not recording"
    if s.is_recording:
        return "rec" if short else "recording"
    return "paused"


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    sessions = sub.add_parser("sessions", help="list, create, rename, activate, pause, resume, delete sessions")
    add_data_dir_arg(sessions)
    ssub = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = ssub.add_parser("list", help="list sessions")
    add_data_dir_arg(ls, leaf=True)
    ls.add_argument("--json", action="store_true", help="print JSON")
    c = ssub.add_parser("create", help="create a session")
    add_data_dir_arg(c, leaf=True)
    c.add_argument("name")
    c.add_argument("--activate", action="store_true", help="record into it from now on")
    r = ssub.add_parser("rename", help="rename a session")
    add_data_dir_arg(r, leaf=True)
    r.add_argument("session", help="session id or name")
    r.add_argument("name")
    for name, text in (
        ("activate", "record into this session from now on"),
        ("pause", "stop recording into this session"),
        ("resume", "resume recording into this session"),
        ("delete", "delete a session and all its entries"),
    ):
        sp = ssub.add_parser(name, help=text)
        add_data_dir_arg(sp, leaf=True)
        sp.add_argument("session", help="session id or name")
    return {"sessions": cmd_sessions}


async def cmd_sessions(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        if args.action == "list":
            sessions = await store.list_sessions()
            if args.json:
                print_json([s.as_json() for s in sessions])
            else:
                table(
                    [
                        [
                            "*" if s.is_active else "",
                            s.id,
                            s.name,
                            recording_state(s, short=True),
                            str(s.traffic_count),
                            str(s.total_bytes),
                        ]
                        for s in sessions
                    ],
                    ["", "ID", "NAME", "STATE", "ENTRIES", "BYTES"],
                )
            return EXIT_OK
        if args.action == "create":
            s = await store.create_session(args.name, activate=args.activate)
            print(f"{s.id}  {s.name}{'  (active)' if s.is_active else ''}")
            return EXIT_OK
        found = await store.find_session(args.session)
        if found is None:
            print(f"necto: Session not found: {args.session}", file=sys.stderr)
            return EXIT_FAIL
        if args.action == "rename":
            await store.update_session(found.id, name=args.name)
        elif args.action == "activate":
            await store.activate_session(found.id)
        elif args.action in ("pause", "resume"):
            await store.update_session(found.id, is_recording=args.action == "resume")
        elif args.action == "delete":
            await store.delete_session(found.id)
            print(f"deleted {found.id}  {found.name}")
            return EXIT_OK
        now = await store.get_session(found.id)
        assert now is not None
        print(f"{now.id}  {now.name}  {'active, ' + recording_state(now) if now.is_active else recording_state(now)}")
        return EXIT_OK
