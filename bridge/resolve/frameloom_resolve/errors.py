"""Errors the Resolve bridge reports to a person: one line that says what to do."""
from __future__ import annotations

from frameloom_client.errors import UserError


class BridgeError(UserError):
    """Something about the timeline, the media or the settings stops a clip; ``str()`` says why."""


class ResolveUnavailable(BridgeError):
    """No Resolve to talk to: not running, external scripting off, or no project/timeline open."""


class PlacementFailed(BridgeError):
    """Resolve did not place the result where it was asked to; the media stays in the bin."""
