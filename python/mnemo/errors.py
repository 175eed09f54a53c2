"""Exceptions: every failing mnemo call raises one, carrying the library's own message."""

# mn_status values of include/mnemo.h
OK, E_ARG, E_INPUT, E_IO, E_NOMEM, E_NUMERIC, E_STATE, E_STOPPED = range(8)


class Error(Exception):
    """A mnemo call failed; str(e) is mnemo's message (mn_last_error), e.status its
    mn_status number. The subclasses below say which kind of failure it was, and also
    derive from the matching built-in exception (ValueError, OSError, ...)."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class ArgumentError(Error, ValueError):
    """An impossible option, shape or argument (MN_E_ARG): the caller's mistake."""
    status = E_ARG


class InputError(Error, ValueError):
    """Malformed or unreadable data or file (MN_E_INPUT): a NaN input, a label or length
    out of range, a file that is not a mnemo model."""
    status = E_INPUT


class FileError(Error, OSError):
    """A write or system call failed (MN_E_IO)."""
    status = E_IO


class OutOfMemoryError(Error, MemoryError):
    """The library could not allocate what the call needs (MN_E_NOMEM)."""
    status = E_NOMEM


class NumericError(Error, ArithmeticError):
    """NaN or Inf appeared in training, step after step (MN_E_NUMERIC)."""
    status = E_NUMERIC


class StateError(Error, RuntimeError):
    """A call made in the wrong order, or on something that does not have what it asks
    for (MN_E_STATE)."""
    status = E_STATE


class StoppedError(Error):
    """A stop flag ended the call (MN_E_STOPPED)."""
    status = E_STOPPED


class MirrorError(Error, ImportError):
    """The binding's copy of a C struct has another size than the loaded library's
    (mn_sizeof): the library was built from another version of mnemo.h."""


_BY_STATUS = {c.status: c for c in (ArgumentError, InputError, FileError, OutOfMemoryError,
                                    NumericError, StateError, StoppedError)}


def error_for(status, message):
    """The exception for a non-OK mn_status, carrying message."""
    cls = _BY_STATUS.get(status, Error)
    return cls(message or "mnemo failed with status %d and no message" % status, status)
