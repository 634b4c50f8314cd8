"""Runs inside Blender (``blender -b --python session.py -- CONFIG`` or a bpy venv's Python):
installs the add-on the way a user does, builds a scene with a trimmed movie strip, runs the
steps of CONFIG (JSON) through the add-on's public scripting surface, and prints one
``FRAMELOOM_RESULT {json}`` line that the tests read. Nothing here imports frameloom's engine."""
import json
import os
import sys
import time

import bpy

cfg = json.load(open(sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else sys.argv[1]))
out = {"blender": list(bpy.app.version), "python": list(sys.version_info[:2]), "steps": []}


def install():
    how = cfg["install"]
    if how == "extension":
        bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default",
                                                 enable_on_install=True)
        return sys.modules["bl_ext.user_default.frameloom"]
    if how == "legacy":
        bpy.ops.preferences.addon_install(filepath=cfg["zip"], overwrite=True)
        bpy.ops.preferences.addon_enable(module="frameloom_blender")
        return sys.modules["frameloom_blender"]
    sys.path.insert(0, cfg["source"])          # scripting: the package's parent on sys.path
    import frameloom_blender
    frameloom_blender.register()
    return frameloom_blender


def strips(scene):
    ed = scene.sequence_editor
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def describe(scene):
    rows = []
    for s in strips(scene):
        row = {"name": s.name, "type": s.type, "channel": s.channel,
               "start": s.frame_final_start, "length": s.frame_final_duration,
               "select": bool(s.select), "source": s.get("frameloom_source"),
               "spec": s.get("frameloom_spec")}
        if s.type == "IMAGE":
            row["directory"] = bpy.path.abspath(s.directory)
            row["files"] = [e.filename for e in s.elements]
        rows.append(row)
    return sorted(rows, key=lambda r: (r["channel"], r["start"]))


def build_scene():
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.sequence_editor_create()
    coll = strips(scene)
    sc = cfg["scene"]
    movie = coll.new_movie("shot", sc["movie"], sc["channel"], sc["frame_start"])
    movie.animation_offset_start = sc.get("hard_trim", 0)     # cut from the content itself
    movie.frame_offset_start, movie.frame_offset_end = sc["trim_start"], sc["trim_end"]
    # A colour strip right above the shot: the result must go to the next free channel.
    if sc.get("blocker"):
        start = movie.frame_final_start + 1
        if bpy.app.version >= (5, 0, 0):
            blocker = coll.new_effect("blocker", "COLOR", sc["channel"] + 1, frame_start=start,
                                      length=2)
        else:
            blocker = coll.new_effect("blocker", "COLOR", sc["channel"] + 1, frame_start=start,
                                      frame_end=start + 2)
        blocker.select = False
    for s in coll:
        s.select = s == movie
    scene.frame_start, scene.frame_end = 1, 60
    scene.view_settings.view_transform = sc.get("view_transform", scene.view_settings.view_transform)
    bpy.ops.wm.save_as_mainfile(filepath=sc["blend"])
    return scene, movie


def animate(scene, keys, compat):
    """keys: {data path on scene.frameloom: [[timeline frame, value, interpolation], ...]}"""
    s = scene.frameloom
    for path, points in keys.items():
        for frame, value, _ in points:
            target, attr = s, path
            if "." in path:
                head, attr = path.rsplit(".", 1)
                target = s.path_resolve(head)
            setattr(target, attr, value)
            target.keyframe_insert(attr, frame=frame)
    interpolation = {"frameloom." + path: pts[0][2] for path, pts in keys.items()}
    for fc in compat.scene_fcurves(scene):
        for p in fc.keyframe_points:
            p.interpolation = interpolation.get(fc.data_path, "BEZIER")


addon = install()
scene, movie = build_scene()
settings = scene.frameloom
for key, value in cfg.get("settings", {}).items():
    setattr(settings, key, value)
for frame, text in cfg.get("prompts", []):
    item = settings.prompts.add()
    item.frame, item.text = frame, text
for frame, name in cfg.get("markers", []):
    scene.timeline_markers.new(name, frame=frame)
for name, value in cfg.get("params", {}).items():
    p = settings.params.add()
    p.name, p.value = name, value
compat = sys.modules[addon.__name__ + ".compat"]
if cfg.get("keys"):
    animate(scene, cfg["keys"], compat)
    out["fcurves"] = {fc.data_path: [fc.evaluate(f) for f in range(0, 40)]
                      for fc in compat.scene_fcurves(scene)}

