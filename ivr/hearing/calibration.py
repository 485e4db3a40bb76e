"""Thresholds measured for a model, written into the menu they were measured on.

``ivr speech-eval --write-calibration`` sets the menu's ``speech: {accept, confirm}`` to the
operating point it recommends and names the model in ``speech.calibrated_for``, so a call
uses measured thresholds, not guessed ones, and a reader sees which model they hold for.
The measured curve itself goes beside the menu (``<menu>.calibration.json``) as the
evidence. Only the menu's top-level ``speech:`` entry is rewritten (as one flow-style
line); every other line, comment included, stays as it was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from ivr.hearing.evaluation import Report

_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:")


def calibration_path(menu_path: Path) -> Path:
    """Where the evidence for a menu's thresholds is kept: beside the menu."""
    name = menu_path.name
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else menu_path.stem
    return menu_path.with_name(f"{stem}.calibration.json")


def speech_line(speech: dict[str, Any]) -> str:
    """``speech: {…}`` as one flow-style YAML line, keys in a fixed order."""
    order = ["model", "accept", "confirm", "calibrated_for", "second_pass", "decoys", "barge_in"]
    keys = [k for k in order if k in speech] + sorted(k for k in speech if k not in order)
    parts = []
    for key in keys:
        # No wrapping: a long list (decoys) must stay on the one line.
        value = yaml.safe_dump(
            speech[key], default_flow_style=True, allow_unicode=True, width=1_000_000
        )
        value = value.strip().removesuffix("...").strip()
        parts.append(f"{key}: {value}")
    return "speech: {" + ", ".join(parts) + "}"


def with_thresholds(
    text: str,
    accept: float,
    confirm: float,
    model: str,
    second_pass: bool | None = None,
    decoys: bool | None = None,
) -> str:
    """The menu source ``text`` with its top-level ``speech`` entry holding the thresholds
    and the model they were measured for (added at the end if there was none), and whether
    they were measured with the second pass and with decoys (``second_pass``, ``decoys``;
    None: left as it was; a menu's own list of decoys stays when measured with decoys)."""
    document = yaml.safe_load(text) or {}
    speech = dict(document.get("speech") or {})
    speech.update(accept=round(accept, 2), confirm=round(confirm, 2), calibrated_for=model)
    if second_pass is not None:
        if second_pass:
            speech["second_pass"] = True
        else:
            speech.pop("second_pass", None)
    if decoys is not None:
        if not decoys:
            speech.pop("decoys", None)
        elif not isinstance(speech.get("decoys"), list):
            speech["decoys"] = True
    line = speech_line(speech)
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, row in enumerate(lines) if (m := _TOP_KEY.match(row)) and m["key"] == "speech"),
        None,
    )
    if start is None:
        ending = "" if not lines or lines[-1].endswith("\n") else "\n"
        return text + ending + line + "\n"
    end = start + 1
    while end < len(lines) and (lines[end][:1] in (" ", "\t") or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate the next entry
    return "".join([*lines[:start], line + "\n", *lines[end:]])


def write_calibration(menu_path: Path, report: Report) -> Path:
    """Set the menu's thresholds to the recommended ones and write the evidence beside it.

    Returns the evidence file's path. The menu is replaced atomically.
    """
    point = report.recommended
    text = menu_path.read_text(encoding="utf-8")
    written = with_thresholds(
        text, point.accept, point.confirm, report.model, report.second_pass, report.decoys
    )
    _replace(menu_path, written)
    evidence = calibration_path(menu_path)
    figures = report.to_json()
    figures.pop("trials", None)
    _replace(evidence, json.dumps(figures, ensure_ascii=False, indent=1) + "\n")
    return evidence


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
