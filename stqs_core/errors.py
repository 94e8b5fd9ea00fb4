"""One error family for bad input, and the shared argument checks (as MNE's ``_check_option``/``_validate_type``).

Every error a user can cause with a file, a path or an argument is a :class:`StqsError` (a ``ValueError``), whose
message says what is wrong and what to do. The CLI prints these as one line; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class StqsError(ValueError):
    """Bad input: a file, path, option or value STQS cannot use. The message says what to do next."""


class RecordingError(StqsError):
    """A PSG recording cannot be read or is unusable (corrupt or truncated header, too short, bad rate)."""


class ChannelError(StqsError):
    """The recording lacks channels a role needs; the message lists what it has and which presets fit."""


class HypnogramError(StqsError):
    """A hypnogram or annotation file cannot be read, or does not fit its recording."""


class ModelError(StqsError):
    """A model name, file or checkpoint cannot be used (unknown name, malformed weights, download failed)."""


class StoreError(StqsError):
    """An HDF5 epoch store cannot be read or appended to."""


class TrainingError(StqsError):
    """Training cannot go on: its loss or its model's scores became NaN or inf (the message names where)."""


class OutputError(StqsError):
    """An output path cannot be written (it is an input, its folder is missing or not writable)."""


def check_option(name: str, value: Any, allowed: Iterable[Any], error: type[StqsError] = StqsError) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``error`` naming the allowed values.

    Parameters
    ----------
    name : str
        What the value is, for the message (an argument or option name).
    value : object
        The value to check.
    allowed : iterable
        The values accepted.
    error : type of StqsError
        The error class raised.

    Returns
    -------
    object
        ``value``, unchanged.

    Examples
    --------
    >>> from stqs_core.errors import check_option
    >>> check_option("variant", "cnn", ("cnn", "cnnlstm"))
    'cnn'
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise error(f"invalid {name} {value!r}; use one of: {', '.join(repr(a) for a in allowed)}")
    return value


def check_type(name: str, value: Any, types: type | tuple[type, ...], error: type[StqsError] = StqsError) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise ``error`` naming the expected type.

    Parameters
    ----------
    name : str
        What the value is, for the message.
    value : object
        The value to check.
    types : type or tuple of type
        The types accepted (as for :func:`isinstance`).
    error : type of StqsError
        The error class raised.

    Returns
    -------
    object
        ``value``, unchanged.
    """
    if not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise error(f"{name} must be {expected}, got {type(value).__name__} {value!r:.60}")
    return value


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, error: type[StqsError] = StqsError
) -> float:
    """Return ``value`` if it is a finite number within ``[low, high]``, else raise ``error``.

    Parameters
    ----------
    name : str
        What the value is, for the message.
    value : float
        The value to check (anything :class:`float` accepts).
    low, high : float or None
        The inclusive bounds; None for no bound on that side.
    error : type of StqsError
        The error class raised.

    Returns
    -------
    float
        ``value`` as a float.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{name} must be a number, got {value!r:.60}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise error(f"{name} must be a finite number, got {value!r:.60}")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise error(f"{name} = {number:g} is outside {bounds}")
    return number
