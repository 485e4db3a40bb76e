"""Nothing a user feeds the ivr command crashes it (issue 9, the command-line side).

Bad arguments, output paths, a full disk, signals and hostile key scripts each end in
one clear line and a documented exit status (1: input or environment, 2: command line,
128+N: signal N), never a traceback; the call log always parses, line by line.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import pty
import resource
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ivr.audio.wav import AudioClip, write_wav
from ivr.cli import main
from ivr.drivers.testing import run_script
from ivr.drivers.timeline import CallTimeline
from ivr.engine.events import CallEvent, EventType
from ivr.limits import KEY_SCRIPT_CHARS
from ivr.menu.model import Menu
from ivr.outputs.call_log import CallLog
from tests.conftest import ROOT, WALLET

IVR = [sys.executable, "-m", "ivr.cli"]
pytestmark = pytest.mark.usefixtures("one_parser")  # many in-process calls (tests/conftest.py)
SCENARIO = ROOT / "tests" / "calls" / "wallet" / "agent-main.call.yaml"


def run_ivr(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IVR, *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        **options,  # type: ignore[call-overload]
    )


def in_process(args: list[str]) -> tuple[int, str, str]:
    """``main(args)`` in this process: (exit status, stdout, stderr). An exception that
    escapes fails the test, as a traceback would have shown."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as leaving:  # argparse: --help, usage errors
            code = leaving.code if isinstance(leaving.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def parsed(path: Path) -> list[dict[str, object]]:
    """Every line of a call log, each of which must be whole JSON."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), data[-80:]
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


@contextlib.contextmanager
def logged_problems() -> Iterator[list[logging.LogRecord]]:
    """What ivr logs at WARNING or above while the block runs."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.WARNING)
    logger = logging.getLogger("ivr")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A file, a folder, a text file posing as a WAV, a silent WAV and a missing path."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("hello\n", encoding="utf-8")
    write_wav(tmp_path / "silence.wav", AudioClip(np.zeros(1600, np.int16), 16000))
    return {
        "file": tmp_path / "file.txt",
        "folder": tmp_path / "folder",
        "wav": tmp_path / "silence.wav",
        "missing": tmp_path / "missing" / "thing.yaml",
    }


# --- every subcommand, fed bad arguments ----------------------------------------------

BAD_ARGUMENTS: list[tuple[str, ...]] = [
    (),
    ("bogus",),
    ("--version-of-nothing",),
    ("call", "--menu", "{missing}", "--keys", "1"),
    ("call", "--menu", "{folder}", "--keys", "1"),
    ("call", "--menu", "{file}", "--keys", "1"),
    ("call", "--keys", "1x"),
    ("call", "--keys", "1", "--mic"),
    ("call", "--keys"),
    ("call", "--keys", "1", "--snr", "nan"),
    ("call", "--keys", "1", "--snr", "inf"),
    ("call", "--keys", "1", "--snr", "-inf"),
    ("call", "--keys", "1", "--snr", "-1e999"),
    ("call", "--keys", "1", "--snr", "loud"),
    ("call", "--keys", "1", "--line", "gsm"),
    ("call", "--audio", "{missing}"),
    ("call", "--audio", "{folder}"),
    ("call", "--audio", "{file}"),
    ("call", "--audio", "{wav}", "--model", "{missing}"),
    ("call", "--keys", "1", "--record", "{folder}"),
    ("call", "--keys", "1", "--log", "{folder}"),
    ("call", "--keys", "1", "--log", "{file}/call.jsonl"),
    ("call", "--keys", "1", "--out", "{file}"),
    ("call", "--record", "{file}", "--text"),
    ("call", "--keys", "1", "--unknown-option"),
    ("check", "{missing}"),
    ("check", "{folder}"),
    ("check", "{file}"),
    ("check", "--model", "{missing}"),
    ("check", "--model", "{folder}"),
    ("check", "--strict"),
    ("test", "{missing}"),
    ("test", "{folder}"),
    ("test", "{file}"),
    ("test", "--junit", "{folder}"),
    ("test", "--coverage", "{folder}"),
    ("test", "--out", "{file}"),
    ("test", "--snr", "nan"),
    ("test", "--line", "x"),
    ("run-recording",),
    ("run-recording", "{missing}"),
    ("run-recording", "{folder}"),
    ("run-recording", "{file}"),
    ("run-recording", "{wav}", "--model", "{missing}"),
    ("run-recording", "{wav}", "--log", "{folder}"),
    ("run-recording", "{wav}", "--out", "{file}"),
    ("run-recording", "{wav}", "--snr", "inf"),
    ("run-recording", "{wav}", "--menu", "{folder}"),
    ("dtmf",),
    ("dtmf", "{missing}"),
    ("dtmf", "{folder}"),
    ("dtmf", "{file}"),
    ("dtmf", "{wav}", "--snr", "nan"),
    ("dtmf", "{wav}", "--snr", "-inf"),
    ("transcribe", "{missing}"),
    ("transcribe", "{folder}"),
    ("transcribe", "{file}"),
    ("transcribe", "{wav}", "--state", "no_such_node"),
    ("transcribe", "{wav}", "--model", "{missing}"),
    ("transcribe", "{wav}", "--model", "{folder}"),
    ("transcribe", "{wav}", "--menu", "{file}"),
    ("models",),
    ("models", "fetch"),
    ("models", "download"),
    ("models", "download", "no-such-model"),
    ("models", "download", "small-cn", "--url", "not-a-url"),
    ("models", "download", "small-cn", "--url", "http://127.0.0.1:9/closed.zip"),
    ("models", "list", "--all"),
    ("prompts", "{missing}"),
    ("prompts", "{folder}"),
    ("prompts", "{file}"),
    ("prompts", "--cache", "{file}"),
]


@pytest.mark.parametrize("arguments", BAD_ARGUMENTS, ids=" ".join)
def test_every_subcommand_fed_bad_arguments_says_so_briefly(
    arguments: tuple[str, ...],
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("IVR_MODEL", raising=False)
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in arguments]
    with logged_problems() as problems:
        code, _, err = in_process(args)
    assert code in (1, 2), (code, err)
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 3, err  # a progress bar may precede a download's one line
    assert "Traceback" not in err
    assert not [r for r in problems if r.exc_info], [r.getMessage() for r in problems]


def test_usage_errors_are_one_line_on_the_real_stderr() -> None:
    result = run_ivr("call", "--keys", "1", "--snr", "nan")
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "ivr call: error: argument --snr: must be a finite number, not 'nan' "
        "(see 'ivr call --help')"
    )


