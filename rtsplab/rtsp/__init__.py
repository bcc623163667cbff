"""RTSP, SDP, RTP and RTCP wire formats, sans-IO: no sockets, no threads, no clock reads.

The simulator (:mod:`rtsplab.sim`) and the native client (:mod:`rtsplab.backends.native`)
both build on these modules; they only add I/O. Every parser raises
:class:`~rtsplab.errors.ProtocolError`, and nothing else, on malformed input.

- :mod:`~rtsplab.rtsp.messages`: requests, responses, ``Session``, ``$``-interleaved frames
- :mod:`~rtsplab.rtsp.sdp`: session descriptions and control URLs
- :mod:`~rtsplab.rtsp.auth`: Basic and Digest (MD5, SHA-256), client and server side
- :mod:`~rtsplab.rtsp.session`: the client's RTSP session as a state machine (bytes and time
  in, bytes and events out)
- :mod:`~rtsplab.rtsp.transport`: the ``Transport`` header
- :mod:`~rtsplab.rtsp.rtp`, :mod:`~rtsplab.rtsp.rtcp`: packets
- :mod:`~rtsplab.rtsp.h264`, :mod:`~rtsplab.rtsp.h265`: packetizers and depacketizers
- :mod:`~rtsplab.rtsp.assembler`: access units completed on the marker bit
- :mod:`~rtsplab.rtsp.reorder`: packets back in sequence order, with a bounded wait for a lost one
- :mod:`~rtsplab.rtsp.receiver`: one stream's packet path, losses counted, receiver reports
- :mod:`~rtsplab.rtsp.timeline`: timestamp unwrap and the sender-report wall clock

Example:
    >>> from rtsplab.rtsp.messages import parse_session
    >>> parse_session("A1B2;timeout=30").keepalive_s
    15.0
"""
