"""A PulseAudio virtual sound card for tests (null sinks), and a recorder of what plays.

The machines have no sound card; PulseAudio null sinks give the tests a real speaker
(``ivr_spk``, recorded through ``ivr_spk.monitor``) and a real microphone (``ivr_mic``,
fed by playing into ``ivr_caller``), as in shared/docs/environment.md.

Use the ``pulse_server`` fixture: import it into a test module
(``from tests.pulse import pulse_server``) or register this module as a plugin in
conftest.py (``pytest_plugins = ["tests.pulse"]``). It fails (never skips) when
PulseAudio is not installed, because CI installs it.

Each test process has a PulseAudio of its own (``isolate()``, called by tests/conftest.py):
its socket, state and cookie in a private folder named by ``PULSE_RUNTIME_PATH`` /
``PULSE_SERVER``, which every ``ivr``, ``parec`` or ``pactl`` the tests start inherits. So
pytest-xdist workers, and test runs in other checkouts on the same machine, never play into
or record from one another's sinks, and the suite never touches the user's own server.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt
import pytest

log = logging.getLogger(__name__)

APT_PACKAGES = "pulseaudio pulseaudio-utils libasound2-plugins"
SPEAKER_SINK = "ivr_spk"
CALLER_SINK = "ivr_caller"
MIC_SOURCE = "ivr_mic"
RATE = 16000


def ahead_of_the_load() -> None:
    """Run before exec in the processes of a real-time audio chain (PulseAudio, the ivr under
    test, paplay, parec): a higher priority where allowed (root, as in CI), so the suite's
    other workers, busy on both cores, cannot starve the sound of a microphone test into
    dropped audio and a misheard word. Without the right to, nothing changes."""
    with contextlib.suppress(OSError):
        os.nice(-10)


class PulseUnavailable(RuntimeError):
    """PulseAudio could not be installed-checked, started or configured."""


def isolate() -> Path:
    """Point this process (and every process it starts) at a PulseAudio of its own.

    Sets the variables libpulse, ``pactl``, ``parec`` and ``pulseaudio`` itself read to a
    new private folder (removed at exit). Nothing runs there until ``start_pulseaudio()``.
    """
    folder = Path(tempfile.mkdtemp(prefix="ivr-pulse-"))  # mode 0700, as PulseAudio wants
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["PULSE_RUNTIME_PATH"] = str(folder)  # socket and pid file
    os.environ["PULSE_STATE_PATH"] = str(folder)  # the daemon's databases
    os.environ["PULSE_COOKIE"] = str(folder / "cookie")
    os.environ["PULSE_SERVER"] = f"unix:{folder / 'native'}"
    for name in ("PULSE_SINK", "PULSE_SOURCE"):
        os.environ.pop(name, None)
    return folder


def _pactl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10, check=check)


def _server_running() -> bool:
    try:
        return _pactl("info", check=False).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@dataclass
class PulseServer:
    """A PulseAudio daemon with the simulator's null sinks; ``started`` if we launched it."""

    started: bool
    process: subprocess.Popen[bytes] | None = None
    speaker_sink: str = SPEAKER_SINK
    speaker_monitor: str = f"{SPEAKER_SINK}.monitor"
    caller_sink: str = CALLER_SINK
    mic_source: str = MIC_SOURCE
    modules: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the daemon if this helper started it; leave anyone else's running."""
        if self.started and self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.started = False


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started it ends (Linux).

    A test process that is killed (a worker crash, Ctrl-C twice) leaves no daemon behind.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    ahead_of_the_load()


