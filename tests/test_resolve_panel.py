"""The Resolve panel without Resolve's UI: the controller driven directly, then the thin UIManager
layer driven through a small stand-in for Fusion's UIManager, both against a real server."""
from __future__ import annotations

import threading

import pytest
from frameloom_resolve.panel import PanelController, fields_for, settings_from_values
from frameloom_resolve.ui import build_window
from resolve_helpers import START, closed_port, make_clip, scene
from test_service_helpers import RunningServer


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("panel")
    clip = make_clip(root / "media" / "shots")
    srv = RunningServer(root / "srv", media_roots=[root / "media"])
    yield root, clip, srv
    srv.stop()


def values(root, srv, **more):
    return {"server": srv.target, "style": "filter:cartoon", "deflicker": "none",
            "placement": "track", "output_dir": str(root / "media" / "out"), **more}


def test_fields_follow_the_server(env):
    root, clip, srv = env
    with srv.client() as c:
        caps = c.capabilities()
    by_id = {f.id: f for f in fields_for(caps)}
    assert "filter:cartoon" in by_id["style"].choices and "identity" not in by_id["style"].choices
    assert "builtin:tiny" in by_id["model"].choices
    assert set(by_id["deflicker"].choices) >= {"window", "none"}


def test_values_become_settings():
    s = settings_from_values({"server": " h:1 ", "style": "filter:oil", "prompt": "ignored",
                              "steps": "12", "deflicker": "none", "window": 3, "token_file": "",
                              "output_dir": "/tmp/x", "placement": "take"})
    assert s == {"server": "h:1", "style": "filter:oil", "deflicker": "none",
                 "output_dir": "/tmp/x", "placement": "take"}
    s = settings_from_values({"style": "diffusion", "model": "builtin:tiny", "steps": "12.0",
                              "strength": "0.5", "prompt": "a harbour"})
    assert (s["steps"], s["strength"], s["prompt"]) == (12, 0.5, "a harbour")


def test_controller_runs_on_a_worker_and_calls_resolve_only_from_its_thread(env, tmp_path):
    root, clip, srv = env
    resolve, item = scene(clip)
    calls = set()
    resolve.on_call = lambda: calls.add(threading.get_ident())
    panel = PanelController(resolve, config_file=tmp_path / "panel.json")
    assert panel.refresh(values(root, srv)) and panel.status.startswith("connected")
    assert panel.start(values(root, srv))
    assert panel.running and not panel.start(values(root, srv))      # one run at a time
    [result] = panel.wait()
    assert result.ok and result.track == 2 and result.record_frame == START + 10
    assert panel.status == "done: 1 of 1 placed" and "placed 8 frames" in panel.lines[0]
    assert calls == {threading.get_ident()}
    assert panel.saved_values()["style"] == "filter:cartoon"            # kept for next time


def test_controller_messages(env, tmp_path):
    root, clip, srv = env
    resolve, item = scene(clip)
    panel = PanelController(resolve, config_file=tmp_path / "panel.json")
    assert not panel.refresh(values(root, srv, server=closed_port()))
    assert "cannot reach the server" in panel.status
    resolve.timeline.select()
    resolve.timeline.playhead = START
    assert not panel.start(values(root, srv)) and "nothing to stylize" in panel.status
    assert not panel.start(values(root, srv, output_dir="")) and "output_dir" in panel.status


# ---- the window, through a stand-in for UIManager -------------------------------------------


class Widget:
    def __init__(self, kind, *args):
        self.kind, self.children, self.items, self.active = kind, [], [], False
        self.Text = self.PlainText = self.CurrentText = ""
        self.Value = 0
        for a in args:
            if isinstance(a, dict):
                self.__dict__.update(a)
            elif isinstance(a, list):
                self.children = a

    def AddItems(self, items):
        self.items.extend(items)

    def Clear(self):
        self.items = []

    def Start(self):
        self.active = True

    def Stop(self):
        self.active = False

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class Handlers:
    def __getattr__(self, name):
        value = Handlers()
        object.__setattr__(self, name, value)
        return value


class UIManager:
    def __getattr__(self, kind):
        return lambda *args: Widget(kind, *args)


class Window:
    def __init__(self, props, root):
        self.props, self.root, self.On, self.shown = props, root, Handlers(), False

    def GetItems(self):
        return {w.ID: w for w in self.root.walk() if hasattr(w, "ID")}


class Dispatcher:
    def __init__(self):
        self.On, self.exited, self.windows = Handlers(), False, []

    def AddWindow(self, props, root):
        self.windows.append(Window(props, root))
        return self.windows[-1]

    def ExitLoop(self):
        self.exited = True


def test_window_connect_stylize_tick_close(env, tmp_path):
    root, clip, srv = env
    resolve, item = scene(clip)
    disp = Dispatcher()
    panel = PanelController(resolve, config_file=tmp_path / "panel.json")
    panel.save_values(values(root, srv))
    window, connect = build_window(UIManager(), disp, panel)
    items = window.GetItems()
    assert items["server"].Text == srv.target and items["style"].CurrentText == "filter:cartoon"
    connect()
    assert "filter:pencil" in items["style"].items and items["Status"].Text.startswith("connected")
    window.On.Stylize.Clicked(None)
    for _ in range(3000):
        if panel.running:
            disp.On.Timeout(None)
        else:
            break
        threading.Event().wait(0.01)
    assert items["Status"].Text == "done: 1 of 1 placed"
    assert "placed 8 frames" in items["Progress"].PlainText
    assert [(i.start, i.duration) for i in resolve.timeline.items(2)] == [(START + 10, 8)]
    window.On.FrameloomPanel.Close(None)
    assert disp.exited
