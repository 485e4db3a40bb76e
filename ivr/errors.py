"""The one root of every error the project raises on purpose.

A front end catches :class:`IvrError` to tell "the input or the environment is wrong" (a
one-line message for the user) from a bug (a traceback). Each error class lives next to the
code that raises it and subclasses this root; this module imports nothing so that every
layer, the engine included, may use it.
"""

from __future__ import annotations


class IvrError(Exception):
    """Base of every error raised on purpose by ivr; ``str()`` is meant for the user.

    A front end that lets one through reports ``lines(command)`` and exits with
    ``exit_status``: 1 when the input or the environment is wrong, 2 for a mistake on the
    command line. Subclasses that carry several findings (a menu's problems) override
    ``lines``; the front end never needs to import them to catch them.
    """

    exit_status = 1

    def lines(self, command: str) -> list[str]:
        """What the user reads: one line, ``command: message``."""
        return [f"{command}: {self}"]


class InvalidKey(IvrError, ValueError):
    """A key that is not on a telephone keypad (0-9, * and #); tones A-D are not keys."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"{key!r} is not a telephone key (0-9, * or #)")
