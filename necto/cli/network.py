"""`necto network list|activate|deactivate`: the network profile applied to all traffic (a running
Necto applies a change to its next request)."""

from __future__ import annotations

import argparse
from typing import Any

from necto.cli.common import EXIT_FAIL, EXIT_OK, DataDirArg, Handler, err, open_store, print_json, table
from necto.network import Profile
from necto.rules.book import all_profiles, find_profile


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    net = sub.add_parser("network", help="list, activate or deactivate network conditions (Slow 3G, ...)")
    add_data_dir_arg(net)
    nsub = net.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = nsub.add_parser("list", help="the presets and custom profiles; * marks the active one")
    add_data_dir_arg(ls, leaf=True)
    ls.add_argument("--json", action="store_true", help="print JSON")
    act = nsub.add_parser("activate", help="apply a profile to all traffic")
    add_data_dir_arg(act, leaf=True)
    act.add_argument("profile", help='profile name or id, e.g. "Slow 3G" or preset-4')
    de = nsub.add_parser("deactivate", help="stop conditioning traffic")
    add_data_dir_arg(de, leaf=True)
    return {"network": cmd_network}


def _rate(bps: int) -> str:
    if not bps:
        return "unlimited"
    if bps < 1024:
        return f"{bps} B/s"
    kib = bps / 1024
    return f"{kib / 1024:.2f} MiB/s" if kib >= 1024 else f"{kib:.0f} KiB/s"


def describe(p: Profile) -> str:
    """One line: what the profile does to traffic."""
    if p.is_noop:
        return "no conditioning"
    parts = [f"down {_rate(p.download)}", f"up {_rate(p.upload)}", f"latency {p.latency:g}±{p.jitter:g} ms"]
    if p.loss:
        parts.append(f"loss {p.loss:g}%")
    return ", ".join(parts)


async def cmd_network(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        active = await store.active_profile_id()
        if args.action == "list":
            profiles = await all_profiles(store)
            if args.json:
                print_json({"profiles": [p.as_json(enabled=p.id == active) for p in profiles]})
            else:
                table(
                    [["*" if p.id == active else "", p.id, p.name, describe(p)] for p in profiles],
                    ["", "ID", "NAME", "CONDITIONS"],
                )
            return EXIT_OK
        if args.action == "deactivate":
            await store.set_active_profile(None)
            print("network conditioning off")
            return EXIT_OK
        found = await find_profile(store, args.profile)
        if found is None:
            err(f"Profile not found: {args.profile} (see: necto network list)")
            return EXIT_FAIL
        await store.set_active_profile(found.id)
        print(f"active: {found.name} ({found.id}): {describe(found)}")
        return EXIT_OK
