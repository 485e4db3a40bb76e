"""``ivr graph``: the menu as Mermaid, DOT or SVG, with the time to each leaf by keys."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ivr.cli import main
from ivr.cli.graph import key_paths, menu_diagram, named_at, reach_times
from ivr.drivers.testing import run_script
from ivr.engine.events import EventType
from ivr.engine.flow import CallFlow
from ivr.menu.model import Menu, NodeKind, load
from ivr.outputs.menu_map import EdgeKind, machine_edges, mermaid_quote, mermaid_unescape, svg
from ivr.prompts.player import estimated_duration
from tests.conftest import ROOT, SMALL_MENU, WALLET

IVR = [sys.executable, "-m", "ivr.cli"]
MENUS = [WALLET, ROOT / "tests" / "menus" / "backlinks.zh-CN.yaml"]
KOREAN = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
SVG = "{http://www.w3.org/2000/svg}"


def run_ivr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IVR, *args], capture_output=True, text=True, timeout=60, env=env)


# --- what the diagram shows ---------------------------------------------------------------


def keyed_leaves(menu: Menu) -> set[str]:
    """The answers and procedures a menu option offers: reached by keys alone (what a
    self-service lookup reads is reached through the back office's results)."""
    offered = {t for node in menu.nodes.values() for t in node.options.values()}
    leaves = (NodeKind.ANSWER, NodeKind.PROCEDURE)
    return {n for n, node in menu.nodes.items() if node.kind in leaves and n in offered}


def test_the_mermaid_map_has_every_node_and_key_edge_of_the_wallet(wallet: Menu) -> None:
    result = run_ivr("graph")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("flowchart TD\n")
    for node_id, node in wallet.nodes.items():
        shape = {
            NodeKind.MENU: r"\[",
            NodeKind.ANSWER: r"\(",
            NodeKind.PROCEDURE: r"\[\[",
            NodeKind.COLLECT: r"\[/",
            NodeKind.ACTION: r"\[\(",
            NodeKind.SWITCH: r"\{",
            NodeKind.RECORD: r"\[\\",
        }
        line = rf'  n_{node_id}{shape[node.kind]}"{node.title}<br/><small>{node_id} · {node.kind}</small>'
        assert re.search(line, text), node_id
    edges = machine_edges(CallFlow(wallet))
    select = [e for e in edges if e.kind is EdgeKind.SELECT]
    assert len(select) == 45
    for edge in select:
        assert f'  n_{edge.source} -->|"{edge.argument}"| n_{edge.dest}\n' in text, edge
    flows = [e for e in edges if e.kind in (EdgeKind.NEXT, EdgeKind.RESULT, EdgeKind.CASE)]
    flows += [e for e in edges if e.kind is EdgeKind.DEFAULT]
    assert len(flows) == 50  # entries, messages, results, values: the self-service flows
    links = [line for line in text.splitlines() if " -->|" in line]
    assert len(links) == 45 + 50  # the global keys are in the legend, not edges from every node
    assert '  legend["global keys: 0 agent · * repeat · #35; back<br/>' in text
    assert "%% times: when a caller using only keys enters each answer or procedure," in text


def test_each_leaf_shows_its_keys_and_both_times(wallet: Menu) -> None:
    text = menu_diagram(wallet, reach_times(wallet)).mermaid()
    leaves = [n for n in keyed_leaves(wallet) if wallet.nodes[n].kind is not NodeKind.MENU]
    assert len(leaves) == 14  # the guide's; what a lookup reads is reached through it
    for leaf in leaves:
        (line,) = [line for line in text.splitlines() if re.match(rf"  n_{leaf}[\[(]", line)]
        assert re.search(r"<br/>keys \d \d: \d+\.\d s · barge-in \d+\.\d s", line), line
    assert "keys 1 2: 57.8 s · barge-in 24.7 s" in text  # 找回密码


# --- the times are the engine's ---------------------------------------------------------


@pytest.mark.parametrize("path", [*MENUS, KOREAN], ids=lambda p: p.name)
def test_listening_times_are_a_scripted_runs_state_entry_times(path: Path) -> None:
    menu = load(path)
    reaches = reach_times(menu)
    assert set(reaches) == keyed_leaves(menu)
    for node, reach in reaches.items():
        recording = run_script(menu, "".join(reach.keys), think_time=0.0)
        entered = [t for t, e in recording.events if e.type is EventType.STATE and e.state == node]
        assert entered and entered[0] == pytest.approx(reach.listening), node
        assert reach.barge_in <= reach.listening


def test_listening_is_every_prompt_on_the_way_said_whole(wallet: Menu) -> None:
    reach = reach_times(wallet)["password_recovery"]
    assert reach.keys == ("1", "2")
    said = [wallet.greeting, wallet.nodes["main"].prompt, wallet.nodes["account"].prompt]
    assert reach.listening == pytest.approx(sum(map(estimated_duration, said)))


def test_barge_in_presses_each_key_as_soon_as_the_prompt_names_it(wallet: Menu) -> None:
    """Worked by hand from the prompt texts: the greeting names no key, so it is heard
    whole; in each menu prompt the key is pressed once its text up to the key is said."""
    reaches = reach_times(wallet)
    for node, reach in reaches.items():
        expected = estimated_duration(wallet.greeting)
        menu_id = wallet.start
        for key in reach.keys:
            prompt = wallet.nodes[menu_id].prompt
            expected += estimated_duration(prompt[: prompt.index(f"按{key}") + 2])
            menu_id = wallet.nodes[menu_id].options[key]
        assert menu_id == node
        assert reach.barge_in == pytest.approx(expected), node
    assert reaches["registration"].barge_in == pytest.approx(
        estimated_duration(wallet.greeting) + estimated_duration("账户问题请按1") * 2
    )


def test_keys_no_prompt_names_are_pressed_when_the_prompts_end() -> None:
    menu = load(KOREAN)  # "셋 또는 오라고 말씀하세요." names no key
    for reach in reach_times(menu).values():
        assert reach.barge_in == reach.listening


def test_key_paths_follow_the_tree_through_links_back_up() -> None:
    menu = load(MENUS[1])
    assert key_paths(menu) == {
        "refund": ("1", "1"),
        "records": ("1", "2", "1"),
        "register": ("2", "1"),
    }


def test_a_prompt_names_a_key_as_a_digit_or_by_name() -> None:
    assert named_at("账户问题请按1，交易咨询请按2。", "2") == len("账户问题请按1，交易咨询请按2")
    assert named_at("请按10号键，或按1。", "1") == len("请按10号键，或按1")
    assert named_at("重听请按星号键。", "*") == len("重听请按星号")
    assert named_at("返回请按#。", "#") == len("返回请按#")
    assert named_at("欢迎致电。", "1") is None


# --- SVG and DOT ------------------------------------------------------------------------------


def test_svg_is_laid_out_by_dot(tmp_path: Path, wallet: Menu) -> None:
    out = tmp_path / "wallet.svg"
    assert main(["graph", "--format", "svg", "--out", str(out)]) == 0
    content = out.read_text(encoding="utf-8")
    assert "Generated by graphviz" in content
    root = ET.fromstring(content)
    assert root.tag == f"{SVG}svg"
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for node in wallet.nodes.values():
        assert node.title in texts, node.title
    assert "keys 1 2: 57.8 s · barge-in 24.7 s" in texts
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert (len(nodes), len(edges)) == (len(wallet.nodes) + 1, 45 + 50)  # and the legend


def test_dot_source_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("digraph menu {")
    assert "\tn_main -> n_account [label=1]\n" in text
    assert "\t// global keys: 0 agent · * repeat · # back\n" in text


# --- escaping ---------------------------------------------------------------------------------


def _titled(menu: Menu, title: str) -> Menu:
    nodes = dict(menu.nodes)
    nodes["account"] = replace(nodes["account"], title=title)
    return replace(menu, nodes=MappingProxyType(nodes))


_WALLET_LINES: list[int] = []


def _wallet_lines(wallet: Menu) -> int:
    """The untouched wallet diagram's line count, drawn once for all the examples."""
    if not _WALLET_LINES:
        _WALLET_LINES.append(len(menu_diagram(wallet, {}).mermaid().splitlines()))
    return _WALLET_LINES[0]


_UNSAFE = re.compile(r'["<>&|`\x00-\x1f\x7f\u2028\u2029]')


@settings(max_examples=60, deadline=None)  # a wallet diagram each; quoting itself: 300 below
@given(st.text(max_size=40))
def test_any_title_is_one_quoted_mermaid_label_that_reads_back(wallet: Menu, title: str) -> None:
    text = menu_diagram(_titled(wallet, title), {}).mermaid()
    lines = text.splitlines()
    (line,) = [line for line in lines if line.startswith("  n_account[")]
    found = re.fullmatch(r'  n_account\["([^"]*)<br/><small>account · menu</small>"\]', line)
    assert found, line
    assert not _UNSAFE.search(found.group(1))
    assert mermaid_unescape(found.group(1)) == title
    assert len(lines) == _wallet_lines(wallet)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_edge_label_is_quoted_and_reads_back(label: str) -> None:
    quoted = mermaid_quote(label)
    assert quoted[0] == quoted[-1] == '"'
    assert not _UNSAFE.search(quoted[1:-1])
    assert mermaid_unescape(quoted) == label


PRINTABLE = st.text(
    st.characters(categories=["L", "N", "P", "S"]) | st.sampled_from('"\\<>&|`[]{}#;*'),
    min_size=1,
    max_size=20,
)


@pytest.fixture(scope="module")
def small_menu(tmp_path_factory: pytest.TempPathFactory) -> Menu:
    """The tests' small menu (an ``account`` node among five): Graphviz lays it out in a
    tenth of the wallet's time, and a title reaches the SVG by the same code either way."""
    path = tmp_path_factory.mktemp("small") / "menu.yaml"
    path.write_text(SMALL_MENU, encoding="utf-8")
    return load(path)


@settings(max_examples=25, deadline=None)
@given(PRINTABLE)
@example("\\N")  # DOT's escape for the node's name
@example("a\\")
@example("<b>x</b>")
@example('「快」 "VIP" [新]')
def test_any_printable_title_reaches_the_svg_as_it_is(small_menu: Menu, title: str) -> None:
    source = menu_diagram(_titled(small_menu, title), {}).dot()
    texts = [t.text or "" for t in ET.fromstring(svg(source)).iter(f"{SVG}text")]
    assert title in texts


def test_titles_with_cjk_quotes_and_brackets(make_menu: Callable[..., Menu]) -> None:
    menu = make_menu({"title: 账户\n": 'title: "账户 \\"VIP\\" [新] (旧) <b>#1</b> 「快」"\n'})
    text = menu_diagram(menu, reach_times(menu)).mermaid()
    assert (
        '  n_account["账户 #quot;VIP#quot; [新] (旧) #lt;b#gt;#35;1#lt;/b#gt; 「快」'
        '<br/><small>account · menu</small>"]'
    ) in text


# --- bad input --------------------------------------------------------------------------------


def test_a_broken_menu_is_path_line_message_and_exit_1(tmp_path: Path) -> None:
    menu = tmp_path / "bad.yaml"
    menu.write_text("language: zh-CN\nstart: main\nnodes:\n  main: [\n", encoding="utf-8")
    result = run_ivr("graph", str(menu))
    assert result.returncode == 1
    assert result.stdout == ""
    assert all(
        re.match(rf"{re.escape(str(menu))}:\d+: ", line) for line in result.stderr.splitlines()
    )
    assert "Traceback" not in result.stderr


def test_svg_without_dot_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "menu.svg"
    result = run_ivr("graph", "--format", "svg", "--out", str(out), env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr == (
        "ivr graph: Graphviz's dot is not installed: install graphviz (apt-get install graphviz)\n"
    )
    assert not out.exists()
    mermaid = run_ivr("graph", env={"PATH": str(tmp_path)})  # Mermaid needs no Graphviz
    assert mermaid.returncode == 0 and mermaid.stdout.startswith("flowchart TD")


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path if where == "folder" else tmp_path / "file" / "menu.mmd"
    result = run_ivr("graph", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ivr graph: --out ")
    assert result.stdout == ""


def test_out_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "maps" / "wallet.mmd"
    assert main(["graph", str(WALLET), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("flowchart TD\n")


def test_graph_loads_no_graphviz_unless_asked(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom ivr.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'graphviz', 'numpy'}))"
    )
    for args, loaded in [
        (["--help"], "[]"),
        (["graph"], "[]"),
        (["graph", "--format", "dot"], "graphviz"),
    ]:
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        last = done.stdout.splitlines()[-1]
        assert (
            (last == "[]") if loaded == "[]" else ("'graphviz'" in last and "numpy" not in last)
        ), (args, last)


def test_the_readme_quotes_the_times_ivr_graph_finds(wallet: Menu) -> None:
    """The README's figures follow the menu: a prompt edited without them fails here."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = readme[readme.index("### The menu as a diagram") :]
    section = " ".join(section[: section.index("\n## ")].split())
    quoted = re.findall(r"\(`(\d) (\d)`\) (?:takes )?([\d.]+) s, or ([\d.]+) s", section)
    assert len(quoted) == 2
    by_keys = {reach.keys: reach for reach in reach_times(wallet).values()}
    for first, second, listening, barge_in in quoted:
        reach = by_keys[(first, second)]
        assert (f"{reach.listening:.1f}", f"{reach.barge_in:.1f}") == (listening, barge_in)
