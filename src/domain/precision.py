"""The decimal context the domain's maths runs in, whatever the process's ambient context is.

Python's `decimal` rounds divisions, powers and square roots to the thread's current context,
and libraries may change it: importing vyper sets 78 significant digits for the whole process.
Figures that depend on that are not reproducible (the same backtest gave 28 digits in one
process and 78 in another, and a zero volatility printed as "0E-76"). Functions whose maths
needs a known precision run inside `MATHS_CONTEXT` (28 digits, half-even, the standard traps)
by wearing `@in_maths_context`; reports round their figures at the edge.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from functools import wraps
from typing import ParamSpec, TypeVar

MATHS_PRECISION = 28
MATHS_CONTEXT = Context(
    prec=MATHS_PRECISION,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
"""Python's default context, spelled out so that no library can have changed it."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_maths_context(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `function` in a copy of `MATHS_CONTEXT`, restoring the caller's context after."""

    @wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(MATHS_CONTEXT):
            return function(*args, **kwargs)

    return wrapper