def test_a_finite_snr_is_still_accepted(files: dict[str, Path]) -> None:
    for snr in ("20", "-5", "0"):
        code, _, err = in_process(["dtmf", str(files["wav"]), "--snr", snr])
        assert code == 0, err


# --- output paths: checked before the command starts ------------------------------------

OUTPUTS = [
    (["call", "--keys", "1"], "--log", "file"),
    (["call", "--keys", "1"], "--out", "folder"),
    (["call", "--text"], "--record", "folder"),
    (["run-recording", "{wav}"], "--log", "file"),
    (["run-recording", "{wav}"], "--out", "folder"),
    (["test", str(SCENARIO)], "--junit", "file"),
    (["test", str(SCENARIO)], "--coverage", "file"),
    (["test", str(SCENARIO)], "--out", "folder"),
    (["prompts"], "--cache", "folder"),
]


def bad_paths(kind: str, files: dict[str, Path]) -> list[tuple[Path, str]]:
    """Paths that cannot be an output of ``kind``, with what the one line must say."""
    wrong = files["folder"] if kind == "file" else files["file"]
    return [
        (wrong, "is a folder; name a file" if kind == "file" else "is a file; name a folder"),
        (files["file"] / "below" / "x.out", f"{files['file']} is a file, not a folder"),
    ]


