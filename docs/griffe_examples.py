"""A griffe extension for the API reference: rtsplab's docstrings title their doctests
``Example:`` (singular); griffe's Google parser knows ``Examples:``, and would render the
singular one as an admonition of plain text instead of code."""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Read ``Example:`` sections as ``Examples:``, so their doctests render as code."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Retitle the object's example section before its docstring is parsed."""
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
