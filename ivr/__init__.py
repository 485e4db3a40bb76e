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
    "limits": "ivr",
    "Menu": "ivr.menu.model",
    "load": "ivr.menu.model",
    "MenuInvalid": "ivr.menu.problems",
    "CallFlow": "ivr.engine.flow",
    "events": "ivr.engine.flow",
    "inputs": "ivr.engine.flow",
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

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'ivr' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    value = getattr(module, name) if _WHERE[name] != "ivr" or name != "limits" else module
    if _WHERE[name] == "ivr":
        value = importlib.import_module(f"ivr.{name}")
    globals()[name] = value
    return value
