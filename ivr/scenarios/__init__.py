"""Call scenarios: a call written as turns in a ``*.call.yaml`` file, played and checked.

A scenario names a menu and lists what the caller does, turn by turn, and what they must
hear after each turn::

    menu: ../../menus/wallet.zh-CN.yaml
    turns:
      - press: "12"
        expect: {state: password_recovery, prompt: 第一步}
      - silence: 6
        expect: {event: no-input}
      - hangup
    expect: {outcome: abandoned, max_duration: 120}

Every call runs on a virtual clock with the prompts timed as the text-only player times
them, so a scenario with three 5-second timeouts takes milliseconds. ``say:`` turns are
spoken by text-to-speech and heard by the real recognizer, never passed through as text;
a scenario with speech whose model cannot be found is *skipped*, with the reason.

**When is a turn checked?** A turn's events run from the moment the caller starts acting
on it (the first key, the start of the silence or of the speech) to the moment the caller
starts acting on the next turn; the first turn's run from the start of the call, the last
turn's to its end. Everything the turn caused is therefore in its window: the prompts it
led to (reported as they *start*), the no-input after a silence, the end of an answer.

Turns: ``press`` keys as in ``ivr call --keys`` (each once the prompts have ended, after
the think time; ``_`` silent until the no-input timer fires; ``!`` one second into the
prompt being said); ``silence: N`` seconds counted from the end of the prompts; ``say``
text rendered by the espeak-ng command line (repeatable: the same text, the same samples)
in the caller's voice (the menu's, or ``voice:``;
``rate:`` per turn) and fed to the real recognizer 20 ms at a time; ``play`` a WAV file;
``hangup`` once the prompts have ended. When the turns run out the caller hangs up as soon
as the hotline waits for them, as a key script does.

Expectations after a turn: ``state`` (one node or a list, entered during the turn in this
order; with no node entered, the node the call stayed in), ``prompt`` (text contained in a
prompt said), ``prompt_matches`` (regular expression searched in a prompt said), ``event``
/ ``not_event`` (event types that must / must not occur), ``decision`` (accept, confirm or
reject of an utterance) and ``recognized`` (the words heard). For the whole call:
``outcome``, ``max_duration`` (call time) and ``state`` (where the call ended).

The package, one job per module (imports run down this list, never up; no cycle):

* ``model``: the scenario and its result (turns, expectations, Status, Failure);
* ``loading``: a ``*.call.yaml`` file, checked, to a Scenario (``load_scenario``);
* ``caller``: the ScenarioCaller that plays the turns;
* ``verdict``: the expectations checked against the call's events (``check``);
* ``running``: one scenario or a set played and checked (``run_scenario``);
* ``coverage``: which nodes, edges and error paths the calls went through;
* ``report``: the table, JUnit XML and ``ivr test`` (``run_cli``);
* ``pytest_plugin``: each ``*.call.yaml`` file as a pytest test.

Import the public names from here: ``from ivr.scenarios import run_scenario, Status``.
"""

from __future__ import annotations

from ivr.scenarios.coverage import Coverage, coverage_by_menu, write_coverage
from ivr.scenarios.loading import compile_pattern, find_scenarios, load_scenario, scenario_schema
from ivr.scenarios.model import (
    BARGE_IN_DELAY,
    SUFFIX,
    THINK_TIME,
    CallExpectation,
    Expectation,
    Failure,
    Scenario,
    ScenarioResult,
    Status,
    Turn,
    TurnKind,
)
from ivr.scenarios.report import results_table, run_cli, summary_line, write_junit, xml_text
from ivr.scenarios.running import LineModel, one_line, run_scenario, run_scenarios
from ivr.scenarios.verdict import check

__all__ = [
    "BARGE_IN_DELAY",
    "SUFFIX",
    "THINK_TIME",
    "CallExpectation",
    "Coverage",
    "Expectation",
    "Failure",
    "LineModel",
    "Scenario",
    "ScenarioResult",
    "Status",
    "Turn",
    "TurnKind",
    "check",
    "compile_pattern",
    "coverage_by_menu",
    "find_scenarios",
    "load_scenario",
    "one_line",
    "results_table",
    "run_cli",
    "run_scenario",
    "run_scenarios",
    "scenario_schema",
    "summary_line",
    "write_coverage",
    "write_junit",
    "xml_text",
]
