"""Every docstring example in the package runs and gives what it shows.

Examples that need a live server carry ``# doctest: +SKIP``; everything else is executed.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rtsplab

MODULES = [
    "rtsplab",
    *sorted(m.name for m in pkgutil.walk_packages(rtsplab.__path__, prefix="rtsplab.")),
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
