"""What several commands share: the consoles, the menu, the phone line, the adapters.

Imports the standard library only; everything else is imported by the function that
uses it, so the commands that never print through rich (``--help``, ``dtmf``) never load it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import ExitStack
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ivr.audio.phone_line import Line
    from ivr.drivers.session import Listener
    from ivr.hearing.recognizer import VoskModel
    from ivr.hearing.tracker import UtteranceTracker
    from ivr.menu.model import Menu
    from ivr.outputs.artifacts import CallAudio
    from ivr.prompts.recordings import RecordedPrompts

MENU_ENV = "IVR_MENU"
_REPO_MENU = Path(__file__).resolve().parents[2] / "menus" / "wallet.zh-CN.yaml"


class _ErrorConsole:
    """rich's stderr console, made on first use: rich costs tens of milliseconds that
    ``--help`` and a command that ends without an error do not need."""

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


err = _ErrorConsole()


def console(quiet: bool = False) -> Console:
    """A stdout console, rich imported only by the commands that print through it."""
    from rich.console import Console

    return Console(highlight=False, quiet=quiet)


def load(path: Path) -> Menu:
    """The checked menu at ``path`` (``ivr.menu.model.load``, imported on first use: it
    brings yaml, jsonschema and the menu checker, unless the checked menu is cached)."""
    from ivr.menu.model import load as load_menu

    return load_menu(path)


def time_refused(command: str, args: argparse.Namespace, menu: Menu) -> bool:
    """``--time`` on a menu without a contact centre would change nothing: say so (one line;
    the caller exits 2)."""
    if args.time is None or menu.contact_centre is not None:
        return False
    err.print(
        f"ivr {command}: --time: {menu.path} declares no contact centre (the time is "
        "for its hours and queue)",
        markup=False,
    )
    return True


def default_menu() -> Path:
    """$IVR_MENU, else the wallet menu next to the package (an editable install or a clone)."""
    return Path(os.environ.get(MENU_ENV) or _REPO_MENU)


def on_the_line(args: argparse.Namespace) -> Line | None:
    """The phone line the caller's audio crosses, when --line or --snr asks for one: it
    streams a file block by block (with --snr, reading it twice: see ``Line.blocks``)."""
    if args.line is None and args.snr is None:
        return None
    from ivr.audio.phone_line import Line

    codec = None if args.line in (None, "pcm") else args.line
    return Line(codec=codec, snr_db=args.snr)


def read_error(command: str, caller: object) -> int:
    """Exit status 1, said in one line, if the caller hung up because its audio file could
    not be read to the end (``read_error`` of a WholeCallCaller or ClipCaller); else 0."""
    error = getattr(caller, "read_error", None)
    if error is None:
        return 0
    err.print(f"{command}: {error}", markup=False)
    return 1


class Unwritten:
    """Outputs that could not be written in full: each is said in one line as it fails,
    the call goes on, and the command then ends with status 1."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        err.print(f"{self.command}: cannot write {message}", markup=False)

    def attempt(self, path: Path, write: Callable[[Path], object]) -> bool:
        """``write(path)``, which leaves no partial file; False (and said) if it failed."""
        from ivr.outputs.paths import reason

        try:
            write(path)
        except OSError as error:
            self(f"{path}: {reason(error)}; nothing written")
            return False
        return True

    def status(self) -> int:
        return 1 if self.count else 0


def tracker(menu: Menu, model: str | None) -> UtteranceTracker:
    """A recognizer for the menu's language; a model error says what to install or pass."""
    from ivr import wiring

    return wiring.tracker(wiring.model_path(model, menu), menu=menu)


def model(menu: Menu, spec: str | None) -> VoskModel:
    """The speech model for the menu's language (``--model`` or the installed default)."""
    from ivr import wiring
    from ivr.hearing.recognizer import VoskModel

    return VoskModel(wiring.model_path(spec, menu))


def prompt_cache(menu: Menu) -> RecordedPrompts:
    """The menu's prompt files: its recordings, else the TTS cache for the menu's voice."""
    from ivr import wiring

    return wiring.recorded_prompts(menu, wiring.prompt_cache(menu.voice.id, menu.voice.rate))


def artifacts(
    folder: Path, menu: Menu, listeners: list[Listener], stack: ExitStack, unwritten: Unwritten
) -> CallAudio:
    """Listen with the call log, the transcript and the call audio, all into ``folder``."""
    from ivr import wiring

    return wiring.artifacts(
        folder, prompt_cache(menu), listeners, stack, language=menu.language, warn=unwritten
    )
