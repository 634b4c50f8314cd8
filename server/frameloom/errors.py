"""Errors a person can act on.

Anything raised as :class:`UserError` is the user's to fix (a wrong path, a bad option, a corrupt
file). The CLI prints it as one line and exits non-zero; the gRPC service maps ``code`` onto the
matching status. Everything else is a bug and keeps its traceback.
"""
from __future__ import annotations

# The base classes live in the client package: the job-spec code that raises them runs in the
# bridges too, and one class hierarchy means one `except` everywhere.
from frameloom_client.errors import InputNotFound, UserError

__all__ = ["Cancelled", "InputNotFound", "LimitExceeded", "MediaError", "OutputError",
           "PermissionDenied", "UserError"]


class MediaError(UserError):
    """Unreadable, corrupt or truncated media."""

    code = "INVALID_ARGUMENT"


class OutputError(UserError):
    """The output cannot be written (unwritable folder, same path as the input, ...)."""

    code = "FAILED_PRECONDITION"


class PermissionDenied(UserError):
    code = "PERMISSION_DENIED"


class LimitExceeded(UserError):
    code = "RESOURCE_EXHAUSTED"


class Cancelled(Exception):
    """The job was cancelled; finished frames are kept."""
