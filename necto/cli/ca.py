"""`necto ca`: where the CA certificate is, its fingerprint, and how to trust it."""

from __future__ import annotations

import argparse
from typing import Any

from necto.certs import ca_info, ensure_ca, install_steps
from necto.cli.common import EXIT_OK, DataDirArg, Handler, config_from_args, print_json
from necto.config import DEFAULT_PROXY_PORT


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    ca = sub.add_parser("ca", help="where the CA certificate is, its fingerprint, how to trust it")
    add_data_dir_arg(ca)
    ca.add_argument("--json", action="store_true", help="print JSON")
    return {"ca": cmd_ca}


async def cmd_ca(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    files = ensure_ca(cfg.certs_dir)
    info = ca_info(files)
    steps = install_steps(files, f"127.0.0.1:{DEFAULT_PROXY_PORT}")
    if args.json:
        print_json({**info, "install": steps["platforms"]})
        return EXIT_OK
    print(f"CA certificate  {files.cert_pem}")
    print(f"DER (.crt)      {files.cert_crt}")
    print(f"SHA-256         {info['fingerprint']}")
    print(f"Valid until     {info['validTo']}")
    print("\nTrust it:")
    platforms: dict[str, list[str]] = steps["platforms"]  # type: ignore[assignment]
    for platform, lines in platforms.items():
        print(f"  {platform}:")
        for line in lines:
            print(f"    {line}")
    return EXIT_OK
