"""Runs inside Blender with a real window (under Xvfb): the modal operator as a user starts it.

Installs the legacy zip, puts a trimmed movie strip in a Sequencer area, invokes
``frameloom.stylize`` there (a timer-driven modal operator), and watches it from a
``bpy.app.timers`` callback: the callback keeps running while the job runs only if the operator
never blocks the UI. With ``cancel`` it presses the panel's Cancel once the first frame is back.
Prints one ``GUI_RESULT {json}`` line and quits.
"""
import json
import sys
import time

import bpy

cfg = json.load(open(sys.argv[sys.argv.index("--") + 1]))
bpy.ops.preferences.addon_install(filepath=cfg["zip"], overwrite=True)
bpy.ops.preferences.addon_enable(module="frameloom_blender")
scene = bpy.context.scene
ed = scene.sequence_editor_create()
strips = ed.strips if hasattr(ed, "strips") else ed.sequences
movie = strips.new_movie("shot", cfg["movie"], 2, 10)
movie.frame_offset_start, movie.frame_offset_end = 2, 1
movie.select = True
settings = scene.frameloom
settings.server, settings.style = cfg["server"], cfg["style"]
settings.temporal_mode, settings.window = "window", cfg["window"]
bpy.ops.wm.save_as_mainfile(filepath=cfg["blend"])
log = {"ticks": []}
phase = {"name": "start", "t0": 0.0}


def sequencer():
    win = bpy.context.window_manager.windows[0]
    area = max(win.screen.areas, key=lambda a: a.width * a.height)
    area.type = "SEQUENCE_EDITOR"
    region = next(r for r in area.regions if r.type == "WINDOW")
    return {"window": win, "area": area, "region": region}


def tick():
    where = sequencer()
    if phase["name"] == "start":
        with bpy.context.temp_override(**where):
            log["invoke"] = sorted(bpy.ops.frameloom.stylize("INVOKE_DEFAULT"))
        phase.update(name="running", t0=time.monotonic())
        return 0.05
    if phase["name"] == "running":
        log["ticks"].append([time.monotonic() - phase["t0"], settings.running, settings.progress])
        if cfg["cancel"] and settings.running and settings.progress > 0 and "cancel_at" not in log:
            log["cancel_at"] = settings.progress
            with bpy.context.temp_override(**where):
                bpy.ops.frameloom.cancel()
        if not settings.running or time.monotonic() - phase["t0"] > 120:
            log["strips"] = [[s.name, s.channel, s.frame_final_start, s.frame_final_duration]
                             for s in strips]
            log["status"] = settings.status
            print("GUI_RESULT " + json.dumps(log), flush=True)
            bpy.ops.wm.quit_blender()
            return None
        return 0.05
    return None


bpy.app.timers.register(tick, first_interval=1.0)