@pytest.mark.parametrize(("command", "option", "kind"), OUTPUTS, ids=lambda v: str(v))
def test_a_wrong_output_path_stops_the_command_before_it_starts(
    command: list[str], option: str, kind: str, files: dict[str, Path]
) -> None:
    name = " ".join(["ivr", command[0]])
    before = sorted(p.name for p in files["folder"].parent.iterdir())
    for path, says in bad_paths(kind, files):
        args = [a.format(wav=files["wav"]) for a in command] + [option, str(path)]
        code, out, err = in_process(args)
        assert code == 2, (args, err)
        assert one_line(err) == f"{name}: {option} {path}: {says}"
        assert out == ""  # nothing ran: no banner, no call, no rendering
    assert sorted(p.name for p in files["folder"].parent.iterdir()) == before


def test_an_unwritable_output_is_refused_for_a_user_who_cannot_write(tmp_path: Path) -> None:
    """Permission denied, checked for real: as root (CI) the child drops to 'nobody'."""
    base = Path(tempfile.mkdtemp(prefix="ivr-perm-"))  # /tmp: 'nobody' may walk into it
    try:
        base.chmod(0o755)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        (base / "readonly.jsonl").write_text("", encoding="utf-8")
        (base / "readonly.jsonl").chmod(0o444)
        cases = [
            (["call", "--keys", "1", "--log", str(locked / "x.jsonl")], "is not writable"),
            (["call", "--keys", "1", "--log", str(base / "readonly.jsonl")], "not writable"),
            (["call", "--keys", "1", "--out", str(locked)], "folder not writable"),
            (["call", "--keys", "1", "--out", str(locked / "new")], "is not writable"),
            (["test", str(SCENARIO), "--junit", str(locked / "j.xml")], "is not writable"),
        ]
        for args, says in cases:
            code, err = run_as_other_user(args)
            assert code == 2, (args, err)
            assert says in one_line(err) and "permission denied" in err.lower()
        assert list(locked.iterdir()) == []
    finally:
        for path in (base / "locked", base / "readonly.jsonl"):
            path.chmod(0o755)
        subprocess.run(["rm", "-rf", str(base)], check=True)


