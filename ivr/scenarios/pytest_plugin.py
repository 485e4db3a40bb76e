"""pytest plugin: every ``*.call.yaml`` file is a test (one call scenario).

Registered by the ``pytest11`` entry point ``ivr``; without it, load it with
``pytest -p ivr.scenarios.pytest_plugin``. A failing scenario is reported as the turns whose
expectations did not hold, each with what was expected and what was heard; an invalid
file as its ``path:line: message`` problems; a scenario with speech that this machine
cannot recognize (no model for the menu's language, no text-to-speech) is skipped with
the reason.

``--ivr-coverage FILE`` writes the menu coverage of the scenarios that ran (``.md``: figures
and a Mermaid diagram per menu; ``.mmd``: the bare diagram).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.errors import IvrError
from ivr.menu.problems import MenuInvalid, MenuProblem, printable
from ivr.scenarios.loading import load_scenario
from ivr.scenarios.model import SUFFIX, Scenario, ScenarioResult, Status
from ivr.scenarios.running import one_line, run_scenario

_RESULTS = pytest.StashKey[list[ScenarioResult]]()


class ScenarioFailed(IvrError):
    """A scenario ran and some expectations did not hold (or it could not run)."""

    def __init__(self, result: ScenarioResult) -> None:
        self.result = result
        super().__init__(result.explain())


class ScenarioInvalid(IvrError):
    """A scenario file with problems, each as ``path:line: message``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ivr", "ivr call scenarios (*.call.yaml)")
    group.addoption(
        "--ivr-coverage",
        metavar="FILE",
        default=None,
        help="write the menu coverage of the call scenarios run (.md or .mmd)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []
    config.addinivalue_line(
        "markers", "speech: a call scenario with say/play turns (needs a model and TTS)"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.name.endswith(SUFFIX):
        file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return file
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        scenario: Scenario | MenuInvalid
        try:
            scenario = load_scenario(self.path)
            name = scenario.name
        except MenuInvalid as invalid:
            scenario, name = invalid, self.path.name.removesuffix(SUFFIX)
        except Exception as error:  # one file's error fails its test, never the collection
            scenario = MenuInvalid([MenuProblem(self.path, 1, one_line(error))])
            name = self.path.name.removesuffix(SUFFIX)
        yield ScenarioItem.from_parent(self, name=printable(name), scenario=scenario)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario | MenuInvalid, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        if isinstance(scenario, Scenario) and scenario.spoken:
            self.add_marker(pytest.mark.speech)

    def runtest(self) -> None:
        if isinstance(self.scenario, MenuInvalid):
            raise ScenarioInvalid(str(self.scenario))
        result = run_scenario(self.scenario, raise_errors=True)
        self.config.stash[_RESULTS].append(result)
        self.user_properties.append(("call_time", f"{result.duration:.1f}"))
        if result.status is Status.SKIPPED:
            pytest.skip(result.reason)
        if result.status is not Status.PASSED:
            raise ScenarioFailed(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ScenarioFailed | ScenarioInvalid):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"call scenario {self.name}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skipped scenario is reported at its own file, not at this plugin's line."""
    report = yield
    if isinstance(item, ScenarioItem) and report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        report.longrepr = (str(item.path), 1, reason)
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    target = config.getoption("--ivr-coverage", default=None)
    results = config.stash.get(_RESULTS, [])
    if not target or not results:
        return
    from ivr.scenarios.coverage import coverage_by_menu, write_coverage

    reports = list(coverage_by_menu(results).values())
    for path in write_coverage(reports, Path(target)):
        terminalreporter.write_line(f"ivr coverage: {path}")
    for report in reports:
        for what, done, total in report.summary()[:4]:
            terminalreporter.write_line(f"  {report.menu.path.name}: {what} {done}/{total}")
