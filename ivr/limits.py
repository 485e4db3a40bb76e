"""Every declared limit on what ivr accepts, in one place.

Inputs come from many hands (menus, scenarios, recordings, archives), so each reader checks
its input against these figures at the edge, before any work is sized by the input, and
refuses an input over a limit with one line naming the limit. The README's "Limits" table
is this module; ``tests/test_limits.py`` keeps the two in step.
"""

from __future__ import annotations

import re
from typing import Final

# ----- menu and scenario files (YAML) -----
MENU_FILE_BYTES: Final = 1024 * 1024
"""Largest menu or scenario file: 1 MiB (the wallet menu is about 12 kB)."""
GUIDE_FILE_BYTES: Final = 4 * 1024 * 1024
"""Largest guide (a menu's knowledge base, plain text): 4 MiB."""
YAML_DEPTH: Final = 64
"""Deepest nesting of YAML mappings and sequences."""
YAML_NODES: Final = 200_000
"""Most YAML values after aliases are expanded: stops alias bombs."""
MENU_NODES: Final = 2_000
"""Most nodes in one menu."""
PROCEDURE_STEPS: Final = 99
"""Most steps in one procedure (step numbers are read aloud, 第九十九步)."""
PROMPT_CHARS: Final = 2_000
"""Longest single prompt, answer or step text (about 11 minutes of speech)."""
TIMER_SECONDS: Final = 3_600.0
"""Longest timer or duration in a menu or scenario; every timer is finite and positive."""
COLLECT_DIGITS: Final = 32
"""Most digits a collect node may gather (an 18-digit ID number, a 19-digit card number)."""
RECORD_SECONDS: Final = 600.0
"""Longest voice message a record node may take (``max_length``): ten minutes."""
BACKOFFICE_SECONDS: Final = 60.0
"""Longest a back-office action may wait for its reply (its ``timeout``)."""
QUEUE_AGENTS: Final = 10_000
"""Most agents a contact centre may declare on duty at one time."""
QUEUE_LENGTH: Final = 10_000
"""Longest queue a contact centre may declare (``max_queue``)."""
HANDLE_SECONDS: Final = 86_400.0
"""Longest average handle time a contact centre may declare (a day)."""

# ----- simulations (ivr simulate) -----
SIMULATED_CALLS: Final = 10_000_000
"""Most calls one ``ivr simulate`` run may place."""
POPULATION_INTENTS: Final = 1_000
"""Most intents one population file may list."""

# ----- audio files -----
SAMPLE_RATE_MIN: Final = 4_000
SAMPLE_RATE_MAX: Final = 192_000
"""Sample rates a WAV may declare, in Hz."""
CHANNELS_MAX: Final = 8
"""Most channels a WAV may declare."""
WAV_SECONDS: Final = 4 * 3600
"""Longest WAV: four hours, read in blocks so memory does not grow with length."""

# ----- scripts, scenarios and expectations -----
KEY_SCRIPT_CHARS: Final = 10_000
"""Longest key script (``--keys``, ``press:``)."""
PATTERN_CHARS: Final = 500
"""Longest regular expression in a scenario expectation."""
PATTERN_REPEATS: Final = 1_000
"""Most repetitions counted repeats ({m,n}) may multiply to in one regular expression."""
PATTERN_SECONDS: Final = 1.0
"""Most time all the regular expressions of one scenario may spend searching its prompts."""

# ----- callers -----
CALLER_ID_DIGITS: Final = 20
"""Most digits in a caller ID (``ivr call --caller``, a scenario's ``caller_id``, the web
phone's): digits only; an E.164 number has at most 15, 0086 and 11 digits are 15 too."""

_ASCII_DIGITS = re.compile(r"[0-9]*")


def caller_id_problem(caller_id: str) -> str | None:
    """Why ``caller_id`` is not a caller ID, or None: the one rule for every way a call
    presents one (the CLI, scenario files, the web phone). ASCII digits only (``str.isdigit``
    would take ``٣`` and ``²``, which no back office stores), at most `CALLER_ID_DIGITS`;
    empty is no caller ID. The text itself is never repeated: it may be anything."""
    if not _ASCII_DIGITS.fullmatch(caller_id):
        return "a caller ID is digits only (0-9)"
    if len(caller_id) > CALLER_ID_DIGITS:
        return (
            f"a caller ID has at most {CALLER_ID_DIGITS} digits (CALLER_ID_DIGITS), "
            f"not {len(caller_id)}"
        )
    return None


# ----- model archives -----
MODEL_UNPACKED_BYTES: Final = 8 * 1024**3
"""Largest unpacked speech-model archive (the largest official Vosk model is about 4 GB)."""
