"""``ivr serve``: the web phone — the hotline in a browser, with the menu map beside it.

Starlette and uvicorn are imported here, when the command runs, never by another command.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import tempfile
from pathlib import Path

from ivr.cli.common import console, default_menu, err, load, prompt_cache, time_refused

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ivr.web.app import create_app
    from ivr.web.hotline import Hotline

    menu = load(args.menu or default_menu())
    if time_refused("serve", args, menu):
        return 2
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="ivr-serve-"))
    hotline = Hotline(
        menu,
        prompt_cache(menu),
        out,
        max_calls=args.max_calls,
        model=args.model,
        db=args.db,
        call_time=args.time,
    )
    if not is_loopback(args.host):
        err.print(
            f"ivr serve: warning: listening on {args.host}, not only on this machine: anyone "
            "who can reach it can call the hotline and download the calls' files by their links",
            markup=False,
        )
    if hotline.speech_problem is not None:
        err.print(f"ivr serve: {hotline.speech_problem}", markup=False)
    if hotline.map_problem is not None:
        err.print(f"ivr serve: no menu map: {hotline.map_problem}", markup=False)
    hotline.prepare_prompts()
    shown = f"[{args.host}]" if ":" in args.host else args.host
    out_line = f"calls' files: {out}"
    console().print(
        f"ivr serve: {menu.title} on http://{shown}:{args.port}/ (Ctrl-C to stop); {out_line}",
        markup=False,
    )
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    uvicorn.run(
        create_app(hotline),
        host=args.host,
        port=args.port,
        log_level="warning",
        ws_max_size=64 * 1024,
    )
    return 0
