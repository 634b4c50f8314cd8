"""DaVinci Resolve bridge for a frameloom server (pure Python: runs in Resolve's own Python).

    import frameloom_resolve
    results = frameloom_resolve.stylize_items(resolve, settings={
        "server": "127.0.0.1:50051", "style": "filter:cartoon", "placement": "track",
        "output_dir": "/Volumes/Projects/renders/frameloom"})

``items=None`` stylizes the selected timeline items (Resolve 21+) or the video item under the
playhead. Each :class:`ItemResult` says where the result was placed, the media written and the
job id, or what went wrong. The Workspace > Scripts panel (:mod:`frameloom_resolve.panel`) calls
the same code.
"""
from .connect import connect, load_fusionscript, resolve_from_globals
from .errors import BridgeError, PlacementFailed, ResolveUnavailable
from .job import (
                  BRIDGE_SETTINGS,
                  CancelToken,
                  ItemProgress,
                  ItemResult,
                  Session,
                  stylize_items,
)

__version__ = "0.2.0"

__all__ = ["BRIDGE_SETTINGS", "BridgeError", "CancelToken", "ItemProgress", "ItemResult",
           "PlacementFailed", "ResolveUnavailable", "Session", "connect", "load_fusionscript",
           "resolve_from_globals", "stylize_items"]
