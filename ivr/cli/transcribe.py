"""``ivr transcribe``: what the recognizer hears in a WAV, and what the hotline would do."""

from __future__ import annotations

import argparse

from ivr import wiring
from ivr.cli import common
from ivr.cli.common import console, default_menu, err, load
from ivr.errors import IvrError


def run(args: argparse.Namespace) -> int:
    """Print each utterance the recognizer hears, with word confidences and, in a state, the
    decision the hotline would take."""
    from ivr.audio.wav import AudioFileError, open_wav
    from ivr.engine.flow import Call, CallFlow, Phase
    from ivr.engine.matching import decide, match
    from ivr.hearing.recognizer import SpeechError, VoskRecognizer, recognize_clip

    menu = load(args.menu or default_menu())
    flow = CallFlow(menu)
    if args.state is not None and args.state not in menu.nodes:
        err.print(f"ivr transcribe: no node {args.state!r} in {menu.path}", markup=False)
        return 2
    try:
        clip = open_wav(args.wav)  # read in blocks
        # In a state it decides as the menu's calls do, with their decoys and second pass.
        rejection = wiring.menu_rejection(menu) if args.state else None
        recognizer = VoskRecognizer(common.model(menu, args.model), rejection=rejection)
    except IvrError as error:
        err.print(f"ivr transcribe: {error}", markup=False)
        return 1
    call = Call(state=args.state, phase=Phase.LISTENING) if args.state else None
    try:
        recognizer.set_grammar(list(flow.grammar(call)) if call else None)
    except SpeechError as error:
        err.print(f"ivr transcribe: {error}", markup=False)
        return 1
    try:
        heard_all = recognize_clip(recognizer, clip)
    except AudioFileError as error:  # the file failed in the middle (EIO, cut short)
        err.print(f"ivr transcribe: {error}", markup=False)
        return 1
    out = console()
    for moment, heard in heard_all:
        words = " ".join(f"{w.text}({w.confidence:.2f})" for w in heard.words) or "(nothing)"
        line = f"{moment:7.2f}s  {heard.text or '-'}  [{words}]"
        if call is not None:
            found = match(heard.text, flow.choices(call))
            decision = decide(found, heard.confidence, menu.speech.accept, menu.speech.confirm)
            target = f" -> {found.choice.phrase}" if found else ""
            line += f"  {decision.verdict} {decision.score:.2f}{target}"
        out.print(line, markup=False)
    return 0
