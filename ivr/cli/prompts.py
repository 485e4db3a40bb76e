"""``ivr prompts``: pre-render every prompt of a menu, or export them for a recording session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ivr.cli.common import console, default_menu, err, load

ACTIONS = ("render", "export")


def run(args: argparse.Namespace) -> int:
    """``ivr prompts [render|export] [MENU]``: the bare form (``ivr prompts [MENU]``) renders."""
    action, menu_path = "render", args.menu
    if args.what in ACTIONS:
        action = args.what
    elif args.what is not None:
        if args.menu is not None:
            err.print(f"ivr prompts: unknown action {args.what!r} (render or export)", markup=False)
            return 2
        menu_path = Path(args.what)
    wrong = (
        [("--out", args.out), ("--missing", args.missing), ("--audio", args.audio)]
        if action == "render"
        else [("--cache", args.cache)]
    )
    for option, value in wrong:
        if value:
            err.print(f"ivr prompts: {option} does not go with {action}", markup=False)
            return 2
    if action == "export":
        return export(args, menu_path)
    return render(args, menu_path)


def render(args: argparse.Namespace, menu_path: Path | None) -> int:
    """Render every prompt of a menu into the prompt cache, with a progress bar."""
    from rich.progress import Progress

    from ivr.prompts.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    menu = load(menu_path or default_menu())
    texts = menu.prompt_texts()
    try:
        synthesizer = Pyttsx3Synthesizer(voice=menu.voice.id, rate=menu.voice.rate)
    except TTSUnavailable as error:
        err.print(f"ivr prompts: {error}", markup=False)
        return 1
    cache = PromptCache(synthesizer, args.cache)
    with Progress(console=err.console, transient=False) as progress:
        task = progress.add_task("rendering prompts", total=len(texts))
        rendered = cache.prefetch(
            texts, progress=lambda done, total: progress.update(task, completed=done)
        )
    console().print(
        f"{len(texts)} prompts, {rendered} rendered, {len(texts) - rendered} already cached",
        markup=False,
    )
    return 0


def export(args: argparse.Namespace, menu_path: Path | None) -> int:
    """Every prompt's ID, node and text as CSV (UTF-8, a header line) for a recording
    session; the manifest next to the recordings then holds the text of each prompt not
    recorded yet, so a later edit of a recorded text is found out by ``ivr check``."""
    from ivr import wiring
    from ivr.outputs.paths import reason
    from ivr.prompts.recordings import MANIFEST, RecordedPrompts, csv_text, update_manifest

    menu = load(menu_path or default_menu())
    folder = (
        args.audio / menu.language if args.audio is not None else wiring.recordings_folder(menu)
    )
    prompts = menu.prompts()
    if args.missing:
        warnings: list[str] = []
        recorded = RecordedPrompts(_NoSpeech(), folder, prompts, warn=warnings.append)
        prompts = [p for p in prompts if recorded.recording(p.text) is None]
    text = csv_text(prompts)
    try:
        update_manifest(folder, menu.prompts())
    except (OSError, ValueError) as error:
        detail = reason(error) if isinstance(error, OSError) else str(error)
        err.print(f"ivr prompts: {folder / MANIFEST}: {detail}; nothing exported", markup=False)
        return 1
    if args.out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from ivr.outputs.paths import write_replacing

        data = text.encode("utf-8")
        write_replacing(args.out, lambda partial: partial.write_bytes(data))
    err.print(
        f"{len(prompts)} prompts exported; recorded texts kept in {folder / MANIFEST}",
        markup=False,
    )
    return 0


class _NoSpeech:
    """Prompt files for finding the recorded ones only: nothing is rendered."""

    def get(self, text: str) -> Path:
        raise LookupError(text)

    def is_cached(self, text: str) -> bool:
        return False
