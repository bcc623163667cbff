"""Wire formats of RTSP cameras, sans-IO: bytes in, typed values out, and back.

Nothing here touches a socket or a clock; every parser raises only
:class:`rtsplab.errors.ProtocolError` on malformed input.

Example:
    >>> from rtsplab.rtsp.h265 import nal_type
    >>> nal_type(bytes([0x40, 0x01]))  # a VPS
    32
"""
