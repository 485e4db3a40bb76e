"""``ivr dtmf``: the DTMF keys in a WAV file, with their times.

Kept light on purpose (issue 10): it prints without rich, so a whole ``ivr dtmf`` process
loads the standard library, numpy and the receiver only.
"""

from __future__ import annotations

import argparse
import sys

from ivr.cli.common import err, on_the_line


def run(args: argparse.Namespace) -> int:
    """Print each key found, with the time it starts."""
    from ivr.audio.dtmf import detect, detect_blocks
    from ivr.audio.wav import AudioFileError, open_wav

    try:
        wav = open_wav(args.wav)  # read in blocks, through the line if one is asked for
        line = on_the_line(args)
        if line is None:
            events = detect(wav)
        else:
            from ivr.audio.phone_line import RATE

            events = detect_blocks(line.blocks(wav), RATE)
    except AudioFileError as error:  # also one met in the middle of the file
        err.print(f"ivr dtmf: {error}", markup=False)
        return 1
    # Plain lines, as rich printed them (no markup, no highlighting, short ASCII lines),
    # without importing rich: it would cost about as long as decoding a minute of audio.
    sys.stdout.write("".join(f"{digit.start:8.3f}s  {digit.digit}\n" for digit in events))
    sys.stdout.flush()
    if not events:  # said, so that silence is not mistaken for a crash; stdout stays empty
        name = str(args.wav)
        shown = name if name.isprintable() else ascii(name)  # one line, whatever the name
        sys.stderr.write(f"ivr dtmf: no DTMF digit found in {shown}\n")
    return 0
