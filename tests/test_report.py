"""The flicker report: its numbers are the tests' warp error, its page opens offline with every
image, its mistakes are one line, and jobs (CLI, headless, streamed) write theirs."""
from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from chromium import Browser, find_chromium
from frameloom.cli import main
from frameloom.report import DATA_ID, frames_of, measure, report_clips
from frameloom.report.warp import KNOWN_FLOW_TOLERANCE
from frameloom_client import pb
from frameloom_client.jobspec import build_spec, save_spec
from synthclips import cartoon, flicker, make_clip, stylize_clip, warp_error
from test_service_headless import read_sequence, write_sequence
from test_service_helpers import RunningServer

SIZE = (64, 96)      # (H, W)
FRAMES = 12


def to8(frames):
    return [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in frames]


def report_data(html: Path) -> dict:
    text = Path(html).read_text()
    found = re.search(rf"<script type='application/json' id='{DATA_ID}'>(.*?)</script>", text, re.S)
    assert found, "the page carries its numbers"
    return json.loads(found.group(1))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and "frame/s" not in ln and "%|" not in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A clip with known motion, a flickering stylization of it, and that deflickered by the
    command (asked for its report too)."""
    root = tmp_path_factory.mktemp("report")
    clip = make_clip(FRAMES, SIZE, seed=3)
    styled = flicker(stylize_clip(clip), seed=4)
    write_sequence(root / "orig", to8(clip.frames))
    write_sequence(root / "styled", to8(styled))
    assert main(["deflicker", str(root / "styled"), "--guide", str(root / "orig"), "--window", "2",
                 "--report", "-o", str(root / "clean")]) == 0
    return root, clip


@pytest.fixture(scope="module")
def report(clips):
    root, _ = clips
    assert main(["report", str(root / "orig"), str(root / "styled"), str(root / "clean"),
                 "--name", "frame by frame", "--name", "deflickered", "-q",
                 "-o", str(root / "out" / "report.html")]) == 0
    return root / "out" / "report.html"


# ---- the numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("size, seed", [(SIZE, 0), (SIZE, 2), ((96, 128), 1)])
def test_the_report_measures_the_tests_warp_error(size, seed):
    """On clips with known motion, the report's mean per version (DIS flow, occlusions masked)
    is the warp error the tests compute with the exact flow, within the tolerance the report
    quotes; and it keeps strong flicker, mild flicker and none apart."""
    clip = make_clip(FRAMES, size, seed=seed)
    steady = stylize_clip(clip)
    versions = {"steady": steady, "cartoon": stylize_clip(clip, cartoon),
                "mild": flicker(steady, strength=0.3, seed=seed + 7),
                "flickering": flicker(steady, seed=seed + 7)}
    m = measure(frames_of(clip.frames), [frames_of(v) for v in versions.values()],
                ["source", *versions])
    measured = {name: m.stats(row)["mean"] for row, name in enumerate(versions, 1)}
    truth = {name: warp_error(v, clip) for name, v in versions.items()}
    for name in versions:
        assert abs(measured[name] - truth[name]) <= KNOWN_FLOW_TOLERANCE, (name, measured, truth)
    assert measured["steady"] < measured["mild"] < measured["flickering"]
    # The floor the report draws: the source against its own motion, near the steady look.
    assert abs(m.stats(0)["mean"] - warp_error(clip.frames, clip)) <= KNOWN_FLOW_TOLERANCE
    assert m.frames.tolist() == list(range(1, FRAMES))


def test_the_flickering_line_sits_above_the_deflickered_one(report):
    data = report_data(report)
    assert data["names"] == ["orig", "frame by frame", "deflickered"]
    source, styled, clean = (np.array(row, float) for row in data["errors"])
    assert data["frames"] == list(range(1, FRAMES))
    assert np.all(styled > clean) and np.all(clean > source)
    assert data["stats"][2]["mean"] < 0.5 * data["stats"][1]["mean"]


def test_a_deflicker_job_reports_before_and_after(clips, report):
    root, _ = clips
    page = root / "clean.report.html"      # beside the output folder, not inside it
    assert page.exists() and page.with_suffix(".png").exists()
    assert not list((root / "clean").glob("*.html"))
    data = report_data(page)
    assert data["names"] == ["orig", "styled (before)", "clean (after)"]
    # The job's report measures the same files as the command: the same numbers.
    assert data["errors"] == report_data(report)["errors"]
    assert data["seconds_per_frame"] > 0
    text = page.read_text()
    assert "s per frame" in text and 'kind = "identity"' in text   # the job's settings


def test_frame_ranges_keep_the_clip_numbering(clips, tmp_path):
    root, _ = clips
    whole = report_clips(str(root / "orig"), [str(root / "styled")], tmp_path / "a.html",
                         selection=_frames("4-10"))
    trimmed_dir = write_sequence(tmp_path / "trimmed", read_sequence(root / "styled")[4:11])
    trimmed = report_clips(str(root / "orig"), [str(trimmed_dir)], tmp_path / "b.html",
                           selection=_frames("4-10"))
    assert whole.measurements.frames.tolist() == list(range(5, 11))
    assert np.array_equal(whole.measurements.errors, trimmed.measurements.errors)
    assert report_data(tmp_path / "a.html")["frames"] == list(range(5, 11))


def _frames(text):
    from frameloom.media import parse_frame_range

    return parse_frame_range(text)


def test_seams_are_marked_and_tabled(clips, tmp_path):
    root, _ = clips
    plain = report_clips(str(root / "orig"), [str(root / "styled")], tmp_path / "plain.html")
    seamed = report_clips(str(root / "orig"), [str(root / "styled")], tmp_path / "seams.html",
                          seams=[6, 9])
    assert report_data(seamed.html)["seams"] == [6, 9]
    assert "<h2>Seams</h2>" in seamed.html.read_text() and "Seams" not in plain.html.read_text()
    a, b = (cv2.imread(str(r.png)) for r in (plain, seamed))
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).sum() > 0


# ---- the page -------------------------------------------------------------------------------

def test_the_page_is_self_contained(report):
    text = report.read_text()
    sources = re.findall(r"<img[^>]* src='([^']*)'", text)
    assert len(sources) >= 2 + 3 * 3          # plot, heat maps, the strips (three clips each)
    assert all(s.startswith("data:image/") for s in sources)
    assert not re.search(r"(?:src|href)\s*=\s*['\"]?(?:https?:)?//", text)
    assert "<link" not in text and "@import" not in text and "url(" not in text
    # The PNG beside the page is the plot in it.
    png = report.with_suffix(".png").read_bytes()
    assert sources[0] == "data:image/png;base64," + base64.b64encode(png).decode()
    plot = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert plot.shape[1] >= 1000 and plot.shape[0] >= 400


def _chromium():
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return Browser()


def test_the_page_opens_in_chromium_offline_with_every_image(report, tmp_path):
    with _chromium() as browser:
        page = browser.open(report)
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        title = page.evaluate("document.title")
        external = [u for u in page.requests if not u.startswith(("data:", page.url))]
        # The check sees what it must: a page that fetches is caught, a broken image is.
        control = tmp_path / "control.html"
        control.write_text("<img src='http://127.0.0.1:9/x.png'><img src='data:image/png;base64,AA'>")
        bad = browser.open(control)
        bad_images = bad.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        assert any(u.startswith("http://127.0.0.1:9/") for u in bad.requests)
        assert bad_images == [0, 0]
    assert external == []
    assert len(images) >= 11 and all(done and width > 0 for done, width in images), images
    assert title.startswith("Flicker report")


# ---- mistakes -------------------------------------------------------------------------------

@pytest.mark.parametrize("case, message", [
    ("missing", "input not found"),
    ("shorter", "has 8 frames but orig has 12"),
    ("smaller", "is 48x32 but orig is 96x64"),
    ("not_html", "a report is an HTML page"),
    ("one_frame", "needs at least 2"),
    ("names", "give one per STYLED"),
    ("range", "frame range ends at 40"),
    ("range_mismatch", "neither the 12 of orig nor the 3 of the frame range"),
])
def test_bad_input_is_one_line(clips, tmp_path, capsys, case, message):
    root, clip = clips
    frames = to8(clip.frames)
    orig, styled, out = str(root / "orig"), str(root / "styled"), str(tmp_path / "r.html")
    args = {
        "missing": [orig, str(tmp_path / "nope.mp4"), "-o", out],
        "shorter": [orig, str(write_sequence(tmp_path / "short", frames[:8])), "-o", out],
        "smaller": [orig, str(write_sequence(tmp_path / "small", [cv2.resize(f, (48, 32))
                                                                  for f in frames])), "-o", out],
        "not_html": [orig, styled, "-o", str(tmp_path / "r.png")],
        "one_frame": [str(write_sequence(tmp_path / "one", frames[:1])),
                      str(write_sequence(tmp_path / "one_s", frames[:1])), "-o", out],
        "names": [orig, styled, "--name", "a", "--name", "b", "-o", out],
        "range": [orig, styled, "--frames", "0-40", "-o", out],
        "range_mismatch": [orig, str(write_sequence(tmp_path / "five", frames[:5])),
                           "--frames", "0-2", "-o", out],
    }[case]
    assert main(["report", *args]) == 2
    line = one_error_line(capsys)
    assert message in line, line
    assert not Path(out).exists()


# ---- jobs -----------------------------------------------------------------------------------

def test_stylize_and_render_write_the_report_the_command_would(clips, tmp_path, monkeypatch):
    root, _ = clips
    monkeypatch.chdir(tmp_path)
    assert main(["stylize", str(root / "orig"), "--style", "filter:pencil", "--no-deflicker",
                 "--report", "--save-job", "job.toml", "-o", "pencil"]) == 0
    page = tmp_path / "pencil.report.html"
    assert page.exists() and (tmp_path / "pencil.report.png").exists()
    data = report_data(page)
    again = report_clips(str(root / "orig"), [str(tmp_path / "pencil")], tmp_path / "again.html")
    assert data["errors"] == report_data(again.html)["errors"]
    assert "report = true" in (tmp_path / "job.toml").read_text()

    # A job file that asks for a report gets one from render, as does --report on one that
    # does not.
    spec = build_spec(style="filter:pencil", deflicker="none", input=str(root / "orig"),
                      output=str(tmp_path / "rendered.mp4"))
    save_spec(spec, tmp_path / "plain.toml")
    assert main(["render", "plain.toml"]) == 0
    assert not (tmp_path / "rendered.report.html").exists()
    assert main(["render", "plain.toml", "--report"]) == 0
    assert report_data(tmp_path / "rendered.report.html")["names"] == ["orig", "rendered.mp4"]


def test_a_server_writes_the_report_of_headless_and_streamed_jobs(clips, tmp_path):
    root, clip = clips
    media = tmp_path / "media"
    write_sequence(media / "orig", to8(clip.frames))
    write_sequence(media / "styled", read_sequence(root / "styled"))
    elsewhere = tmp_path / "elsewhere"      # a root of its own, written into as a whole
    elsewhere.mkdir()
    server = RunningServer(tmp_path, media_roots=[media, elsewhere])
    try:
        with server.client() as client:
            spec = build_spec(style="identity", guide=str(media / "orig"), window=2, report=True,
                              input=str(media / "styled"), output=str(media / "clean"))
            job = client.wait(client.submit(spec).id)
            assert job.state == pb.JOB_STATE_SUCCEEDED, job.error
            assert job.report == str(media / "clean.report.html") and not job.report_error
            headless = report_data(job.report)

            streamed = build_spec(style="identity", guide=str(media / "orig"), window=2,
                                  report=True)
            results = client.stylize_all(streamed, read_sequence(root / "styled"))
            (done,) = [j for j in client.list_jobs() if j.streamed]
            assert done.report.startswith(str(tmp_path / "store")) and not done.report_error
            stream = report_data(done.report)

            plain = client.wait(client.submit(build_spec(
                style="identity", guide=str(media / "orig"), window=2,
                input=str(media / "styled"), output=str(media / "plain"))).id)
            assert plain.report == "" and not (media / "plain.report.html").exists()

            # Its report would land beside the root, outside it: the job keeps its frames and
            # says why there is no report.
            outside = client.wait(client.submit(build_spec(
                style="identity", deflicker="none", report=True, input=str(media / "orig"),
                output=str(elsewhere))).id)
            assert outside.state == pb.JOB_STATE_SUCCEEDED and outside.done == FRAMES
            assert outside.report == "" and "outside the server's media roots" in outside.report_error
            assert not (tmp_path / "elsewhere.report.html").exists()
    finally:
        server.stop()
    # The streamed frames are the headless job's, and so is its report; both match the command.
    assert all(np.array_equal(a, b) for a, b in zip(results, read_sequence(media / "clean")))
    assert stream["names"] == ["orig", "sent frames (before)", "deflickered (after)"]
    assert headless["frames"] == stream["frames"] == list(range(1, FRAMES))
    np.testing.assert_allclose(np.array(stream["errors"]), np.array(headless["errors"]), rtol=1e-5)
    assert np.all(np.array(headless["errors"][2]) < np.array(headless["errors"][1]))


def test_memory_stays_bounded_on_a_clip_of_unknown_length():
    """Without a known length the regular strip thins itself out (every 2nd, 4th, ... frame),
    and only the worst frames' pictures are kept besides: a few thousand frames hold as many
    pictures as a few dozen."""
    from frameloom.report.measure import Measurer

    from frameloom.frames import Frame

    still = make_clip(1, (24, 32), seed=1).frames[0]
    measurer = Measurer(["source", "flickering"], total=None)
    rng = np.random.default_rng(0)
    for i in range(300):
        noise = rng.normal(0, 0.1 if i == 150 else 0.02, still.shape)
        noisy = np.clip(still + noise, 0, 1).astype(np.float32)
        measurer.add([Frame(i, i / 24, still), Frame(i, i / 24, noisy)])
        assert len(measurer._thumbs) <= 2 * 8 + 3 + 1
    m = measurer.result()
    assert len(m.frames) == 299 and len(m.regular) <= 16
    stride = m.regular[1] - m.regular[0]
    assert stride >= 16 and all(f % stride == 0 for f in m.regular)
    assert m.stats(1)["worst"][0][0] == 150 and 150 in m.thumbs
    assert m.worst[0].frame == 150 and m.worst[0].residual.shape == (24, 32)


def test_names_are_shown_as_text(clips, tmp_path):
    root, _ = clips
    report = report_clips(str(root / "orig"), [str(root / "styled")], tmp_path / "r.html",
                          names=["orig", "<script>alert(1)</script>"])
    text = report.html.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert report_data(report.html)["names"][1] == "<script>alert(1)</script>"