def run_as_other_user(args: list[str]) -> tuple[int, str]:
    """``main(args)`` in a forked child without root's right to write anywhere."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and exit status
        code = 70
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            sys.stderr = io.TextIOWrapper(os.fdopen(write_end, "wb"), encoding="utf-8")
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(args)
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        err = pipe.read().decode("utf-8")
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), err


def test_missing_output_folders_are_created_as_for_the_log(tmp_path: Path) -> None:
    """--junit and --coverage in folders that do not exist yet work like --log always did."""
    junit = tmp_path / "new" / "reports" / "junit.xml"
    coverage = tmp_path / "other" / "coverage.md"
    code, _, err = in_process(
        ["test", str(SCENARIO), "--junit", str(junit), "--coverage", str(coverage)]
    )
    assert code == 0, err
    assert junit.read_text(encoding="utf-8").startswith("<?xml")
    assert coverage.read_text(encoding="utf-8").startswith("# Call coverage")


# --- a full disk --------------------------------------------------------------------------

PAGE = 4096
"""What is left on the cramped tmpfs: one page."""
FILE_LIMIT = 64 * 1024
"""The largest file of a process under RLIMIT_FSIZE, where no tmpfs can be mounted
(espeak-ng, started for --out, needs about this much for its own first render)."""
BARGING_CALL = "!1!*" * 80 + "0"
"""Barge-in after barge-in: a log of about 100 kB in a short call (a small WAV)."""
SHORT_BARGING_CALL = "!1!*" * 8 + "0"
"""The same for the tmpfs's one page: a log of 12 kB, a transcript of 6 kB, a 5 MB WAV (a
quarter of the CPU of BARGING_CALL with ``--out``, whose WAV takes most of it)."""


@dataclass
class Cramped:
    folder: Path
    room: int
    """Bytes a file there can still take."""
    before: Callable[[], None] | None
    """What the process writing there must run first."""


def mounted_tmpfs(folder: Path) -> bool:
    """Mount a 64 KiB tmpfs on ``folder``, if this process may (root, CAP_SYS_ADMIN)."""
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(folder)]
    try:
        return os.geteuid() == 0 and subprocess.run(mount, capture_output=True).returncode == 0
    except OSError:  # no mount program
        return False


@contextlib.contextmanager
def cramped(base: Path) -> Iterator[Cramped]:
    """A folder where writes soon fail as on a full disk, for real (never skipped).

    As root with CAP_SYS_ADMIN (here) a 64 KiB tmpfs filled up but for one page (writes
    fail with ENOSPC). Where mounting is not allowed, a plain folder and a process whose
    files may not grow beyond FILE_LIMIT (RLIMIT_FSIZE: the kernel fails the write just
    the same, with EFBIG).
    """
    folder = base / "cramped"
    folder.mkdir()
    if mounted_tmpfs(folder):
        try:
            filler = folder / ".filler"
            fill = os.open(filler, os.O_WRONLY | os.O_CREAT)
            with contextlib.suppress(OSError):
                while os.write(fill, b"\0" * 1024):
                    pass
            os.close(fill)
            os.truncate(filler, filler.stat().st_size - PAGE)
            yield Cramped(folder, PAGE, None)
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
    else:

        def limit_file_size() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))

        yield Cramped(folder, FILE_LIMIT, limit_file_size)


def test_the_log_on_a_full_device_ends_in_one_line_and_the_call_goes_on() -> None:
    result = run_ivr("call", "--keys", "12_1*#0", "--log", "/dev/full")
    assert result.returncode == 1
    assert one_line(result.stderr) == (
        "ivr call: cannot write /dev/full: No space left on device "
        "(the 0 whole lines before it are kept)"
    )
    assert "通话结束：已转人工" in result.stdout  # the call went on to its end


def test_a_full_disk_leaves_whole_log_lines_and_no_partial_files(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "200"}
    reference = tmp_path / "reference"
    with cramped(tmp_path) as disk:
        keys = SHORT_BARGING_CALL if disk.room <= PAGE else BARGING_CALL
        done = run_ivr("call", "--keys", keys, "--out", str(reference), env=env)
        assert done.returncode == 0, done.stderr  # also renders the prompts into the cache
        full_log = parsed(reference / "call.jsonl")
        assert len((reference / "call.jsonl").read_bytes()) > disk.room
        log, out = disk.folder / "call.jsonl", disk.folder / "out"
        args = ["call", "--keys", keys, "--log", str(log), "--out", str(out)]
        result = run_ivr(*args, env=env, preexec_fn=disk.before)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        warnings = [line for line in lines if line.startswith("ivr ")]
        assert 1 <= len(warnings) <= 4  # one per file that could not be written
        assert all(w.startswith("ivr call: cannot write ") for w in warnings), warnings
        # Under RLIMIT_FSIZE only: libpulse (opened by espeak-ng) cannot size its memory.
        assert all("ftruncate() failed" in line for line in lines if line not in warnings)
        assert "通话结束：已转人工" in result.stdout  # the call went on to its end
        for written in (log, out / "call.jsonl"):
            if written.exists():
                records = parsed(written)
                assert records == full_log[: len(records)]  # the events so far, each whole
        assert parsed(log) != full_log  # this one did not fit
        assert not (out / "call.wav").exists()
        transcript = out / "transcript.txt"
        if transcript.exists():  # only if it fitted whole
            assert transcript.read_bytes() == (reference / "transcript.txt").read_bytes()
        assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []


def test_a_log_line_cut_by_the_disk_is_taken_back(tmp_path: Path) -> None:
    """Whole lines, then a partial write, then ENOSPC: the half line is truncated away."""
    with cramped(tmp_path) as disk:
        script = (
            "import sys; from ivr.cli import main; "
            f"sys.exit(main(['call', '--keys', {BARGING_CALL!r}, '--log', sys.argv[1], '--quiet']))"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(disk.folder / "call.jsonl")],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=disk.before,
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert one_line(result.stderr).startswith("ivr call: cannot write ")
        data = (disk.folder / "call.jsonl").read_bytes()
        assert disk.room - 1000 < len(data) <= disk.room and data.endswith(b"\n")
        assert len(parsed(disk.folder / "call.jsonl")) == data.count(b"\n")


CASES: dict[str, int] = {}
"""Hypothesis cases run per property (the report counts them)."""


def counted(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


# --- the log writer -------------------------------------------------------------------------


def test_lone_surrogates_in_prompts_are_logged_as_json_escapes(tmp_path: Path) -> None:
    path = tmp_path / "call.jsonl"
    log = CallLog(path)
    texts = ["说明\udc80请按1", "\ud800", "a\\\udc80b", "\x00\x1b[31m"]
    for text in texts:
        log(CallEvent(EventType.PROMPT, "main", text=text), 1.0)
    log.close()
    assert [r["text"] for r in parsed(path)] == texts


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.text(st.characters(exclude_categories=())) | st.just("\udc80"), max_size=5))
def test_any_text_in_any_event_is_one_whole_json_line(texts: list[str]) -> None:
    counted("log lines")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "call.jsonl"
        log = CallLog(path)
        for text in texts:
            log(CallEvent(EventType.PROMPT, "main", text=text, key=text[:1] or None), 0.5)
        log.close()
        assert [r.get("text") for r in parsed(path)] == texts


def test_a_listener_failing_on_every_event_is_reported_once(wallet: Menu) -> None:
    """A closed pipe or a gone terminal: one warning line, not one traceback per event."""

    def broken(event: CallEvent, moment: float) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with logged_problems() as problems:
        recording = run_script(wallet, "12_1*#0", listeners=(broken,))
    assert len(recording.events) > 20
    assert len(problems) == 1 and problems[0].exc_info is None
    assert "Broken pipe" in problems[0].getMessage()


def test_a_listener_with_a_bug_gets_its_traceback_once(wallet: Menu) -> None:
    def buggy(event: CallEvent, moment: float) -> None:
        raise ZeroDivisionError("a bug")

    with logged_problems() as problems:
        run_script(wallet, "12_1*#0", listeners=(buggy,))
    assert len(problems) == 1 and problems[0].exc_info is not None


# --- signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "patch"),
    [
        (["check"], "ivr.cli.check.load"),
        (["test", str(SCENARIO)], "ivr.scenarios.report.run_cli"),
        (["models", "download", "small-cn"], "ivr.hearing.models.download"),
        (["dtmf", str(ROOT / "tests" / "calls" / "x.wav")], "ivr.audio.wav.open_wav"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else "",
)
def test_ctrl_c_in_any_command_is_one_line_and_130(
    command: list[str], patch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(patch, interrupted)
    code, _, err = in_process(command)
    assert code == 130
    name = " ".join(["ivr", *command[:2]]) if command[0] == "models" else f"ivr {command[0]}"
    assert err.strip().splitlines()[-1] == f"{name}: interrupted"
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err


@pytest.mark.parametrize(
    "command",
    [["call", "--keys", "12_1*#0"], ["test", str(SCENARIO)], ["run-recording", "{wav}"]],
    ids=lambda v: v[0],
)
def test_ctrl_c_during_a_virtual_call_stops_the_command(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a live caller hangs up on Ctrl-C; a script, a scenario run or a replay stops
    (the log still ends with the hang-up)."""
    steps: list[int] = []

    def interrupted_at_the_third_step(method: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any) -> Any:
            steps.append(1)
            if len(steps) == 3:
                raise KeyboardInterrupt
            return method(*args)

        return step

    for name in ("receive", "time_out"):  # the session's two ways of moving the call on
        method = getattr(CallTimeline, name)
        monkeypatch.setattr(CallTimeline, name, interrupted_at_the_third_step(method))
    log = tmp_path / "call.jsonl"
    long_silence = tmp_path / "long.wav"  # the call is still on when the key comes
    write_wav(long_silence, AudioClip(np.zeros(16000 * 90, np.int16), 16000))
    args = [a.format(wav=long_silence) for a in command]
    code, _, err = in_process(args + (["--log", str(log)] if command[0] != "test" else []))
    assert code == 130
    assert one_line(err) == f"ivr {command[0]}: interrupted"
    if command[0] != "test":
        end = parsed(log)[-1]
        assert (end["type"], end["outcome"]) == ("call-end", "abandoned")


