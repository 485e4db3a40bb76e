"""``ivr prompts``: pre-render every prompt of a menu."""

from __future__ import annotations

import argparse

from ivr.cli.common import console, default_menu, err, load


def run(args: argparse.Namespace) -> int:
    """Render every prompt of a menu into the prompt cache, with a progress bar."""
    from rich.progress import Progress

    from ivr.prompts.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    menu = load(args.menu or default_menu())
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