for step in cfg["steps"]:
    record = {"op": step["op"]}
    t0 = time.perf_counter()
    if step["op"] == "stylize":
        results = addon.stylize_selected(bpy.context, wait=True)
        record["results"] = [{"source": r.source, "strip": r.strip, "error": r.error,
                              "job_id": r.job_id, "cached": r.cached} for r in results]
    elif step["op"] == "cancel":
        run = addon.stylize_selected(bpy.context, wait=False)
        cancelled_at = None
        deadline = time.monotonic() + 120
        while not run.done and time.monotonic() < deadline:
            run.tick()
            job = run._job
            if cancelled_at is None and job is not None and job.snapshot().done >= step["after"]:
                cancelled_at = job.snapshot().done
                run.cancel()
            time.sleep(0.01)
        run.close()
        record["cancelled_at"] = cancelled_at
        record["results"] = [{"source": r.source, "strip": r.strip, "error": r.error,
                              "job_id": r.job_id} for r in run.results]
        record["leftovers"] = [d for d in os.listdir(os.path.join(os.path.dirname(
            cfg["scene"]["blend"]), "frameloom"))] if os.path.isdir(os.path.join(
                os.path.dirname(cfg["scene"]["blend"]), "frameloom")) else []
    elif step["op"] == "trim":
        movie.frame_offset_start, movie.frame_offset_end = step["start"], step["end"]
    elif step["op"] == "read_only":
        # The add-on's own frame reading alone (sequencer render + load), for the benchmark.
        import tempfile
        reader = sys.modules[addon.__name__ + ".reader"]
        with tempfile.TemporaryDirectory() as folder:
            frames = reader.read_strip(scene, movie, folder, False)
            record["frames"] = len(frames)
    elif step["op"] == "add_missing":
        # A movie strip whose file disappears after it was added (moved, unmounted).
        import shutil
        shutil.copy(cfg["scene"]["movie"], step["path"])
        gone = strips(scene).new_movie("gone", step["path"], 7, movie.frame_final_start)
        os.remove(step["path"])
        for s in strips(scene):
            s.select = s == gone
    elif step["op"] == "offer":
        # The panel's Connect, then "Style's Parameters": what the server says the style takes.
        record["refresh"] = sorted(bpy.ops.frameloom.refresh())
        record["style_params"] = sorted(bpy.ops.frameloom.style_params())
        record["params"] = [[p.name, round(p.value, 4)] for p in settings.params]
        wm = bpy.context.window_manager
        record["offer"] = {"styles": [x.name for x in wm.frameloom_offer.styles],
                           "params": [[p.style, p.name, p.low, p.high] for p in
                                      wm.frameloom_offer.params if p.style == settings.style]}
    elif step["op"] == "select":
        for s in strips(scene):
            s.select = s.name in step["names"]
    elif step["op"] == "set":
        setattr(settings, step["key"], step["value"])
    elif step["op"] == "render_source":
        # The test's own sequencer render of a strip's visible range (Standard view, no dither):
        # the frames the add-on should have sent, written for `frameloom stylize` to read.
        target = strips(scene)[step.get("strip", "shot")]
        r = scene.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = 160, 96, 100
        r.dither_intensity = 0.0
        scene.view_settings.view_transform = "Standard"
        r.image_settings.file_format, r.image_settings.color_mode = "PNG", "RGB"
        r.image_settings.color_depth = step.get("depth", "8")
        r.filepath = os.path.join(step["folder"], "f_######")
        scene.frame_start = target.frame_final_start
        scene.frame_end = target.frame_final_end - 1
        for s in strips(scene):
            s.mute = s != target
        bpy.ops.render.render(animation=True)
        for s in strips(scene):
            s.mute = False
    elif step["op"] == "add_images":
        files = sorted(f for f in os.listdir(step["folder"]) if f.endswith(".png"))
        seq = strips(scene).new_image(step["name"], os.path.join(step["folder"], files[0]),
                                      step["channel"], step["frame_start"])
        for f in files[1:]:
            seq.elements.append(f)
        seq.frame_offset_start = step.get("trim_start", 0)
    record["seconds"] = time.perf_counter() - t0
    record["strips"] = describe(scene)
    out["steps"].append(record)

print("FRAMELOOM_RESULT " + json.dumps(out), flush=True)