class LiveCall:
    """`ivr call` on a pseudo-terminal whose settings the test can read afterwards."""

    def __init__(self, log: Path) -> None:
        self.master, self.slave = pty.openpty()
        self.cooked = termios.tcgetattr(self.slave)
        env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
        self.process = subprocess.Popen(
            [*IVR, "call", "--text", "--menu", str(WALLET), "--log", str(log)],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
        )
        self.output = ""

    def read(self, until: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, self.output
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                self.output += os.read(self.master, 65536).decode("utf-8", "replace")

    def in_cbreak(self) -> bool:
        return not termios.tcgetattr(self.slave)[3] & termios.ICANON

    def finish(self) -> int:
        self.read(lambda: self.process.poll() is not None)
        self.read(lambda: not select.select([self.master], [], [], 0.2)[0])  # drain
        return self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 0)],
    ids=["sigterm", "sighup", "sigint"],
)
def test_a_signal_restores_the_terminal_and_ends_the_log(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    """SIGTERM and SIGHUP end the call as a hang-up, restore cooked mode, say so in one
    line and exit 128+N; Ctrl-C in a live call is the documented hang-up (exit 0)."""
    log = tmp_path / "live.jsonl"
    call = LiveCall(log)
    try:
        call.read(lambda: "欢迎致电" in call.output)  # the call is under way
        assert call.in_cbreak()
        call.process.send_signal(signum)
        assert call.finish() == status
        assert termios.tcgetattr(call.slave) == call.cooked
        assert "Traceback" not in call.output
        if status:
            assert f"ivr call: stopped by {signum.name}" in call.output
        end = parsed(log)[-1]
        assert (end["type"], end["outcome"]) == ("call-end", "abandoned")
    finally:
        call.close()


# --- key scripts ------------------------------------------------------------------------------


def check_call(script: str, quiet: bool = True) -> None:
    """The invariant: a complete call (exit 0) or one clear line (exit 1 or 2), never an
    exception; every line of the log parses as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "call.jsonl"
        keys = ["--keys", script] if not script.startswith("-") else [f"--keys={script}"]
        args = ["call", *keys, "--log", str(log), *(["--quiet"] if quiet else [])]
        with logged_problems() as problems:
            code, _, err = in_process(args)
        assert not problems, [r.getMessage() for r in problems]
        if code == 0:
            records = parsed(log)
            assert records[0]["type"] == "call-start" and records[-1]["type"] == "call-end"
            assert err == ""
        else:
            assert code in (1, 2), (code, err)
            assert one_line(err).startswith("ivr call: ")
            if log.exists():
                parsed(log)


@pytest.fixture(scope="module", autouse=True)
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Key scripts reach the wallet's self-service lookups: they ask a real demo database
    (built once here), so the only warnings left would be ivr's own problems."""
    url = f"sqlite:///{tmp_path_factory.mktemp('backoffice') / 'demo.sqlite3'}"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["db", "init", "--demo", "10", "--db", url]) == 0
    before = os.environ.get("IVR_DATABASE_URL")
    os.environ["IVR_DATABASE_URL"] = url
    yield
    if before is None:
        del os.environ["IVR_DATABASE_URL"]
    else:
        os.environ["IVR_DATABASE_URL"] = before


