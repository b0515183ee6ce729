"""`necto record [--session NAME] [--har FILE] [--redact] -- CMD ARGS...`

Starts a private Necto on free loopback ports over the data directory (as `necto replay`
does), runs CMD with the proxy variables and a CA bundle that trusts Necto, records every
exchange into a new session, and exits with CMD's exit code. Ctrl-C goes to CMD first; Necto
stops only after CMD has exited, so nothing CMD did is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from necto.cli.common import EXIT_USAGE, DataDirArg, Handler, config_from_args, err, parse_size
from necto.har.store_export import store_export
from necto.record import exit_status, record_env, write_ca_bundle
from necto.store import Store

EXIT_NOT_FOUND, EXIT_NOT_EXECUTABLE = 127, 126  # what a shell answers for a missing command


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    p = sub.add_parser(
        "record",
        help="run a command through a private Necto and record its HTTP(S) traffic (exit code = the command's)",
        description="Run CMD with HTTP(S)_PROXY pointing at a private Necto and a CA bundle that trusts it; "
        "every exchange is recorded into a new session. Example: necto record --har run.har -- pytest -x",
    )
    add_data_dir_arg(p)
    p.add_argument("--session", metavar="NAME", help='name of the new session (default "record: CMD ...")')
    p.add_argument("--har", metavar="FILE", type=Path, help="also write the session as HAR 1.2 to FILE")
    p.add_argument("--redact", action="store_true", help="with --har: mask credentials, cookies and personal data")
    p.add_argument("--upstream-ca", type=Path, default=None, help="PEM file of extra CAs to trust for upstream servers")
    p.add_argument("--ssl-insecure", action="store_true", help="do not verify upstream server certificates")
    p.add_argument(
        "--max-body-size", type=parse_size, default=-1, help="keep at most this much of each body (default: all)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing of our own unless something fails")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the command to run")
    return {"record": cmd_record}


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"necto record: {message}", file=sys.stderr, flush=True)


def _terminal_sent_it() -> bool:
    """Ctrl-C typed in our terminal reached CMD already (same foreground process group)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


class Forwarder:
    """Signals for `necto record` go to CMD: the first SIGINT as SIGINT (unless the terminal
    already delivered it), a second as SIGTERM, then SIGKILL. SIGTERM is passed on as is."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.interrupts = 0

    def _send(self, sig: int) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def interrupt(self) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            if not _terminal_sent_it():
                self._send(signal.SIGINT)
        elif self.interrupts == 2:
            self._send(signal.SIGTERM)
        else:
            self._send(signal.SIGKILL)

    def terminate(self) -> None:
        self._send(signal.SIGTERM)


async def _write_har(store: Store, session_id: str, title: str, target: Path, redact: bool) -> None:
    """Stream the session to FILE.tmp, then rename: a reader never sees half a HAR."""
    tmp = target.with_name(target.name + ".tmp")
    export = await store_export(store, session_id=session_id, title=title, redact=redact)
    assert export is not None
    with open(tmp, "wb") as f:
        async for chunk in export.chunks():
            await asyncio.to_thread(f.write, chunk)
    os.replace(tmp, target)


async def cmd_record(args: argparse.Namespace) -> int:
    from necto.app import Necto, StartupError

    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        err("give the command to record after --, e.g. necto record -- curl https://example.com/")
        return EXIT_USAGE
    if args.redact and not args.har:
        err("--redact applies to the HAR file: add --har FILE")
        return EXIT_USAGE
    if shutil.which(command[0]) is None:
        err(f"command not found: {command[0]}")
        return EXIT_NOT_FOUND
    if args.har is not None and not args.har.parent.resolve().is_dir():
        err(f"cannot write {args.har}: no such directory")
        return EXIT_USAGE

    cfg = config_from_args(args)
    cfg.proxy_port = cfg.api_port = 0
    cfg.upstream_ca, cfg.ssl_insecure = args.upstream_ca, args.ssl_insecure
    cfg.breakpoints = False  # nobody watches this private Necto: a stored breakpoint must not hang it
    cfg.max_body_size = args.max_body_size
    necto = Necto(cfg)
    try:
        addrs = await necto.start()
    except StartupError as e:
        err(str(e))
        return EXIT_USAGE
    assert necto.store is not None and necto.ca is not None
    name = args.session or ("record: " + shlex.join(command))[:120]
    session = await necto.store.create_session(name)
    cfg.capture_session = session.id
    proxy_url = f"http://{addrs.proxy[0]}:{addrs.proxy[1]}"
    api_url = f"http://{addrs.api[0]}:{addrs.api[1]}"
    tmpdir = Path(tempfile.mkdtemp(prefix="necto-record-"))
    loop = asyncio.get_running_loop()
    code: int | None = None
    try:
        bundle = tmpdir / "ca-bundle.pem"
        await asyncio.to_thread(write_ca_bundle, bundle, necto.ca.cert_pem, os.environ)
        env = record_env(os.environ, proxy_url, bundle, necto.ca.cert_pem, session.id, api_url)
        _say(args, f'recording into session "{name}" ({session.id}) through {proxy_url}')
        try:
            proc = await asyncio.create_subprocess_exec(*command, env=env)
        except PermissionError as e:
            err(f"cannot run {command[0]}: {e.strerror}")
            code = EXIT_NOT_EXECUTABLE
        except OSError as e:
            err(f"cannot run {command[0]}: {e.strerror or e}")
            code = EXIT_NOT_FOUND
        else:
            fwd = Forwarder(proc)
            loop.add_signal_handler(signal.SIGINT, fwd.interrupt)
            loop.add_signal_handler(signal.SIGTERM, fwd.terminate)
            try:
                code = exit_status(await proc.wait())
            finally:
                loop.remove_signal_handler(signal.SIGINT)
                loop.remove_signal_handler(signal.SIGTERM)
    finally:
        await necto.stop()  # writes every exchange still queued
        shutil.rmtree(tmpdir, ignore_errors=True)
    assert code is not None
    return await _finish(args, cfg.db_path, session.id, name, code)


async def _finish(args: argparse.Namespace, db_path: Path, session_id: str, name: str, code: int) -> int:
    """Report what was recorded and write the HAR; CMD's exit code unless the HAR failed."""
    store = await Store.open(db_path)
    try:
        session = await store.get_session(session_id)
        count = session.traffic_count if session else 0
        message = f'{count} exchange{"s" if count != 1 else ""} recorded into session "{name}" ({session_id})'
        if args.har is not None:
            try:
                await _write_har(store, session_id, name, args.har, args.redact)
            except OSError as e:
                err(f"cannot write {args.har}: {e.strerror or e}")
                return code or EXIT_USAGE
            message += f"; HAR{' (redacted)' if args.redact else ''} written to {args.har}"
    finally:
        await store.close()
    _say(args, message + (f"; command exited {code}" if code else ""))
    return code
