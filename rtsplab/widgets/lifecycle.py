"""Keep track of the running live views so that nothing outlives its notebook cell.

Every :class:`~rtsplab.widgets.LiveView` and :class:`~rtsplab.widgets.Playground` registers
here while it runs. :func:`stop_all` stops them all. In an IPython kernel, an interrupt
(the ■ button, or ``Kernel > Interrupt``) stops them too: a cell that ends with
``KeyboardInterrupt`` triggers :func:`stop_all`, and so does an interrupt while no cell runs
(the kernel ignores that one otherwise).

Example:
    >>> class Thing:
    ...     stopped = False
    ...     def stop(self) -> None:
    ...         self.stopped = True
    >>> t = Thing(); register(t); stop_all(); t.stopped
    True
"""

from __future__ import annotations

import logging
import signal
import threading
import weakref
from typing import Any, Protocol

__all__ = ["after_cell", "install_interrupt_hook", "on_interrupt", "register", "stop_all"]

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

    Example:
        >>> class Result:
        ...     error_in_exec = KeyboardInterrupt()
        >>> after_cell(Result())
    """
    if isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt):
        stop_all()


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
