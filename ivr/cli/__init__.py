"""The ``ivr`` command: the only package that prints; errors are one line, never a traceback.

``main`` parses and runs a command (exit statuses, signals); ``parser`` declares every
command and option; ``common`` holds what several commands share (the consoles, the menu,
the phone line, the adapters from ``ivr.wiring``); each other module is one command and
imports what it uses only when it runs, so ``ivr --help`` loads the standard library only
and ``ivr dtmf`` numpy and the receiver, nothing else of ivr.
"""

from ivr.cli.main import main

__all__ = ["main"]
