"""Errors a person can act on, shared by the client, the bridges and the engine.

A :class:`UserError` is the user's to fix (a wrong path, a bad setting, a corrupt file). Command
lines print it as one line; the server answers it with the gRPC status named by ``code``.
"""
from __future__ import annotations


class UserError(Exception):
    """A mistake in a request or its input; ``code`` names the gRPC status it maps onto."""

    code = "INVALID_ARGUMENT"


class InputNotFound(UserError):
    code = "NOT_FOUND"
