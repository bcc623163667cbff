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
        >>> isinstance(ConnectError("x"), RtspLabError)
        True
    """


class OpenTimeout(ConnectError):
    """Opening the stream took longer than ``open_timeout_s``.

    Example:
        >>> isinstance(OpenTimeout("x"), ConnectError)
        True
    """


class ReadTimeout(RtspLabError):
    """No frame arrived within ``read_timeout_s``.

    Example:
        >>> isinstance(ReadTimeout("x"), RtspLabError)
        True
    """


class AuthError(RtspLabError):
    """The server answered 401: wrong or missing credentials.

    Example:
        >>> isinstance(AuthError("x"), RtspLabError)
        True
    """


class NotFound(RtspLabError):
    """The server answered 404: no stream at that path.

    Example:
        >>> isinstance(NotFound("x"), RtspLabError)
        True
    """


class UnsupportedStream(RtspLabError):
    """The stream opened but its codec or transport cannot be decoded.

    Example:
        >>> isinstance(UnsupportedStream("x"), RtspLabError)
        True
    """


class StreamClosed(RtspLabError):
    """The reader was closed, or the stream ended and will not reconnect.

    Example:
        >>> isinstance(StreamClosed("x"), RtspLabError)
        True
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
