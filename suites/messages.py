"""What a person reads in a failure: values as the product shows them, errors without Python's
object reprs, and the lint the self-tests run over every message a mutation run produced.

>>> number(7.0), number("7.000000"), number(0.5), number(None)
('7', '7', '0.5', 'unset')
>>> error_text(OSError("<urllib3.connection.HTTPConnection object at 0x7f3a>: Failed to establish a new connection"))
'Failed to establish a new connection'
>>> defects("only 0 of 3 members are healthy on 6443: ")
['an empty list']
>>> defects("expire_logs_days is 7.0 (expected 30)")
['an integer shown as a float']
>>> defects("db-write was down 4.0 s (bound 30 s)")
[]
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_REPR = re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-f]+>:?\s*")


def number(value: object) -> str:
    """A server's numeric setting as a person writes it: ``7`` for 7.0 or "7.000000" (MariaDB
    10.6+ keeps expire_logs_days as a DOUBLE), the value itself otherwise; "unset" for None."""
    if value is None:
        return "unset"
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if d.is_finite() and d == d.to_integral_value():
        return str(int(d))
    return str(value)


def error_text(exc: BaseException) -> str:
    """An exception's message without the object reprs libraries put in it (urllib3's
    ``<...HTTPConnection object at 0x...>: Failed to establish ...``), the innermost cause's
    words where the outer one only wraps it (``MaxRetryError ... (Caused by ...)``)."""
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        text = str(reason)
    return _REPR.sub("", text).strip() or type(exc).__name__


# (pattern, what is wrong): a message holding one of these reads badly.
_DEFECTS = (
    (_REPR, "an object's repr"),
    (re.compile(r"object at 0x[0-9a-f]+"), "an object's repr"),
    (re.compile(r":\s*(?:;|$)|\[\]"), "an empty list"),
    (re.compile(r"\b(?:is|=|of|to)\s+-?\d+\.0\b(?!\d|\.\d|\s*s\b)"), "an integer shown as a float"),
)


def defects(message: str) -> list[str]:
    """What is wrong with a failure message as a person reads it (empty: nothing)."""
    found: list[str] = []
    for pattern, what in _DEFECTS:
        if pattern.search(message) and what not in found:
            found.append(what)
    return found
