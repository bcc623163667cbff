"""What went over the loopback interface, captured by Wireshark's ``dumpcap``.

The kernel stamps each packet as the interface carries it, whatever the sending and the
reading processes do, so a :class:`WireCapture` is an independent witness of when a server
sent what: :func:`rtsplab.capture_file.load_session` reads its file as it reads any
``tcpdump`` capture (Ethernet framing, TCP reassembled). Capturing needs root or the
``cap_net_raw`` capability on ``dumpcap``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType


class WireCapture:
    """``dumpcap -i lo -f FILTER -w PATH`` for the duration of a ``with`` block.

    Args:
        dumpcap: the ``dumpcap`` executable.
        path: the pcapng file to write.
        capture_filter: a BPF filter, e.g. ``"tcp port 8554"``.
    """

    def __init__(self, dumpcap: str, path: Path, capture_filter: str) -> None:
        self.path = path
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self._mark_port = s.getsockname()[1]
        self._mark_prefix = b"rtsplab-wire-mark-" + os.urandom(8).hex().encode()
        full = f"({capture_filter}) or (udp dst port {self._mark_port})"
        self._cmd = [dumpcap, "-q", "-i", "lo", "-f", full, "-w", str(path)]
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WireCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self._cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # capturing once a marked datagram sent now is in the file (the file's header comes
        # before the capture starts)
        deadline = time.monotonic() + 10
        while not self._written(self._mark(b"start")):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                self.stop()
                raise RuntimeError(f"dumpcap did not start: {err.strip()[-300:]}")
            time.sleep(0.05)
        return self

    def _mark(self, what: bytes) -> bytes:
        """Send a marked datagram that the capture filter takes; return its payload."""
        mark = self._mark_prefix + b"-" + what
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(mark, ("127.0.0.1", self._mark_port))
        return mark

    def _written(self, mark: bytes) -> bool:
        return self.path.exists() and mark in self.path.read_bytes()

    def _drain(self, timeout_s: float = 5.0) -> None:
        """Wait until dumpcap has written a marked datagram sent now: everything the interface
        carried before it is in the file then (dumpcap reads the kernel's buffer in batches,
        and SIGINT would drop the last one)."""
        mark = self._mark(b"end")
        deadline = time.monotonic() + timeout_s
        while not self._written(mark) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop capturing once everything sent so far is written (SIGINT: dumpcap writes its
        last blocks and exits)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            self._drain()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