def start_pulseaudio() -> PulseServer:
    """Start PulseAudio if ``pactl info`` fails, then make sure the null sinks exist."""
    missing = [tool for tool in ("pulseaudio", "pactl", "parec") if shutil.which(tool) is None]
    if missing:
        raise PulseUnavailable(
            f"{', '.join(missing)} not found: apt-get install -y --no-install-recommends "
            f"{APT_PACKAGES}"
        )
    process = None
    if not _server_running():
        # In the foreground, as our child: stopped by stop(), or when this process ends.
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [
                    "pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                    "--enable-memfd=no", "-n",
                    "-L", "module-native-protocol-unix", "-L", "module-always-sink",
                ],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                preexec_fn=_die_with_parent if sys.platform == "linux" else ahead_of_the_load,
            )  # fmt: skip
            deadline = time.monotonic() + 10.0
            while not _server_running():
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait(10)
                    errors.seek(0)
                    said = errors.read().decode(errors="replace").strip().splitlines()
                    raise PulseUnavailable(
                        f"pulseaudio did not start (exit {process.returncode}): "
                        f"{said[-1] if said else 'no output'}"
                    )
                time.sleep(0.05)
    server = PulseServer(started=process is not None, process=process)
    sinks = _pactl("list", "short", "sinks").stdout
    sources = _pactl("list", "short", "sources").stdout
    wanted = [
        (SPEAKER_SINK, sinks, ["module-null-sink", f"sink_name={SPEAKER_SINK}"]),
        (CALLER_SINK, sinks, ["module-null-sink", f"sink_name={CALLER_SINK}"]),
        (MIC_SOURCE, sources, [
            "module-remap-source", f"master={CALLER_SINK}.monitor", f"source_name={MIC_SOURCE}",
        ]),
    ]  # fmt: skip
    for name, listing, module in wanted:
        if f"\t{name}\t" not in listing:
            extra = [f"rate={RATE}", "channels=1"] if module[0] == "module-null-sink" else []
            server.modules.append(_pactl("load-module", *module, *extra).stdout.strip())
    _pactl("set-default-sink", SPEAKER_SINK)
    _pactl("set-default-source", MIC_SOURCE)
    if server.started:
        _refresh_portaudio()
    return server


def kick_sink(sink: str) -> None:
    """Make a null sink apply a newly requested latency now.

    An idle null sink sleeps in 2 s blocks and only adopts a new client's latency when
    the block ends, so a recorder's first audio (or a new stream's) could lag up to 2 s.
    Suspending and resuming restarts its clock with the current latency.
    """
    _pactl("suspend-sink", sink, "1", check=False)
    _pactl("suspend-sink", sink, "0", check=False)


def _refresh_portaudio() -> None:
    """PortAudio lists devices once; re-scan if sounddevice was imported before the server."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


@pytest.fixture(scope="session")
def pulse_server() -> Iterator[PulseServer]:
    """Session-wide PulseAudio with ivr_spk / ivr_caller / ivr_mic; fails if not installed."""
    try:
        server = start_pulseaudio()
    except (PulseUnavailable, subprocess.SubprocessError, OSError) as exc:
        pytest.fail(f"PulseAudio virtual sound card unavailable: {exc}", pytrace=False)
    yield server
    server.stop()


class MonitorRecorder:
    """Records a PulseAudio source with ``parec``, stamping each 10 ms chunk on arrival.

    The arrival stamps let a test relate what was heard to when the code acted, e.g. how
    long after ``stop()`` the line really went silent.
    """

    def __init__(self, source: str = f"{SPEAKER_SINK}.monitor", rate: int = RATE) -> None:
        self.source = source
        self.sink = CALLER_SINK if source == MIC_SOURCE else source.removesuffix(".monitor")
        self.rate = rate
        self.chunk = rate // 100
        self.chunks: list[tuple[float, npt.NDArray[np.int16]]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MonitorRecorder:
        self._proc = subprocess.Popen(
            [
                "parec", f"--device={self.source}", "--format=s16le", f"--rate={self.rate}",
                "--channels=1", "--latency-msec=10", "--raw",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=ahead_of_the_load,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5.0
        next_kick = time.monotonic() + 0.05
        while not self.chunks:  # recording really runs before the test acts
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.close()
                raise PulseUnavailable(f"parec recorded nothing from {self.source}")
            if time.monotonic() > next_kick:
                kick_sink(self.sink)
                next_kick = time.monotonic() + 0.2
            time.sleep(0.005)
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        size = self.chunk * 2
        while True:
            data = self._proc.stdout.read(size)
            if len(data) < size:
                return
            self.chunks.append((time.monotonic(), np.frombuffer(data, "<i2").copy()))

    def close(self) -> None:
        """Stop recording."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)
        if self._thread is not None:
            self._thread.join(5)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def samples(self, start: float = 0.0, end: float = float("inf")) -> npt.NDArray[np.int16]:
        """Audio of the chunks that arrived between two ``time.monotonic()`` stamps."""
        parts = [c for t, c in self.chunks if start <= t <= end]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def loud_times(self, threshold: float = 1000.0) -> list[float]:
        """Arrival stamps of the chunks whose RMS exceeds ``threshold``."""
        return [
            t
            for t, c in self.chunks
            if float(np.sqrt(np.mean(c.astype(np.float64) ** 2))) > threshold
        ]
