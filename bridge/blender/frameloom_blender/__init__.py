"""frameloom for Blender's Video Sequence Editor: stylize the selected strips in place.

Sequencer > Sidebar > Frameloom. Scripts and farms use the same operation:

    import frameloom_blender                      # its parent folder on sys.path
    frameloom_blender.register()
    scene.frameloom.server = "127.0.0.1:50051"
    scene.frameloom.style = "filter:cartoon"
    results = frameloom_blender.stylize_selected(bpy.context, wait=True)

One source tree: a legacy add-on for Blender 3.x-4.1 (``bl_info``) and a 4.2+ extension
(``blender_manifest.toml``, id ``frameloom``). ``frameloom blender build`` makes both zips.
"""
from __future__ import annotations

bl_info = {
    "name": "frameloom",
    "author": "frameloom",
    "version": (0, 2, 0),
    "blender": (3, 0, 0),
    "location": "Sequencer > Sidebar > Frameloom",
    "description": "Stylize video strips with frameloom (DiffSynth), deflickered",
    "category": "Sequencer",
}

from . import vendor  # noqa: E402

vendor.activate()

_MODULES = ("props", "ops", "ui")


def register():
    import importlib

    for name in _MODULES:
        importlib.import_module(f"{__name__}.{name}").register()


def unregister():
    import importlib

    for name in reversed(_MODULES):
        importlib.import_module(f"{__name__}.{name}").unregister()


def stylize_selected(context, wait: bool = True):
    """Stylize every selected movie/image strip; returns one result per strip (``.strip``: the
    new strip's name, or ``.error``). See :func:`frameloom_blender.run.stylize_selected`."""
    from .run import stylize_selected as run

    return run(context, wait=wait)
