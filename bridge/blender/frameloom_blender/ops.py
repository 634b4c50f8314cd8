"""Operators: stylize (modal, cancellable), cancel, refresh the server's offer, list editing."""
from __future__ import annotations

import bpy

from . import props
from .job import connect
from .run import StylizeRun

_ACTIVE: dict[str, StylizeRun] = {}     # scene name -> the run its modal operator drives


class FRAMELOOM_OT_stylize(bpy.types.Operator):
    """Stylize the selected movie and image strips on the frameloom server (Esc cancels)"""
    bl_idname = "frameloom.stylize"
    bl_label = "Stylize Selected Strips"
    bl_options = {"REGISTER"}

    _timer = None
    _run: StylizeRun | None = None

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.scene.frameloom.running

    def execute(self, context):
        # Background mode or a script: timers never tick, so run to the end here.
        from .run import stylize_selected

        results = stylize_selected(context, wait=True)
        return self._report(results)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self._run = StylizeRun(context.scene)
        _ACTIVE[context.scene.name] = self._run
        context.scene.frameloom.running = True
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        run = self._run
        if event.type == "ESC":
            run.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        run.tick()
        s = context.scene.frameloom
        context.workspace.status_text_set(f"frameloom: {s.status}  (Esc to cancel)")
        for area in context.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()
        if not run.done:
            return {"RUNNING_MODAL"}
        self._end(context)
        return self._report(run.results)

    def cancel(self, context):      # Blender closes the window or file mid-run
        if self._run is not None:
            self._run.cancel()
            self._end(context)

    def _end(self, context):
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        self._run.close()
        _ACTIVE.pop(context.scene.name, None)
        s = context.scene.frameloom
        s.running, s.progress = False, 0.0
        s.status = "; ".join(str(r) for r in self._run.results)

    def _report(self, results):
        errors = [r for r in results if not r.ok]
        for r in errors:
            self.report({"ERROR"}, f"frameloom: {r}")
        made = [r for r in results if r.ok]
        if made:
            self.report({"INFO"}, "frameloom: made " + ", ".join(r.strip for r in made))
        return {"FINISHED"} if made or not errors else {"CANCELLED"}


class FRAMELOOM_OT_cancel(bpy.types.Operator):
    """Cancel the running stylize (the server's job is cancelled too)"""
    bl_idname = "frameloom.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        run = _ACTIVE.get(context.scene.name)
        if run is not None:
            run.cancel()
        return {"FINISHED"}


class FRAMELOOM_OT_refresh(bpy.types.Operator):
    """Read the styles, models and ControlNets the server offers"""
    bl_idname = "frameloom.refresh"
    bl_label = "Connect"

    def execute(self, context):
        s = context.scene.frameloom
        try:
            client, caps = connect(s.server, bpy.path.abspath(s.token_file), s.tls,
                                   bpy.path.abspath(s.tls_ca))
        except ValueError as exc:
            self.report({"ERROR"}, f"frameloom: {exc}")
            return {"CANCELLED"}
        client.close()
        props.set_offer(context.window_manager, s.server, caps)
        self.report({"INFO"}, f"frameloom: {len(caps.styles)} styles, {len(caps.models)} models "
                              f"on {s.server}")
        return {"FINISHED"}


class FRAMELOOM_OT_style_params(bpy.types.Operator):
    """Set the parameters to the ones the style takes, at their defaults (Connect first)"""
    bl_idname = "frameloom.style_params"
    bl_label = "Style's Parameters"
    bl_options = {"REGISTER", "UNDO"}

    name: bpy.props.StringProperty(default="", description="only this parameter (empty: all)")

    def execute(self, context):
        s = context.scene.frameloom
        offered = props.offered_params(context.window_manager, s.style.strip())
        if not offered:
            self.report({"WARNING"}, f"frameloom: the server lists no parameters for {s.style}")
            return {"CANCELLED"}
        if not self.name:
            s.params.clear()
        have = {p.name for p in s.params}
        for o in offered:
            if o.name not in have and (not self.name or o.name == self.name):
                item = s.params.add()
                item.name, item.value = o.name, o.default
        return {"FINISHED"}


class _ListEdit(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}
    collection = ""
    index: bpy.props.IntProperty(default=-1)

    def execute(self, context):
        coll = getattr(context.scene.frameloom, self.collection)
        if self.index < 0:
            item = coll.add()
            if self.collection == "prompts":
                item.frame = context.scene.frame_current
        elif self.index < len(coll):
            coll.remove(self.index)
        return {"FINISHED"}


def _list_op(name: str, label: str):
    return type(f"FRAMELOOM_OT_edit_{name}", (_ListEdit,),
                {"bl_idname": f"frameloom.edit_{name}", "bl_label": label, "collection": name,
                 "__annotations__": {"index": bpy.props.IntProperty(default=-1)}})


CLASSES = (FRAMELOOM_OT_stylize, FRAMELOOM_OT_cancel, FRAMELOOM_OT_refresh, FRAMELOOM_OT_style_params,
           _list_op("params", "Add/Remove Parameter"), _list_op("controlnets", "Add/Remove ControlNet"),
           _list_op("prompts", "Add/Remove Prompt"))


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
