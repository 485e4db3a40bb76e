"""``ivr report``: figures from hand-made call logs whose answers are known, bad input,
the HTML file, and the same figures from per-call files and from one multi-call file."""

from __future__ import annotations

import contextlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.cli import main
from ivr.reports.sources import MAX_PROBLEMS, Problems, find_logs
from ivr.reports.summary import MenuShape, Summary, summarize
from tests.conftest import ROOT

WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
SHAPE = MenuShape("main", {"main": 0, "a": 1, "b": 1, "a1": 2})


def ev(t: float, event: str, state: str, **fields: object) -> dict[str, object]:
    return {"t": t, "type": event, "state": state, **fields}


def calls() -> list[list[dict[str, object]]]:
    """Eight calls with known figures (see test_figures_of_known_calls)."""
    start = [ev(0, "call-start", "main"), ev(0, "prompt", "main", text="您好", kind="greeting")]
    return [
        # 1: main → a (10 s) → a1 (30 s), hangs up in a1: contained, abandoned at a1
        [*start, ev(10, "key", "main", key="1"), ev(10, "state", "a"),
         ev(30, "key", "a", key="1"), ev(30, "state", "a1"),
         ev(40, "hangup", "a1", reason="caller"), ev(40, "call-end", "a1", outcome="abandoned")],
        # 2: main → a (20 s): a no-input, back to main, hangs up at main
        [*start, ev(20, "state", "a"), ev(25, "no-input", "a", count=1),
         ev(35, "state", "main"), ev(50, "call-end", "main", outcome="abandoned")],
        # 3: main → b (30 s), a no-match, queue, answered after 10 s
        [*start, ev(30, "state", "b"), ev(31, "no-match", "b", key="9", count=1),
         ev(33, "transfer", "b", reason="caller"),
         ev(34, "queue", "b", reason="enter", count=2, seconds=40),
         ev(44, "agent", "b", seconds=10), ev(44, "call-end", "b", outcome="transferred")],
        # 4: main: max failures to the queue, answered after 30 s (outside 20 s)
        [*start, ev(5, "no-input", "main", count=1), ev(10, "no-input", "main", count=2),
         ev(10, "transfer", "main", reason="max-failures"),
         ev(11, "queue", "main", reason="enter", count=1, seconds=30),
         ev(41, "agent", "main", seconds=30), ev(41, "call-end", "main", outcome="transferred")],
        # 5: main → b (40 s), queue, hangs up in the queue after 50 s
        [*start, ev(40, "state", "b"), ev(41, "transfer", "b", reason="caller"),
         ev(41, "queue", "b", reason="enter", count=5, seconds=90),
         ev(91, "hangup", "b", reason="caller", seconds=50),
         ev(91, "call-end", "b", outcome="abandoned")],
        # 6: main → b (50 s), queue, callback after 60 s
        [*start, ev(50, "state", "b"), ev(51, "transfer", "b", reason="caller"),
         ev(51, "queue", "b", reason="enter", count=9, seconds=300),
         ev(111, "callback", "b", seconds=60), ev(111, "call-end", "b", outcome="callback")],
        # 7: transferred with no queue data (a log from before the queue)
        [*start, ev(3, "transfer", "main", reason="caller"),
         ev(3, "call-end", "main", outcome="transferred")],
        # 8: the hotline hangs up at a (reached at 40 s, entered twice)
        [*start, ev(40, "state", "a"), ev(45, "state", "a1"), ev(46, "state", "a"),
         ev(50, "call-end", "a", outcome="disconnected")],
    ]  # fmt: skip


