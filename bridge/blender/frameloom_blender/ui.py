"""Sequencer > Sidebar > Frameloom."""
from __future__ import annotations

import bpy

from . import props


class FRAMELOOM_PT_panel(bpy.types.Panel):
    bl_label = "Frameloom"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Frameloom"

    def draw(self, context):
        layout = self.layout
        s = context.scene.frameloom
        offer = context.window_manager.frameloom_offer

        box = layout.box()
        row = box.row(align=True)
        row.prop(s, "server")
        row.operator("frameloom.refresh", text="", icon="FILE_REFRESH")
        box.prop(s, "token_file")
        row = box.row()
        row.prop(s, "tls")
        if s.tls:
            row.prop(s, "tls_ca", text="")

        box = layout.box()
        box.prop_search(s, "style", offer, "styles")
        offered = {o.name: o for o in props.offered_params(context.window_manager, s.style)}
        col = box.column(align=True)
        for i, p in enumerate(s.params):
            row = col.row(align=True)
            row.prop(p, "name", text="")
            row.prop(p, "value", text="")
            row.operator("frameloom.edit_params", text="", icon="X").index = i
            o = offered.get(p.name)
            if o is not None:
                col.label(text=f"{o.description} ({o.low:g} to {o.high:g})")
        row = col.row(align=True)
        if offered:
            row.operator("frameloom.style_params", text="Style's Parameters", icon="PRESET")
        row.operator("frameloom.edit_params", text="Add", icon="ADD").index = -1
        if s.style == "diffusion":
            box.prop_search(s, "model", offer, "models")
            box.prop(s, "prompt")
            box.prop(s, "negative_prompt")
            col = box.column(align=True)
            for i, p in enumerate(s.prompts):
                row = col.row(align=True)
                row.prop(p, "frame", text="")
                row.prop(p, "text", text="")
                row.operator("frameloom.edit_prompts", text="", icon="X").index = i
            col.operator("frameloom.edit_prompts", text="Prompt From Here", icon="ADD").index = -1
            col = box.column(align=True)
            for name in ("strength", "guidance", "steps", "seed"):
                col.prop(s, name)
            col = box.column(align=True)
            for i, c in enumerate(s.controlnets):
                row = col.row(align=True)
                row.prop(c, "kind", text="")
                row.prop_search(c, "model", offer, "controlnets", text="")
                row.prop(c, "scale", text="")
                row.operator("frameloom.edit_controlnets", text="", icon="X").index = i
            col.operator("frameloom.edit_controlnets", text="Add ControlNet", icon="ADD").index = -1

        box = layout.box()
        row = box.row()
        row.prop(s, "temporal_mode")
        if s.temporal_mode != "none":
            row.prop(s, "window")

        if s.running:
            layout.prop(s, "progress", text=s.status or "working")
            layout.operator("frameloom.cancel", icon="CANCEL")
        else:
            layout.operator("frameloom.stylize", icon="SHADERFX")
            if s.status:
                layout.label(text=s.status)


def register():
    bpy.utils.register_class(FRAMELOOM_PT_panel)


def unregister():
    bpy.utils.unregister_class(FRAMELOOM_PT_panel)
