"""ivr: an offline simulator of a customer-service telephone hotline.

The public facade: ``from ivr import load, CallFlow, Session, KeyPress, IvrError``. Names are
imported on first use (``__getattr__``), so ``import ivr`` and ``ivr --help`` stay quick.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "IvrError": "ivr.errors",
    "InvalidKey": "ivr.errors",
    "Menu": "ivr.menu.model",
    "load": "ivr.menu.model",
    "MenuInvalid": "ivr.menu.problems",
    "CallFlow": "ivr.engine.flow",
    "KeyPress": "ivr.engine.inputs",
    "Utterance": "ivr.engine.inputs",
    "HangUp": "ivr.engine.inputs",
    "TELEPHONE_KEYS": "ivr.engine.inputs",
    "CallEvent": "ivr.engine.events",
    "VirtualClock": "ivr.clock",
    "RealClock": "ivr.clock",
    "Session": "ivr.drivers.session",
    "CallPool": "ivr.drivers.pool",
    "run_script": "ivr.drivers.testing",
    "ScriptedCaller": "ivr.callers.scripted",
    "load_scenario": "ivr.scenarios",
    "run_scenario": "ivr.scenarios",
}

_MODULES = {"limits": "ivr.limits", "events": "ivr.engine.events", "inputs": "ivr.engine.inputs"}
"""Modules offered whole: ``ivr.limits.WAV_SECONDS``, ``ivr.events.EventType``."""

__all__ = sorted([*_WHERE, *_MODULES])


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    if name in _MODULES:
        value: Any = importlib.import_module(_MODULES[name])
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'ivr' has no attribute {name!r}")
    globals()[name] = value
    return value