KEYS = "0123456789*#_! "
HOSTILE = ["\udc80", "\ud800", "\x00", "\x1b[2J", "\n", "\r\n", "\t", "\u202e", "\ufeff", "１"]
HOSTILE += ["٣", "\U0001f4de", "\\", '"', "'", "--", "-h", "%s", "{}", "[red]", "\u3000", "𝟙"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.text(st.sampled_from(KEYS), max_size=40))
@example("!")
@example("1!_")
@example("_" * KEY_SCRIPT_CHARS)
def test_scripts_of_keys_make_a_call_or_one_line(script: str) -> None:
    counted("keys")
    check_call(script)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(st.characters(exclude_categories=()) | st.characters(categories=["Cs"])))
def test_scripts_of_any_characters_make_a_call_or_one_line(script: str) -> None:
    counted("any characters")
    check_call(script)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(list(KEYS)) | st.sampled_from(HOSTILE), max_size=30))
def test_keys_mixed_with_hostile_characters_make_a_call_or_one_line(parts: list[str]) -> None:
    counted("keys and hostile characters")
    check_call("".join(parts))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    st.integers(KEY_SCRIPT_CHARS - 2, KEY_SCRIPT_CHARS + 2) | st.sampled_from([10**5, 10**6]),
    st.sampled_from(["_", "0", "9", "x"]),
)
def test_scripts_around_and_far_over_the_length_limit(length: int, char: str) -> None:
    counted("lengths")
    check_call(char * length)
    code, _, err = in_process(["call", "--keys", char * length, "--quiet"])
    if length > KEY_SCRIPT_CHARS:
        assert code == 2
        assert one_line(err) == (
            f"ivr call: key script: {length} characters, more than the {KEY_SCRIPT_CHARS} allowed"
        )


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(list(KEYS)) | st.sampled_from(HOSTILE), max_size=8))
def test_scripts_shown_on_the_console_make_a_call_or_one_line(parts: list[str]) -> None:
    counted("on the console")
    check_call("".join(parts), quiet=False)