def write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def per_call(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, call in enumerate(calls()):
        write(folder / f"call-{index}.jsonl", call)
    return folder


def multi_call(path: Path) -> Path:
    records = [{**r, "call": str(i)} for i, call in enumerate(calls()) for r in call]
    return write(path, records)


def report(*paths: Path, shape: MenuShape | None = SHAPE) -> tuple[Summary, Problems]:
    problems = Problems()
    return summarize(find_logs(list(paths), problems), problems, shape), problems


def test_figures_of_known_calls(tmp_path: Path) -> None:
    s, problems = report(per_call(tmp_path / "logs"))
    assert not problems and s.ignored_lines == 0
    assert s.calls == s.ended == 8
    assert s.outcomes == {"abandoned": 3, "transferred": 3, "callback": 1, "disconnected": 1}
    assert s.contained == 4 and s.containment == pytest.approx(0.5)
    assert s.transfers == {"caller": 4, "max-failures": 1}
    assert s.transfers_without_queue == 1
    q = s.queue
    assert (q.entered, q.answered, q.abandoned, q.callback) == (4, 2, 1, 1)
    assert q.average_wait == pytest.approx((10 + 30 + 50 + 60) / 4)
    assert q.average_answer == pytest.approx(20)
    assert q.within_service == 1 and q.service_level == pytest.approx(0.25)
    # abandonment per node, outside the queue: call 1 at a1, call 2 at main
    assert {n.node: n.abandoned for n in s.nodes if n.abandoned} == {"a1": 1, "main": 1}
    # visits: main 8 starts + call 2's return; a: calls 1, 2 and twice in 8
    main, a, b, a1 = (s.node(n) for n in ("main", "a", "b", "a1"))
    assert (main.visits, a.visits, b.visits, a1.visits) == (9, 4, 3, 2)
    assert main.no_input_rate == pytest.approx(2 / 9)
    assert a.no_input_rate == pytest.approx(1 / 4) and a.no_match_rate == 0
    assert b.no_match_rate == pytest.approx(1 / 3)
    # time to first entry: a at 10, 20, 40 s; b at 30, 40, 50 s; a1 at 30 and 45 s
    assert (a.reached, a.p50, a.p90) == (3, pytest.approx(20), pytest.approx(36))
    assert (b.p50, b.p90) == (pytest.approx(40), pytest.approx(48))
    assert (a1.p50, a1.p90) == (pytest.approx(37.5), pytest.approx(43.5))
    # funnel: all 8 at level 0; 6 reached level 1 (calls 1, 2, 3, 5, 6, 8); 2 reached a1
    assert [(f.level, f.calls) for f in s.funnel] == [(0, 8), (1, 6), (2, 2)]
    assert s.funnel[1].nodes == [("a", 3), ("b", 3)]
    edges = {(x, y): n for x, y, n in s.edges}
    assert edges[("main", "a")] == 3 and edges[("a", "a1")] == 2 and edges[("a1", "a")] == 1
    assert edges[("a", "main")] == 1 and edges[("b", "end:transferred")] == 1


def test_same_figures_from_per_call_files_and_one_multi_call_file(tmp_path: Path) -> None:
    one, _ = report(per_call(tmp_path / "logs"))
    many, _ = report(multi_call(tmp_path / "all.jsonl"))
    assert many.files == 1 and one.files == 8
    first, second = one.to_json(), many.to_json()
    for data in (first, second):
        data.pop("seconds"), data.pop("files")
    assert first == second


def test_the_comparison_shows_each_nodes_figures_side_by_side(tmp_path: Path) -> None:
    """``--compare``: per node, reached, time to reach, abandonment and no-input/no-match
    of each set of logs next to each other; a node one set never visits is ``-``."""
    from rich.console import Console

    from ivr.reports.terminal import node_comparison, node_figures

    first, _ = report(per_call(tmp_path / "logs"))
    second, _ = report(write(tmp_path / "other.jsonl", calls()[0]))  # call 1 alone
    assert node_figures(first)["a1"] == {
        "reached": "25.0",
        "p50": "37.5",
        "abandoned": "50.0",  # of the calls reaching it
        "no-input": "0.0",
        "no-match": "0.0",
    }
    assert node_figures(first)["main"]["no-input"] == "22.2"  # 2 in 9 visits
    assert node_figures(first)["b"]["no-match"] == "33.3"
    assert node_figures(second)["a1"]["abandoned"] == "100.0"
    assert "b" not in node_figures(second)
    console = Console(width=80, record=True)
    console.print(node_comparison([("before", first), ("after", second)]))
    text = console.export_text()
    assert "(before → after)" in text
    assert "abandoned %" in text and "no-match %" in text

    def row(node: str) -> list[str]:
        line = next(line for line in text.splitlines() if line.startswith(f"│ {node} "))
        return [cell.strip() for cell in line.strip("│ ").split("│")]

    assert row("a1") == ["a1", "25.0 → 100.0", "37.5 → 30.0", "50.0 → 100.0", "0.0 → 0.0",
                         "0.0 → 0.0"]  # fmt: skip
    assert row("b") == ["b", "37.5 → -", "40.0 → -", "0.0 → -", "0.0 → -", "33.3 → -"]


def test_levels_come_from_the_calls_without_a_menu(tmp_path: Path) -> None:
    s, _ = report(per_call(tmp_path / "logs"), shape=None)
    assert {n.node: n.level for n in s.nodes} == {"main": 0, "a": 1, "b": 1, "a1": 2}
    assert [(f.level, f.calls) for f in s.funnel] == [(0, 8), (1, 6), (2, 2)]


def test_bad_lines_are_said_and_the_rest_reported(tmp_path: Path) -> None:
    logs = per_call(tmp_path / "logs")
    good = (logs / "call-0.jsonl").read_text("utf-8").splitlines()
    broken = [good[0], "{not json", '{"t": "x", "type": "key", "state": "a"}', "[1]", *good[1:]]
    (logs / "call-0.jsonl").write_text("\n".join(broken) + "\n", "utf-8")
    (logs / "sound.jsonl").write_bytes(b"RIFF\x00\x00WAVEfmt " + bytes(range(11, 256)))
    (tmp_path / "empty").mkdir()
    s, problems = report(logs, tmp_path / "empty", tmp_path / "missing.jsonl")
    assert s.calls == 8 and s.ignored_lines == 4
    said = problems.said()
    assert said[0] == f"{tmp_path / 'empty'}: no call logs (*.jsonl) in this folder"
    assert said[1] == f"{tmp_path / 'missing.jsonl'}: no such file or folder"
    assert said[2].startswith(f"{logs / 'call-0.jsonl'}:2: not a JSON object")
    assert said[3] == f"{logs / 'call-0.jsonl'}:3: 't' must be a number"
    assert said[4] == f"{logs / 'call-0.jsonl'}:4: not a JSON object: list"
    assert said[5].startswith(f"{logs / 'sound.jsonl'}:1: not a call log")
    assert len(said) == 6
    assert s.containment == pytest.approx(0.5)  # the figures of the good lines


def test_a_huge_line_is_said_without_being_read_whole(tmp_path: Path) -> None:
    from ivr.reports.sources import scan

    path = tmp_path / "huge.jsonl"
    path.write_text('{"t": 0, "type": "prompt", "state": "main", "text": "' + "长" * 5000 + '"}\n')
    problems = Problems()
    assert scan(path, problems, limit=1000) == 1
    assert problems.said() == [f"{path}:1: line longer than 1,000 bytes: skipped"]


def test_problems_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("x\n" * 100 + json.dumps(ev(0, "call-start", "main")) + "\n")
    s, problems = report(path)
    assert s.calls == 1 and s.ignored_lines == 100
    said = problems.said()
    assert len(said) == MAX_PROBLEMS + 1 and said[-1] == f"… and {100 - MAX_PROBLEMS} more problems"


LINE = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    st.text(max_size=40).map(lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass")),
    st.builds(
        lambda t, kind, state: json.dumps({"t": t, "type": kind, "state": state}).encode(),
        st.one_of(st.floats(-1e6, 1e6), st.text(max_size=3), st.none()),
        st.sampled_from(["state", "call-end", "no-input", 3]),
        st.one_of(st.text(max_size=5), st.none()),
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(st.tuples(st.integers(0, 30), LINE), max_size=6))
def test_corrupted_logs_report_the_good_calls(
    tmp_path: Path, junk: list[tuple[int, bytes]]
) -> None:
    """Junk lines inserted anywhere in a multi-call log: the report never fails, each
    line it cannot use is counted, and the calls whose lines all survived are reported."""
    lines = multi_call(tmp_path / "all.jsonl").read_bytes().splitlines()
    for at, line in junk:
        lines.insert(min(at, len(lines)), line)
    path = tmp_path / "corrupt.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    problems = Problems()
    s = summarize([path], problems, SHAPE)
    assert s.calls >= 8  # a junk line that parses may even add a call of its own
    assert len(problems) >= (1 if s.ignored_lines else 0)
    for line in problems.said():
        assert "\n" not in line and (line.startswith(f"{path}:") or line.startswith("…"))


def self_contained(text: str) -> list[str]:
    """The base64 of the page's images; fails on anything fetched from elsewhere."""
    outside_images = re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', "", text)
    assert not re.search(
        r"https?:|ftp:|src=\"|href=|url\(|<script|<link|@import", outside_images, re.I
    )
    return re.findall(r'<img alt="" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)


def well_formed(text: str) -> None:
    """Every element the page opens is closed, in order."""

    class Check(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.open: list[str] = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag not in {"meta", "img", "br", "path", "polygon", "ellipse", "polyline"}:
                self.open.append(tag)

        def handle_endtag(self, tag: str) -> None:
            if tag in {"path", "polygon", "ellipse", "polyline"}:
                return
            assert self.open and self.open.pop() == tag, tag

    Check().feed(text)


@pytest.fixture(scope="module")
def wallet_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """``ivr report`` of the known calls with the wallet's menu, ``--html`` and ``--json``,
    rendered once (0.9 CPU-s) for the two tests that read it: what it printed, the page,
    the figures."""
    folder = tmp_path_factory.mktemp("report")
    logs = per_call(folder / "logs")
    html, data = folder / "r.html", folder / "r.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            ["report", str(logs), "--menu", str(WALLET), "--html", str(html), "--json", str(data)]
        )
    assert code == 0
    return printed.getvalue(), html, data


def test_cli_report_writes_html_and_json(wallet_report: tuple[str, Path, Path]) -> None:
    out, html, data = wallet_report
    assert "containment" in out and "50.0 %" in out
    figures = json.loads(data.read_text("utf-8"))
    assert figures["containment"] == 0.5 and figures["queue"]["service_level"] == 0.25
    text = html.read_text("utf-8")
    images = self_contained(text)
    assert len(images) >= 3
    assert text.count("<svg") == 1 and "主菜单" in text  # the heat map, with the menu's titles
    assert "Side by side" not in text  # nothing to compare with

    well_formed(text)


def test_cli_report_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = per_call(tmp_path / "logs")
    (logs / "x.jsonl").write_text("oops\n")
    assert main(["report", str(logs), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"ivr report: {logs / 'x.jsonl'}:1: not a JSON object" in err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 1
    assert "no call logs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["report"])
    assert usage.value.code == 2


def test_the_html_report_puts_the_compared_logs_beside_these(
    tmp_path: Path, wallet_report: tuple[str, Path, Path]
) -> None:
    """``--compare`` with ``--html``: the headline figures of both and their difference,
    every node's figures ``A → B`` (as the terminal prints them) and paired charts, in the
    one self-contained page; the rest of the page stays the first logs' report."""
    logs = per_call(tmp_path / "logs")
    other = write(tmp_path / "other.jsonl", calls()[0])  # call 1 alone
    page = tmp_path / "r.html"
    assert main(["report", str(logs), "--menu", str(WALLET), "--compare", str(other),
                 "--html", str(page), "--quiet"]) == 0  # fmt: skip
    text = page.read_text("utf-8")
    well_formed(text)
    images = self_contained(text)
    _, alone, _ = wallet_report  # the same logs' page, without --compare
    assert len(images) == len(self_contained(alone.read_text("utf-8"))) + 3  # the paired charts
    assert "<h2>Side by side: logs → other.jsonl</h2>" in text
    assert "<th>figure</th><th>logs</th><th>other.jsonl</th><th>difference</th>" in text

    assert text.index("<h1>Call logs: logs compared with other.jsonl</h1>") < text.index(
        "<h1>logs: 8 files, 8 calls</h1>"
    )
    side = text[: text.index("<h1>logs: 8 files")]

    def cells(name: str) -> list[str]:
        row = re.search(rf"<tr><th>{re.escape(name)}</th>(.*?)</tr>", side)
        assert row is not None, name
        return re.findall(r"<td>(.*?)</td>", row.group(1))

    assert cells("calls") == ["8", "1", "-7"]
    assert cells("containment (ended without an agent)") == [
        "50.0 % (4)", "100.0 % (1)", "-3 (+50.0 pp)"]  # fmt: skip
    assert cells("queue: average wait") == ["37.5 s", "-", "–"]  # only the first set queued
    assert cells("a1") == ["25.0 → 100.0", "37.5 → 30.0", "50.0 → 100.0", "0.0 → 0.0",
                           "0.0 → 0.0"]  # fmt: skip
    assert cells("b") == ["37.5 → -", "40.0 → -", "0.0 → -", "0.0 → -", "33.3 → -"]
    for title in ("How calls ended, side by side", "Time to reach each node, side by side",
                  "Drop-off per node, side by side"):  # fmt: skip
        assert title in text
    assert text.count("<svg") == 1  # one heat map: the first logs'


def test_the_paired_charts_draw_each_set_of_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each paired chart has one series per set of logs, named after it, with that set's
    values: the time to reach each node (p50) and the share ending there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ivr.reports import html

    drawn: list[dict[str, list[float]]] = []

    def capture(draw: object, height: float = 3.2) -> str:
        figure, axes = plt.subplots()
        draw(figure, axes)  # type: ignore[operator]
        labels = [tick.get_text() for tick in axes.get_yticklabels()]
        drawn.append({"labels": labels})  # type: ignore[dict-item]
        for bars in axes.containers:
            widths = [bar.get_width() for bar in bars]
            ys = [bar.get_y() + bar.get_height() / 2 for bar in bars]
            by_row = dict(zip([round(y) for y in ys], widths, strict=True))
            ticks = [round(tick) for tick in axes.get_yticks()]
            drawn[-1][bars.get_label()] = [by_row[tick] for tick in ticks]
        plt.close(figure)
        return ""

    monkeypatch.setattr(html, "_png", capture)
    first, _ = report(per_call(tmp_path / "logs"))
    second, _ = report(write(tmp_path / "other.jsonl", calls()[0]))
    titles = [title for title, _ in html.comparison_charts([("A", first), ("B", second)])]
    assert titles == ["How calls ended, side by side",
                      "Time to reach each node, side by side (median)",
                      "Drop-off per node, side by side"]  # fmt: skip
    ended, reach, dropped = drawn
    ended_rows = dict(zip(ended["labels"], zip(ended["A"], ended["B"], strict=True), strict=True))
    assert ended_rows["abandoned"] == pytest.approx((37.5, 100.0))
    reach_rows = dict(zip(reach["labels"], zip(reach["A"], reach["B"], strict=True), strict=True))
    assert reach_rows["a1"] == pytest.approx((37.5, 30.0))
    assert reach_rows["b"] == pytest.approx((40.0, 0.0))  # B never reaches b
    drop_rows = dict(zip(dropped["labels"], zip(dropped["A"], dropped["B"], strict=True),
                         strict=True))  # fmt: skip
    assert drop_rows["a1"] == pytest.approx((50.0, 100.0))


def test_the_difference_is_in_calls_points_and_seconds() -> None:
    from ivr.reports.terminal import Figure, difference

    assert difference(Figure("x", "", 10, 0.5), Figure("x", "", 7, 0.25)) == "-3 (-25.0 pp)"
    assert difference(Figure("x", "", rate=0.9), Figure("x", "", rate=0.95)) == "+5.0 pp"
    assert difference(Figure("x", "", seconds=4.0), Figure("x", "", seconds=1.5)) == "-2.5 s"
    assert difference(Figure("x", "", seconds=None), Figure("x", "", seconds=1.5)) == "–"
    assert difference(None, Figure("x", "", 3)) == "–"
