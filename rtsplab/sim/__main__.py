"""``python -m rtsplab.sim --child``: the child process of ``SimServer(process=True)``.

To serve simulated cameras from a shell, run ``rtsplab sim``.
"""

from __future__ import annotations

import sys

from rtsplab.sim.child import main

if __name__ == "__main__":
    sys.exit(main())
