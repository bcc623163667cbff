"""One RTSP media session: subscribes to a camera and sends its RTP/RTCP to one client.

A session owns a transport (interleaved on the RTSP TCP connection, or a UDP port pair)
and, while playing, a sender thread. The sender takes each access unit from the camera,
waits until ``capture + latency_ms + jitter`` (jitter never reorders frames), and sends it as
RTP packets, with an RTCP sender report first and then about every second. With UDP each
packet is dropped with probability ``loss``.

Example:
    >>> from rtsplab.sim.transport import TcpTransport
    >>> sent = []
    >>> s = MediaSession("42", SimCamera("cam1"), TcpTransport(sent.append, (0, 1)), 60.0)
    >>> s.state, s.expired()
    ('ready', False)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import threading
import time
from collections.abc import Callable

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.rtcp import (
    KeyframeRequest,
    ReceiverReport,
    build_bye,
    build_sdes_cname,
    build_sender_report,
    parse_rtcp,
    unix_ns_to_ntp,
)
from rtsplab.rtsp.rtp import OnvifExtension, RtpPacket
from rtsplab.rtsp.timeline import rtp_timestamp
from rtsplab.sim.camera import SimCamera
from rtsplab.sim.malformed import KINDS, malformed_packet
from rtsplab.sim.media import AccessUnit, Subscriber
from rtsplab.sim.transport import Transport

__all__ = ["MediaSession"]

SR_INTERVAL_NS = 1_000_000_000


def _with_onvif(packet: bytes, t_camera_ns: int, keyframe: bool) -> bytes:
    """``packet`` with the ONVIF header extension carrying capture time ``t_camera_ns``."""
    ext = OnvifExtension.at(t_camera_ns, clean_point=keyframe).extension()
    return dataclasses.replace(RtpPacket.parse(packet), extension=ext).pack()


class MediaSession:
    """One client's session on one camera (RTSP states *ready* and *playing*).

    Args:
        session_id: the RTSP ``Session`` id.
        camera: the camera to stream.
        transport: where packets go.
        timeout_s: keep-alive timeout (advertised in the ``Session`` header).
        on_error: called (from the sender thread) when sending fails, e.g. to close the
            RTSP connection.

    Example:
        >>> from rtsplab.sim.transport import TcpTransport
        >>> s = MediaSession("abc", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 60)
        >>> s.state
        'ready'
    """

    def __init__(
        self,
        session_id: str,
        camera: SimCamera,
        transport: Transport,
        timeout_s: float,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.id = session_id
        self.camera = camera
        self.transport = transport
        self.timeout_s = timeout_s
        self.on_error = on_error
        self.state = "ready"
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.next_seq = int.from_bytes(os.urandom(2), "big") & 0x7FFF
        self.packets_sent = 0
        self.receiver_reports = 0
        self.octets_sent = 0
        self.last_seen = time.monotonic()
        self._sub: Subscriber | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._random = random.Random()
        self._next_malformed = 0

    def touch(self) -> None:
        """Record client activity (any request or RTCP packet): keeps the session alive.

        Example:
            >>> from rtsplab.sim.transport import TcpTransport
            >>> MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 1).touch()
        """
        self.last_seen = time.monotonic()

    def on_rtcp(self, data: bytes) -> None:
        """An RTCP packet from the client: it keeps the session alive; receiver reports are
        counted here and on the camera (``receiver_reports``); a keyframe request (PLI or FIR)
        for this session's SSRC goes to :meth:`SimCamera.on_keyframe_request`, which counts it
        (``keyframe_requests``) and makes the next frame an IDR. Malformed ones are ignored.

        Example:
            >>> from rtsplab.rtsp.rtcp import build_pli, build_receiver_report
            >>> from rtsplab.sim.transport import TcpTransport
            >>> s = MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 1)
            >>> s.on_rtcp(build_receiver_report(5)); s.on_rtcp(b"junk"); s.receiver_reports
            1
            >>> s.on_rtcp(build_receiver_report(5) + build_pli(5, s.ssrc)); s.camera.keyframe_requests
            1
        """
        self.touch()
        try:
            packets = parse_rtcp(data)
        except ProtocolError:
            return
        if any(isinstance(p, ReceiverReport) for p in packets):
            self.receiver_reports += 1
            self.camera.receiver_reports += 1
        if any(isinstance(p, KeyframeRequest) and p.targets(self.ssrc) for p in packets):
            self.camera.on_keyframe_request()

    def expired(self) -> bool:
        """True when the client was silent for longer than ``timeout_s``.

        Example:
            >>> from rtsplab.sim.transport import TcpTransport
            >>> MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 60).expired()
            False
        """
        return time.monotonic() - self.last_seen > self.timeout_s

    def play(self, first_frame_timeout_s: float = 0.25) -> tuple[int, int]:
        """Start streaming; return ``(seq, rtptime)`` of the first packet for ``RTP-Info``.

        Waits (up to ``first_frame_timeout_s``) for the first keyframe so ``rtptime`` is exact;
        after that it is estimated from the clock (e.g. while the camera stalls).

        Example:
            >>> from rtsplab.sim.transport import TcpTransport
            >>> MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 1).play(0)  # doctest: +SKIP
        """
        if self.state == "playing":
            return self.next_seq, rtp_timestamp(time.time_ns(), self.camera.rtp_offset)
        self._sub = Subscriber()
        self.camera.subscribe(self._sub)
        first = self._sub.peek(first_frame_timeout_s)
        rtptime = first.rtp_ts if first is not None else self.camera.rtp_now()[1]
        self.state = "playing"
        return self.next_seq, rtptime

    def start_sending(self) -> None:
        """Start the sender thread (call after the PLAY response is on the wire).

        Example:
            >>> from rtsplab.sim.transport import TcpTransport
            >>> MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 1).start_sending()
        """
        if self._sub is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(self._sub,), name=f"rtsplab-sim-send-{self.id}", daemon=True
        )
        self._thread.start()

    def pause(self) -> None:
        """Stop sending; the session stays (state *ready*).

        Example:
            >>> from rtsplab.sim.transport import TcpTransport
            >>> MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 1).pause()
        """
        self._stop.set()
        if self._sub is not None:
            self.camera.unsubscribe(self._sub)
            self._sub = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self._thread = None
        self.state = "ready"

    def close(self, bye: bool = False) -> None:
        """Stop sending and release the transport; with ``bye`` send an RTCP BYE first.

        Example:
            >>> from rtsplab.sim.transport import TcpTransport
            >>> MediaSession("a", SimCamera("c"), TcpTransport(lambda b: None, (0, 1)), 1).close()
        """
        self.pause()
        if bye:
            with contextlib.suppress(OSError):
                self.transport.send_rtcp(build_bye(self.ssrc))
        self.transport.close()
        self.state = "closed"

    def _sender_report(self) -> bytes:
        t_ns = time.time_ns()
        sr = build_sender_report(
            self.ssrc,
            unix_ns_to_ntp(self.camera.clock_ns(t_ns)),  # the camera's clock, maybe off
            rtp_timestamp(t_ns, self.camera.rtp_offset),
            self.packets_sent,
            self.octets_sent,
        )
        return sr + build_sdes_cname(self.ssrc, f"rtsplab-{self.camera.name}")

    def _send_malformed(self, rtp_ts: int) -> None:
        """Send the next kind of malformed packet (they take turns)."""
        kind = KINDS[self._next_malformed % len(KINDS)]
        self._next_malformed += 1
        bad = malformed_packet(kind, self.ssrc, self.next_seq, rtp_ts)
        if bad.rtcp:
            self.transport.send_rtcp(bad.data)
            return
        self.transport.send_rtp([bad.data])
        if bad.takes_seq:
            self.next_seq = (self.next_seq + 1) & 0xFFFF

    def _wait_until(self, due_mono_ns: int) -> bool:
        """Sleep until ``due_mono_ns``; False if stopped meanwhile."""
        delay = (due_mono_ns - time.monotonic_ns()) / 1e9
        return not (delay > 0 and self._stop.wait(delay))

    def _run(self, sub: Subscriber) -> None:
        cam = self.camera
        last_sr = 0
        last_due = 0
        try:
            while not self._stop.is_set():
                au: AccessUnit | None = sub.get(0.25)
                if au is None:
                    continue
                jitter_ms = cam.jitter_ms * self._random.random() if cam.jitter_ms > 0 else 0.0
                due = au.t_capture_mono_ns + int((cam.latency_ms + jitter_ms) * 1e6)
                due = last_due = max(due, last_due)
                if not self._wait_until(due):
                    break
                now = time.monotonic_ns()
                if now - last_sr >= SR_INTERVAL_NS:
                    self.transport.send_rtcp(self._sender_report())
                    last_sr = now
                packets = cam.packetize(au.nals, self.next_seq, au.rtp_ts, self.ssrc)
                if cam.onvif:
                    packets[0] = _with_onvif(packets[0], cam.clock_ns(au.t_capture_ns), au.keyframe)
                self.next_seq = (self.next_seq + len(packets)) & 0xFFFF
                loss = cam.loss if self.transport.lossy else 0.0
                self.transport.send_rtp(packets, loss)
                self.packets_sent += len(packets)
                self.octets_sent += sum(len(p) - 12 for p in packets)
                if cam.malformed > 0 and self._random.random() < cam.malformed:
                    self._send_malformed(au.rtp_ts)
        except OSError:
            if not self._stop.is_set() and self.on_error is not None:
                self.on_error()