AT_LEAST = {
    "log lines": 150,
    "keys": 100,
    "any characters": 200,
    "keys and hostile characters": 200,
    "lengths": 10,
    "on the console": 10,
}
"""Cases each property must have run (its ``max_examples`` less what hypothesis may skip)."""


def test_the_property_tests_ran_their_cases() -> None:
    """Runs after them (file order; under pytest-xdist only those this worker ran): the
    report's count of generated cases, each property on its own."""
    print(f"\nhypothesis cases: {CASES} = {sum(CASES.values())}")
    assert set(CASES) <= set(AT_LEAST)
    assert all(CASES[name] >= AT_LEAST[name] for name in CASES), CASES


# --- outputs that are inputs, and reports written whole ---------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["call", "--keys", "1", "--log", str(ROOT / "menus" / "wallet.zh-CN.yaml")],
        ["call", "--keys", "1", "--menu", "{menu}", "--log", "{menu}"],
        ["test", str(SCENARIO), "--junit", str(SCENARIO)],
        ["dtmf", "{folder}/a.call.yaml", "--line", "ulaw"],  # no output: not refused
        ["test", "{folder}/a.call.yaml", "--junit", "{folder}/../calls/./a.call.yaml"],
    ],
    ids=["default-menu", "menu", "scenario", "no-output", "same-file-another-way"],
)
def test_an_output_that_is_an_input_is_refused(args: list[str], tmp_path: Path) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_bytes((ROOT / "menus" / "wallet.zh-CN.yaml").read_bytes())
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "a.call.yaml").write_bytes(SCENARIO.read_bytes())
    args = [a.format(menu=menu, folder=folder) for a in args]
    before = {p: p.read_bytes() for p in (menu, folder / "a.call.yaml", SCENARIO)}
    code, _, err = in_process(args)
    if "--junit" in args or "--log" in args:
        assert code == 2
        assert "is an input of this command" in one_line(err)
    else:
        assert "is an input" not in err
    assert {p: p.read_bytes() for p in before} == before


def test_a_junit_file_that_cannot_be_finished_is_not_left_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xml.etree import ElementTree

    from ivr.scenarios import run_scenario, write_junit

    junit = tmp_path / "report.xml"
    junit.write_text("<earlier/>", encoding="utf-8")

    def full_disk(self: ElementTree.ElementTree, target: str, **_: object) -> None:
        Path(target).write_text("<testsuites><testsu", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ElementTree.ElementTree, "write", full_disk)
    with pytest.raises(OSError):
        write_junit([run_scenario(SCENARIO)], junit)
    assert junit.read_text(encoding="utf-8") == "<earlier/>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xml"]
