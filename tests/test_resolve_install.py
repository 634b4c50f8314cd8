"""`frameloom resolve install` / `uninstall`: the panel script in Resolve's per-user Scripts
folder, the bridge and client in a site folder that Resolve's Python imports them from."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from frameloom.cli import main as frameloom
from frameloom_resolve import install


def test_documented_per_user_folders():
    env = {"HOME": "/home/ada", "APPDATA": r"C:\Users\ada\AppData\Roaming"}
    assert str(install.scripts_dir("linux", env)) == \
        "/home/ada/.local/share/DaVinciResolve/Fusion/Scripts"
    assert str(install.scripts_dir("darwin", env)) == ("/home/ada/Library/Application Support/"
                                                       "Blackmagic Design/DaVinci Resolve/Fusion/Scripts")
    win = install.scripts_dir("win32", env)
    assert win.parts[-5:] == ("Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts")
    assert str(install.site_dir("linux", {**env, "XDG_DATA_HOME": "/d"})) == "/d/frameloom/resolve/site"


def test_install_then_the_panel_script_imports_the_copies(tmp_path, capsys):
    scripts, site = tmp_path / "Scripts", tmp_path / "site"
    assert frameloom(["resolve", "install", "--scripts-dir", str(scripts), "--site-dir", str(site),
                      "--no-deps"]) == 0
    said = capsys.readouterr().err
    panel = scripts / "Utility" / "frameloom.py"
    assert f"wrote {panel}" in said and "Workspace > Scripts > frameloom" in said
    assert (site / "frameloom_client" / "v1" / "frameloom_pb2.py").is_file()
    assert (site / "frameloom_resolve" / "ui.py").is_file()
    # Like Resolve's Python: no site-packages of ours (-S), the compiled deps from elsewhere.
    deps = sysconfig.get_paths()["purelib"]
    probe = ("import runpy, sys; sys.path.append(%r); runpy.run_path(%r, run_name='__main__'); "
             "import frameloom_client, frameloom_resolve; "
             "print(frameloom_client.__file__); print(frameloom_resolve.__file__)") % (deps, str(panel))
    out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "not started by DaVinci Resolve" in lines[0] and "Traceback" not in out.stderr
    assert all(line.startswith(str(site)) for line in lines[1:3])
    # Uninstall takes both away, and says so; a second time there is nothing to remove.
    assert frameloom(["resolve", "uninstall", "--scripts-dir", str(scripts), "--site-dir",
                      str(site)]) == 0
    assert not panel.exists() and not site.exists()
    frameloom(["resolve", "uninstall", "--scripts-dir", str(scripts), "--site-dir", str(site)])
    assert "nothing to remove" in capsys.readouterr().err


def _fake_python(path: Path, code: int) -> str:
    path.write_text(f"#!/bin/sh\necho \"$@\" > {path}.args\n"
                    + ("echo 'ERROR: No matching distribution found for grpcio' >&2\n" if code else "")
                    + f"exit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_dependencies_come_from_resolves_own_pip(tmp_path, capsys):
    scripts, site = tmp_path / "Scripts", tmp_path / "site"
    py = _fake_python(tmp_path / "python3.10", 0)
    assert frameloom(["resolve", "install", "--scripts-dir", str(scripts), "--site-dir", str(site),
                      "--python", py, "--find-links", "/wheels", "--no-index"]) == 0
    args = Path(py + ".args").read_text().split()
    assert args[:6] == ["-m", "pip", "install", "--upgrade", "--target", str(site)]
    assert {"--find-links", "/wheels", "--no-index"} <= set(args)
    assert any(a.startswith("grpcio>=") for a in args) and "av>=12" in args
    assert any(a.startswith("numpy") for a in args) and any(a.startswith("protobuf") for a in args)


def test_a_failed_dependency_install_writes_no_panel(tmp_path, capsys):
    scripts, site = tmp_path / "Scripts", tmp_path / "site"
    py = _fake_python(tmp_path / "python3.10", 1)
    code = frameloom(["resolve", "install", "--scripts-dir", str(scripts), "--site-dir", str(site),
                      "--python", py])
    err = capsys.readouterr().err
    assert code == 2 and "could not install the dependencies" in err and "grpcio" in err
    assert len(err.strip().splitlines()) == 1
    assert not (scripts / "Utility" / "frameloom.py").exists()
