"""The panel's window: Fusion's UIManager widgets over :class:`~frameloom_resolve.panel.PanelController`.

Kept thin on purpose: every decision is in the controller, which the tests drive directly; this
module only copies values between widgets and the controller and forwards clicks and timer ticks.
"""
from __future__ import annotations

from frameloom_client.errors import UserError

from .connect import resolve_from_globals
from .panel import Field, PanelController

WINDOW_ID = "FrameloomPanel"
TICK_MS = 200


def _widget(ui, f: Field, value):
    if f.kind == "choice":
        return ui.ComboBox({"ID": f.id, "Editable": f.editable})
    if f.kind == "int":
        return ui.SpinBox({"ID": f.id, "Minimum": int(f.low), "Maximum": int(f.high),
                           "Value": int(value or 0)})
    if f.kind == "float":
        return ui.DoubleSpinBox({"ID": f.id, "Minimum": f.low, "Maximum": f.high,
                                 "SingleStep": 0.05, "Value": float(value or 0)})
    return ui.LineEdit({"ID": f.id, "Text": str(value or "")})


def _fill_choices(items, fields, values) -> None:
    for f in fields:
        if f.kind != "choice":
            continue
        box = items[f.id]
        box.Clear()
        box.AddItems(list(f.choices))
        wanted = values.get(f.id) or f.default
        box.CurrentText = str(wanted) if wanted else ""


def _read(items, fields) -> dict:
    values = {}
    for f in fields:
        w = items[f.id]
        values[f.id] = w.CurrentText if f.kind == "choice" else \
            w.Value if f.kind in ("int", "float") else w.Text
    return values


def build_window(ui, disp, controller: PanelController):
    values = {f.id: f.default for f in controller.fields}
    values.update(controller.saved_values())
    rows = [ui.HGroup({"Weight": 0}, [ui.Label({"Text": f.label, "Weight": 0.35}),
                                      _widget(ui, f, values.get(f.id))])
            for f in controller.fields]
    buttons = ui.HGroup({"Weight": 0}, [ui.Button({"ID": "Connect", "Text": "Connect"}),
                                        ui.Button({"ID": "Stylize", "Text": "Stylize clips"}),
                                        ui.Button({"ID": "Cancel", "Text": "Cancel"}),
                                        ui.Button({"ID": "Close", "Text": "Close"})])
    window = disp.AddWindow(
        {"ID": WINDOW_ID, "WindowTitle": "frameloom", "Geometry": [120, 120, 560, 720]},
        ui.VGroup(rows + [buttons,
                          ui.Label({"ID": "Status", "Text": controller.status, "WordWrap": True,
                                    "Weight": 0}),
                          ui.TextEdit({"ID": "Progress", "ReadOnly": True})]))
    items = window.GetItems()
    _fill_choices(items, controller.fields, values)
    timer = ui.Timer({"ID": "Tick", "Interval": TICK_MS})

    def show() -> None:
        items["Status"].Text = controller.status
        items["Progress"].PlainText = "\n".join(controller.lines)

    def on_connect(ev=None):
        current = _read(items, controller.fields)
        controller.refresh(current)
        _fill_choices(items, controller.fields, current)
        show()

    def on_stylize(ev=None):
        if controller.start(_read(items, controller.fields)):
            timer.Start()
        show()

    def on_tick(ev=None):
        if not controller.tick():
            timer.Stop()
        show()

    def on_cancel(ev=None):
        controller.cancel()
        show()

    def on_close(ev=None):
        controller.cancel()
        timer.Stop()
        disp.ExitLoop()

    window.On.Connect.Clicked = on_connect
    window.On.Stylize.Clicked = on_stylize
    window.On.Cancel.Clicked = on_cancel
    window.On.Close.Clicked = on_close
    getattr(window.On, WINDOW_ID).Close = on_close
    disp.On.Timeout = on_tick      # UIManager delivers timer events through the dispatcher
    return window, on_connect


def run_panel(namespace: dict) -> None:
    """Open the panel from a Workspace > Scripts script: ``run_panel(globals())``. Problems are
    printed as one line to Resolve's console."""
    try:
        _run(namespace)
    except UserError as exc:
        print(f"frameloom: {exc}")


def _run(namespace: dict) -> None:
    resolve = resolve_from_globals(namespace)
    fusion = namespace.get("fusion") or namespace.get("fu") or resolve.Fusion()
    bmd = namespace.get("bmd")
    if bmd is None:
        import fusionscript as bmd
    ui = fusion.UIManager
    disp = bmd.UIDispatcher(ui)
    window, connect = build_window(ui, disp, PanelController(resolve))
    window.Show()
    connect()
    disp.RunLoop()
    window.Hide()
