"""The OS-clock guard behind the ``purity_time`` check of :mod:`policies.checks`.

:func:`clock_guards` replaces the OS clock readers with stand-ins for as long as the
:class:`contextlib.ExitStack` it returns is open (the patches are applied when it is called, and
closing the stack restores the originals):

* ``time.time``, ``time.time_ns``, ``time.monotonic`` and ``time.monotonic_ns``, in the
  :mod:`time` module;
* ``datetime.datetime`` and ``datetime.date``, in the :mod:`datetime` module, by subclasses whose
  ``datetime.now``/``utcnow``/``today`` and ``date.today`` are guarded;
* any of those functions or classes that a module of the policy's class hierarchy imported by
  name (``from time import monotonic``, ``from datetime import date``), in that module.

Only reads made by the policy's own code count: such a read is appended to the caller's
``calls`` list and raises :class:`ClockRead`, while a read made by a library the policy calls
(e.g. scikit-learn timing its own fit) gets the real clock. "Own code" is any module of the
policy's class hierarchy, any module of the ``policies`` package, and code defined in
``__main__`` or a test module.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sys
import time as _time
from collections.abc import Callable, Iterator
from typing import Any


class ClockRead(AssertionError):
    pass


def clock_guards(policy: Any, calls: list[str]) -> contextlib.ExitStack:
    """Patch the OS clock readers (``time.time``/``time_ns``/``monotonic``/``monotonic_ns``,
    ``datetime.datetime.now``/``utcnow``/``today``, ``datetime.date.today``) to record and
    raise, in their modules and wherever the policy's modules imported them by name.

    Only reads made by the policy's own code count: a library the policy calls (e.g.
    scikit-learn timing its own fit for a progress log, which cannot change a decision)
    gets the real clock. "Own code" is any module of the policy's class hierarchy, any
    module of the ``policies`` package, and code defined in ``__main__`` or a test module.
    """
    own = {c.__module__ for c in type(policy).__mro__ if c.__module__ != "builtins"}

    def by_policy() -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__") == __name__:
            frame = frame.f_back
        if frame is None:
            return True
        module = str(frame.f_globals.get("__name__", ""))
        return (
            module in own
            or module.split(".")[0] in ("policies", "__main__")
            or (module.rsplit(".", 1)[-1].startswith("test_"))
        )

    def raiser(name: str, real: Callable[..., Any] | None = None) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            if real is not None and not by_policy():
                return real(*args, **kwargs)
            calls.append(name)
            raise ClockRead(f"{name}() called during decide")

        return read

    clock_names = ("time", "time_ns", "monotonic", "monotonic_ns")
    originals = {getattr(_time, n): raiser(f"time.{n}", getattr(_time, n)) for n in clock_names}
    real_datetime, real_date = _dt.datetime, _dt.date

    class _GuardedDatetime(_dt.datetime):
        now = classmethod(lambda cls, *a, **k: raiser("datetime.now", real_datetime.now)(*a, **k))
        utcnow = classmethod(
            lambda cls, *a, **k: raiser("datetime.utcnow", real_datetime.utcnow)(*a, **k)
        )
        today = classmethod(
            lambda cls, *a, **k: raiser("datetime.today", real_datetime.today)(*a, **k)
        )

    class _GuardedDate(_dt.date):
        today = classmethod(lambda cls, *a, **k: raiser("date.today", real_date.today)(*a, **k))

    stack = contextlib.ExitStack()
    for n in clock_names:
        stack.enter_context(_patched(_time, n, originals[getattr(_time, n)]))
    stack.enter_context(_patched(_dt, "datetime", _GuardedDatetime))
    stack.enter_context(_patched(_dt, "date", _GuardedDate))
    modules = {
        sys.modules.get(c.__module__)
        for c in type(policy).__mro__
        if c.__module__ not in ("builtins", __name__)
    }
    for module in filter(None, modules):
        for attr, value in list(vars(module).items()):
            try:
                replacement = originals.get(value)
            except TypeError:  # unhashable module attribute
                continue
            if value is real_datetime:
                replacement = _GuardedDatetime
            elif value is real_date:
                replacement = _GuardedDate
            if replacement is not None:
                stack.enter_context(_patched(module, attr, replacement))
    return stack


@contextlib.contextmanager
def _patched(target: Any, attr: str, value: Any) -> Iterator[None]:
    old = getattr(target, attr)
    setattr(target, attr, value)
    try:
        yield
    finally:
        setattr(target, attr, old)
