"""Keep track of the running live views so that nothing outlives its notebook cell.

Every :class:`~rtsplab.widgets.LiveView` and :class:`~rtsplab.widgets.Playground` registers
here while it runs. :func:`stop_all` stops them all. In an IPython kernel, an interrupt
(the ■ button, or ``Kernel > Interrupt``) stops them too: a cell that ends with
``KeyboardInterrupt`` triggers :func:`stop_all`, and so does an interrupt while no cell runs
(the kernel ignores that one otherwise).

:func:`pause` is the wait a notebook cell should use while a view runs (``await pause(2)``):
it leaves the kernel free to handle the widgets' clicks while the cell waits.

Example:
    >>> class Thing:
    ...     stopped = False
    ...     def stop(self) -> None:
    ...         self.stopped = True
    >>> t = Thing(); register(t); stop_all(); t.stopped
    True
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "after_cell",
    "install_interrupt_hook",
    "on_interrupt",
    "pause",
    "register",
    "stop_all",
]

log = logging.getLogger(__name__)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_RUNNING: weakref.WeakSet[Any] = weakref.WeakSet()
_LOCK = threading.Lock()
_hooked_shells: weakref.WeakSet[Any] = weakref.WeakSet()


def register(obj: _Stoppable) -> None:
    """Remember ``obj`` (weakly) so :func:`stop_all` and an interrupt stop it.

    Example:
        >>> class T:
        ...     def stop(self) -> None: ...
        >>> t = T(); register(t); unregister(t)
    """
    with _LOCK:
        _RUNNING.add(obj)


def unregister(obj: _Stoppable) -> None:
    """Forget ``obj``; nothing happens if it was not registered.

    Example:
        >>> class T:
        ...     def stop(self) -> None: ...
        >>> unregister(T())
    """
    with _LOCK:
        _RUNNING.discard(obj)


def stop_all() -> None:
    """Stop every registered view of this kernel.

    Example:
        >>> stop_all()
    """
    with _LOCK:
        running = list(_RUNNING)
    for obj in running:
        try:
            obj.stop()
        except Exception as e:  # one view's failure must not keep the others running
            log.warning("stopping %r failed: %s", obj, e)


def after_cell(result: Any) -> None:
    """IPython ``post_run_cell`` callback: a cell interrupted by the user stops every view.

    An interrupt ends a cell with ``KeyboardInterrupt``, or with ``CancelledError`` when the
    cell was awaiting (ipykernel cancels an awaiting cell instead).

    Example:
        >>> class Result:
        ...     error_in_exec = KeyboardInterrupt()
        >>> after_cell(Result())
    """
    if isinstance(
        getattr(result, "error_in_exec", None), KeyboardInterrupt | asyncio.CancelledError
    ):
        stop_all()


async def pause(
    seconds: float, until: Callable[[], bool] | None = None, step_s: float = 0.05
) -> bool:
    """Wait ``seconds`` without holding the kernel: ``await pause(2)`` in a notebook cell.

    ``time.sleep`` in a cell holds the kernel, so a click on a widget (Stop, the strategy
    dropdown) waits in the kernel's queue until the cell ends. A cell that awaits this instead
    leaves the kernel's event loop running, and ipykernel 7.4 and later handle the widgets'
    messages while an awaiting cell waits ("Allow async cell to process Comm messages"): a
    click takes effect at once, during Run All too. An older kernel (ipykernel 7.4 needs
    Python 3.11) handles the click when the cell ends, as with ``time.sleep``. Outside a
    kernel it is an asyncio sleep: ``asyncio.run(pause(1))``.

    Args:
        seconds: how long to wait.
        until: checked every ``step_s``; the wait ends early once it returns True (a view
            that was stopped, say).
        step_s: how often ``until`` is checked.

    Returns:
        True when the whole time passed, False when ``until`` ended it early.

    Raises:
        asyncio.CancelledError: the kernel was interrupted (■) while the cell waited (which
            stops every view: see :func:`after_cell`).

    Example:
        >>> asyncio.run(pause(0.01))
        True
        >>> asyncio.run(pause(60, until=lambda: True))  # returns at once
        False
    """
    deadline = time.monotonic() + seconds
    while until is None or not until():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(step_s, left))
    return False


def on_interrupt(signum: int, frame: Any) -> None:
    """SIGINT handler for an idle kernel: stop every view, in a thread (never block here).

    Example:
        >>> on_interrupt(signal.SIGINT, None)
    """
    threading.Thread(target=stop_all, name="rtsplab-stop-all", daemon=True).start()


def install_interrupt_hook() -> bool:
    """In an IPython kernel, make an interrupt stop every view; True if installed.

    Idempotent. Outside IPython it does nothing and returns False.

    Example:
        >>> install_interrupt_hook()  # a plain Python session: nothing to hook
        False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    if shell not in _hooked_shells:
        shell.events.register("post_run_cell", after_cell)
        _hooked_shells.add(shell)
    # ipykernel ignores SIGINT between requests and restores its saved handler after each
    # one; making ours the saved handler lets an interrupt of an idle kernel reach us.
    kernel = getattr(shell, "kernel", None)
    saved = getattr(kernel, "saved_sigint_handler", on_interrupt)
    if kernel is not None and saved in (signal.SIG_IGN, None):
        kernel.saved_sigint_handler = on_interrupt
    return True
