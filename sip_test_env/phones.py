"""Real softphones for tests: baresip 1.0 processes registered to the test registrar, driven from Python.

Each phone plays a sine tone of its own frequency into every call (so the far end can tell who
it hears), records what it sends and receives as WAV files (the sndfile module), answers
automatically or not, and takes commands over baresip's ctrl_tcp socket (netstring JSON):
dial, answer, hangup, send DTMF. ``dominant_frequency`` finds the tone in a recording (FFT).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from sip_test_env.ports import free_port, free_port_pair, wait_listening

CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{sip_port}
audio_player aubridge,{name}
audio_source aufile,{tone}
audio_alert aubridge,{name}
module_path {modules}
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
snd_path {records}
rtp_ports {rtp_low}-{rtp_high}
"""


_ranges = itertools.count()


def _rtp_range() -> tuple[int, int]:
    """20 RTP ports below Linux's ephemeral range (32768+), so they never meet free_port() picks,
    spread by process and phone so that phones started side by side do not share them."""
    low = 20000 + (os.getpid() * 740 + next(_ranges) * 20) % 12000
    return low, low + 19


def write_tone(path: Path, frequency: float, seconds: float = 120.0, rate: int = 8000) -> None:
    """A 16-bit mono WAV sine at the given frequency (8 kHz: what G.711 carries)."""
    samples = (int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


def dominant_frequency(path: Path, *, skip_seconds: float = 0.5, until_seconds: float | None = None) -> float:
    """The strongest frequency in a WAV recording, from skip_seconds to until_seconds (0: silence only)."""
    import numpy as np

    with wave.open(str(path), "rb") as recording:
        rate, width, channels = recording.getframerate(), recording.getsampwidth(), recording.getnchannels()
        frames = recording.readframes(recording.getnframes())
    dtype = {1: np.int8, 2: np.int16, 4: np.int32}[width]
    data = np.frombuffer(frames, dtype=dtype).astype(np.float64)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    data = data[int(rate * skip_seconds):int(rate * until_seconds) if until_seconds is not None else None]
    if data.size < rate // 10 or not np.any(data):
        return 0.0
    spectrum = np.abs(np.fft.rfft(data * np.hanning(data.size)))
    return float(np.fft.rfftfreq(data.size, 1 / rate)[int(np.argmax(spectrum[1:])) + 1])


def tone_levels(path: Path, frequencies: list[float], *, skip_seconds: float = 0.5,
                until_seconds: float | None = None) -> dict[float, float]:
    """How strong each frequency is in a WAV recording (a window from skip to until), relative to the
    strongest of them: 1.0 for the loudest, near 0 for one that is absent (e.g. a mix: 1.0 and 0.8)."""
    import numpy as np

    with wave.open(str(path), "rb") as recording:
        rate, frames = recording.getframerate(), recording.readframes(recording.getnframes())
    data = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    data = data[int(rate * skip_seconds):int(rate * until_seconds) if until_seconds is not None else None]
    if data.size < rate // 10 or not np.any(data):
        return {f: 0.0 for f in frequencies}
    spectrum = np.abs(np.fft.rfft(data * np.hanning(data.size)))
    bins = np.fft.rfftfreq(data.size, 1 / rate)
    level = {f: float(spectrum[(bins > f - 15) & (bins < f + 15)].max()) for f in frequencies}
    top = max(level.values()) or 1.0
    return {f: v / top for f, v in level.items()}


def _finished(path: Path) -> bool:
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as recording:
            data = recording.getnframes() * recording.getsampwidth() * recording.getnchannels()
    except (OSError, wave.Error, EOFError):
        return False
    return data > 0 and size - data <= 128  # the header is all that is not audio


def recording_seconds(path: Path) -> float:
    """How long a WAV recording is."""
    with wave.open(str(path), "rb") as recording:
        return recording.getnframes() / recording.getframerate()


class Phone:
    """One baresip phone with one account on the test registrar."""

    def __init__(self, name: str, password: str, registrar_port: int, *, tone_hz: float, auto_answer: bool = True,
                 rtp_ports: tuple[int, int] | None = None) -> None:
        self.name, self.password, self.registrar_port = name, password, registrar_port
        self.tone_hz, self.auto_answer = tone_hz, auto_answer
        self.base = Path(tempfile.mkdtemp(prefix=f"cti-phone-{name}-"))
        self.records = self.base / "records"
        self.sip_port, self.ctrl_port = free_port_pair(), free_port()  # baresip listens on UDP and TCP
        self.rtp_ports = rtp_ports or _rtp_range()
        self.process: subprocess.Popen[bytes] | None = None
        self._token = 0

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@127.0.0.1"

    def start(self) -> Phone:
        """Start (with fresh ports if one was taken between choosing and binding it)."""
        for attempt in range(3):
            try:
                return self._start()
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
                self.sip_port, self.ctrl_port, self.rtp_ports = free_port_pair(), free_port(), _rtp_range()
        return self

    def _start(self) -> Phone:
        self.records.mkdir(parents=True, exist_ok=True)
        tone = self.base / "tone.wav"
        write_tone(tone, self.tone_hz)
        modules = next((p for p in ("/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules")
                        if Path(p).is_dir()), "/usr/lib/baresip/modules")
        (self.base / "config").write_text(CONFIG.format(
            sip_port=self.sip_port, name=self.name, tone=tone, modules=modules, ctrl_port=self.ctrl_port,
            records=self.records, rtp_low=self.rtp_ports[0], rtp_high=self.rtp_ports[1]))
        answer = "auto" if self.auto_answer else "manual"
        (self.base / "accounts").write_text(
            f"<sip:{self.name}@127.0.0.1>;auth_pass={self.password};answermode={answer};audio_codecs=PCMU;"
            f'regint=600;outbound="sip:127.0.0.1:{self.registrar_port}"\n')
        self.process = subprocess.Popen([shutil.which("baresip") or "baresip", "-n", "127.0.0.1", "-f", str(self.base)],
                                        stdin=subprocess.DEVNULL, stdout=(self.base / "baresip.log").open("wb"),
                                        stderr=subprocess.STDOUT, cwd=self.base)
        try:
            wait_listening(self.ctrl_port, what=f"baresip {self.name}")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; exit code {self.process.poll()}; log:\n{self.log()[-1500:]}") from None
        return self

    def command(self, command: str, params: str = "") -> dict[str, Any]:
        """Run a baresip command over ctrl_tcp; its JSON answer."""
        self._token += 1
        body = json.dumps({"command": command, "params": params, "token": str(self._token)}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as conn:
            conn.sendall(str(len(body)).encode() + b":" + body + b",")
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionError("baresip closed the control connection")
                data += chunk
                while b":" in data:
                    size, _, rest = data.partition(b":")
                    if not size.isdigit() or len(rest) < int(size) + 1:
                        break
                    payload, data = rest[: int(size)], rest[int(size) + 1:]
                    message = json.loads(payload)
                    if message.get("response") and message.get("token") == str(self._token):
                        return message

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def answer(self) -> None:
        self.command("accept")

    def hangup(self) -> None:
        self.command("hangup")

    def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            self.command("sndcode", digit)

    def received_keys(self) -> str:
        """DTMF keys this phone has received (RFC 4733 events as baresip logs them), in order."""
        return "".join(line.split("'")[1] for line in self.log().splitlines()
                       if line.startswith("received event: '") and line.endswith("(end=0)"))

    def wait_keys(self, keys: str, *, timeout: float = 15.0) -> str:
        """Until at least that many keys have arrived; the keys received."""
        deadline = time.monotonic() + timeout
        while len(self.received_keys()) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received_keys()

    def transfer(self, uri: str) -> None:
        """Blind-transfer the current call (baresip sends REFER)."""
        self.command("transfer", uri)

    def log(self) -> str:
        path = self.base / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, text: str, *, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {text!r} not in the log:\n{self.log()[-2000:]}")
            time.sleep(0.05)

    def wait_call_over(self, *, timeout: float = 15.0) -> None:
        """Until the phone's call is over: hung up by the far end ("session closed", on a BYE)
        or by itself ("... terminated")."""
        deadline = time.monotonic() + timeout
        while not any(marker in self.log() for marker in ("session closed", "terminated (duration")):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: the call did not end:\n{self.log()[-2000:]}")
            time.sleep(0.05)

    def recordings(self, *, timeout: float = 15.0) -> list[Path]:
        """The WAV recordings once baresip has finished them. It writes the header with zero
        frames when a call starts and the real length when the call is torn down, so a file is
        finished when its header accounts for every byte in it."""
        deadline = time.monotonic() + timeout
        while True:
            files = sorted(self.records.glob("*.wav"))
            if files and all(_finished(path) for path in files):
                return files
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: recordings not finished: {files}\n{self.log()[-800:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(2)  # a phone with a call ringing ignores SIGTERM: then SIGKILL
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
