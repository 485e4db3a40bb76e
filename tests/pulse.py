"""A PulseAudio virtual sound card for tests (null sinks), and a recorder of what plays.

The machines have no sound card; PulseAudio null sinks give the tests a real speaker
(``ivr_spk``, recorded through ``ivr_spk.monitor``) and a real microphone (``ivr_mic``,
fed by playing into ``ivr_caller``), as in shared/docs/environment.md.

Use the ``pulse_server`` fixture: import it into a test module
(``from tests.pulse import pulse_server``) or register this module as a plugin in
conftest.py (``pytest_plugins = ["tests.pulse"]``). It fails (never skips) when
PulseAudio is not installed, because CI installs it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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


class PulseUnavailable(RuntimeError):
    """PulseAudio could not be installed-checked, started or configured."""


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
    speaker_sink: str = SPEAKER_SINK
    speaker_monitor: str = f"{SPEAKER_SINK}.monitor"
    caller_sink: str = CALLER_SINK
    mic_source: str = MIC_SOURCE
    modules: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the daemon if this helper started it; leave anyone else's running."""
        if self.started:
            subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=10)
            self.started = False


def start_pulseaudio() -> PulseServer:
    """Start PulseAudio if ``pactl info`` fails, then make sure the null sinks exist."""
    missing = [tool for tool in ("pulseaudio", "pactl", "parec") if shutil.which(tool) is None]
    if missing:
        raise PulseUnavailable(
            f"{', '.join(missing)} not found: apt-get install -y --no-install-recommends "
            f"{APT_PACKAGES}"
        )
    started = False
    if not _server_running():
        proc = subprocess.run(
            [
                "pulseaudio", "-D", "--exit-idle-time=-1", "--disallow-exit",
                "--enable-memfd=no", "-n",
                "-L", "module-native-protocol-unix", "-L", "module-always-sink",
            ],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        deadline = time.monotonic() + 5.0
        while not _server_running():
            if time.monotonic() > deadline:
                raise PulseUnavailable(
                    f"pulseaudio did not start (exit {proc.returncode}): {proc.stderr.strip()}"
                )
            time.sleep(0.05)
        started = True
    server = PulseServer(started=started)
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
    if started:
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
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
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
