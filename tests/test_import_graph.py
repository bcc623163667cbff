"""Dependencies point one way: the data path never imports the simulator, cv2 or PyAV at import.

``rtsp`` imports nothing of rtsplab but ``errors``; no data-path module imports ``rtsplab.sim``
(not even lazily, inside a function); ``import rtsplab`` loads neither the simulator nor the
decoders.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rtsplab"
DATA_PATH = [
    *sorted((PACKAGE / "rtsp").glob("*.py")),
    *sorted((PACKAGE / "backends").glob("*.py")),
    *[
        PACKAGE / f"{name}.py"
        for name in (
            "readers",
            "policies",
            "group",
            "sync",
            "recorder",
            "entities",
            "errors",
            "urls",
            "timecode",
            "source_clock",
        )
    ],
]


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module ``path`` imports, at top level or inside functions, absolute names."""
    if package is None:
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


@pytest.mark.parametrize("path", DATA_PATH, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_data_path_does_not_import_the_simulator(path: Path) -> None:
    sim = sorted(
        m for m in imported_modules(path) if m == "rtsplab.sim" or m.startswith("rtsplab.sim.")
    )
    assert not sim, f"{path.name} imports {sim}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "rtsp").glob("*.py")), ids=lambda p: p.name)
def test_rtsp_imports_only_errors_of_rtsplab(path: Path) -> None:
    ours = {m for m in imported_modules(path) if m.split(".")[0] == "rtsplab"}
    allowed = {m for m in ours if m.startswith(("rtsplab.errors", "rtsplab.rtsp"))}
    assert ours == allowed, f"{path.name} imports {sorted(ours - allowed)}"
    assert not {"socket", "threading", "select", "asyncio"} & imported_modules(path), "sans-IO"


def test_import_rtsplab_loads_neither_the_simulator_nor_decoders() -> None:
    code = (
        "import rtsplab, sys; print([m for m in ('rtsplab.sim', 'cv2', 'av') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        cwd=PACKAGE.parent,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_the_scan_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from ..sim import SimServer\n    import rtsplab.sim.camera\n")
    found = imported_modules(fake, "rtsplab.backends")
    assert {"rtsplab.sim.SimServer", "rtsplab.sim.camera"} <= found
