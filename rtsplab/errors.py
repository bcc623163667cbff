"""One error hierarchy for everything rtsplab raises.

Every message says what went wrong and what to try, and never contains a password:
URLs are passed through :func:`rtsplab.urls.redact` before they are formatted.

Example:
    >>> from rtsplab.errors import OpenTimeout, RtspLabError
    >>> issubclass(OpenTimeout, RtspLabError)
    True
"""

from __future__ import annotations


class RtspLabError(Exception):
    """Base class of every error rtsplab raises.

    Example:
        >>> try:
        ...     raise NotFound("rtsp://127.0.0.1:8554/nope: 404 Not Found")
        ... except RtspLabError as e:
        ...     print(type(e).__name__)
        NotFound
    """


class ConnectError(RtspLabError):
    """The host refused the connection or could not be reached.

    Example:
        >>> import rtsplab
        >>> rtsplab.open("rtsp://admin:s3cret@127.0.0.1:1/cam", backend="pyav")
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://admin:***@127.0.0.1:1/cam: connection refused; is the server running on that port?
    """


class OpenTimeout(ConnectError):
    """Opening the stream took longer than ``open_timeout_s``.

    Example:
        >>> rtsplab.open("rtsp://10.255.255.1/cam", open_timeout_s=2)  # doctest: +SKIP
        Traceback (most recent call last):
        rtsplab.errors.OpenTimeout: rtsp://10.255.255.1/cam: no answer within open_timeout_s=2 ...
    """


class ReadTimeout(RtspLabError):
    """No frame arrived within ``read_timeout_s``.

    Example:
        >>> from rtsplab.policies import LatestPolicy
        >>> LatestPolicy().take(timeout_s=0.01)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ReadTimeout: no frame within 0.01 s
    """


class AuthError(RtspLabError):
    """The server answered 401: wrong or missing credentials.

    Example:
        >>> rtsplab.open("rtsp://admin:wrong@127.0.0.1:8554/cam1")  # doctest: +SKIP
        Traceback (most recent call last):
        rtsplab.errors.AuthError: rtsp://admin:***@127.0.0.1:8554/cam1: 401 Unauthorized ...
    """


class NotFound(RtspLabError):
    """The server answered 404: no stream at that path.

    Example:
        >>> rtsplab.open("rtsp://127.0.0.1:8554/nope")  # doctest: +SKIP
        Traceback (most recent call last):
        rtsplab.errors.NotFound: rtsp://127.0.0.1:8554/nope: 404 Not Found ...
    """


class UnsupportedStream(RtspLabError):
    """The stream opened but its codec or transport cannot be decoded.

    Example:
        >>> rtsplab.open("rtsp://127.0.0.1:8554/audio-only", backend="native")  # doctest: +SKIP
        Traceback (most recent call last):
        rtsplab.errors.UnsupportedStream: rtsp://127.0.0.1:8554/audio-only: no H.264 video ...
    """


class TransportRefused(UnsupportedStream):
    """The server refuses the RTP transport asked for (RTSP 461), or, from
    ``transport="auto"``, every transport tried (interleaved TCP and UDP).

    Example:
        >>> rtsplab.open("rtsp://127.0.0.1:8554/cam1")  # doctest: +SKIP
        Traceback (most recent call last):
        rtsplab.errors.TransportRefused: rtsp://127.0.0.1:8554/cam1: the server refuses RTP over both TCP and UDP ...
    """


class StreamClosed(RtspLabError):
    """The reader was closed, or the stream ended and will not reconnect.

    Example:
        >>> from rtsplab.policies import LatestPolicy
        >>> policy = LatestPolicy(); policy.close()
        >>> policy.take(timeout_s=1.0)
        Traceback (most recent call last):
        ...
        rtsplab.errors.StreamClosed: the reader is closed
    """


class ProtocolError(RtspLabError, ValueError):
    """A peer sent a malformed RTSP, SDP, RTP or RTCP message.

    Every parser in :mod:`rtsplab.rtsp` raises this, and only this, on malformed input. It
    is also a :class:`ValueError`, as PyAV's ``InvalidDataError`` is.

    Example:
        >>> from rtsplab.rtsp.rtp import RtpPacket
        >>> try:
        ...     RtpPacket.parse(bytes(12))
        ... except ProtocolError as e:
        ...     print(isinstance(e, ValueError), e)
        True RTP version 0, not 2
    """


class CaptureError(RtspLabError, ValueError):
    """A capture file cannot be replayed: not pcap/pcapng, or no whole RTSP session in it.

    The message says what is missing (the DESCRIBE answer, a SETUP, the PLAY, the RTP).

    Example:
        >>> raise CaptureError("cam.pcap: no RTSP exchange in 12 packets")
        Traceback (most recent call last):
        ...
        rtsplab.errors.CaptureError: cam.pcap: no RTSP exchange in 12 packets
    """
