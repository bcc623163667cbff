"""An audio track before the video (Opus, as some cameras order their tracks): the video's age
counts what the stream really did.

rtsplab's timecode reading is off; the test reads the time gst-rtsp-server painted into each
picture itself. PyAV (FFmpeg's demuxer) sets up both tracks; each video frame then reaches
it about 60 ms later (the server's pipeline latency includes the audio branch's, it seems:
the wait shrinks with the audio buffer), and PyAV's age, from the sender reports, counts that
wait: true age about 97 ms, against 36 ms without audio.
"""

from __future__ import annotations

from backends.test_bframes import BOUND_MS, errors, measure

from rtsplab.entities import Clock


def test_pyav_age_with_audio_before_the_video(gst_server) -> None:  # type: ignore[no-untyped-def]
    """PyAV's age agrees with the painted age within its bound, the audio's wait included."""
    backend = "pyav"
    srv = gst_server(
        mounts=("cam1",),
        extra_args=("--audio=opus", "--audio-first", "--sr-capture-time"),
    )
    _, ages, true_ages, clocks = measure(srv.url("cam1"), backend)
    error_ms, spread_ms = errors(ages, true_ages)
    print(f"{backend} opus first: error p50 {error_ms:+.1f} ms, spread {spread_ms:.1f} ms")
    assert clocks == {Clock.RTCP}
    assert abs(error_ms) <= BOUND_MS[backend], (error_ms, spread_ms)
