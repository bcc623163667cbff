"""Pytest fixtures that start real RTSP servers on 127.0.0.1 and stop them by PID."""

from __future__ import annotations
