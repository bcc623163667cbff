"""``python -m rtsplab.cli``: the same as the ``rtsplab`` command."""

from __future__ import annotations

import sys

from rtsplab.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
