"""`frameloom deflicker` and `frameloom propagate` end to end on image sequences and video."""
import numpy as np
import pytest

from frameloom.cli import main
from frameloom.media import open_source
from frameloom.media.sequence import write_image
from synthclips import flicker, make_clip, psnr, stylize_clip, warp_error


def _write_seq(folder, frames):
    folder.mkdir()
    for i, f in enumerate(frames):
        write_image(str(folder / f"f_{i:04d}.png"), f)
    return str(folder)


def _read(path):
    with open_source(path) as src:
        return [f.image for f in src]


@pytest.fixture(scope="module")
def scene():
    clip = make_clip(n_frames=8, size=(96, 96), seed=5)
    clean = stylize_clip(clip)
    return clip, clean, flicker(clean, seed=6)


def test_deflicker_command(scene, tmp_path):
    clip, clean, flickering = scene
    orig = _write_seq(tmp_path / "orig", clip.frames)
    styled = _write_seq(tmp_path / "styled", flickering)
    out = tmp_path / "out"
    assert main(["deflicker", styled, "--guide", orig, "-o", str(out), "--window", "2"]) == 0
    frames = _read(str(out))
    assert len(frames) == 8
    assert warp_error(frames, clip) < 0.4 * warp_error(flickering, clip)
    assert psnr(np.stack(frames), np.stack(clean)) > psnr(np.stack(flickering), np.stack(clean)) + 2


def test_deflicker_command_to_video(scene, tmp_path):
    clip, _, flickering = scene
    orig = _write_seq(tmp_path / "orig", clip.frames)
    styled = _write_seq(tmp_path / "styled", flickering)
    out = tmp_path / "out.mp4"
    assert main(["deflicker", styled, "--guide", orig, "-o", str(out), "--window", "1",
                 "--deflicker-mode", "fast", "--iterations", "1", "--frames", "2-6"]) == 0
    assert len(_read(str(out))) == 5


def test_deflicker_guide_too_short(scene, tmp_path, capsys):
    clip, _, flickering = scene
    orig = _write_seq(tmp_path / "orig", clip.frames[:3])
    styled = _write_seq(tmp_path / "styled", flickering)
    assert main(["deflicker", styled, "--guide", orig, "-o", str(tmp_path / "o"), "--window", "1",
                 "--iterations", "1"]) == 2
    assert "guide clip has no frame 3" in capsys.readouterr().err


def test_propagate_command(scene, tmp_path, capsys):
    clip, clean, _ = scene
    orig = _write_seq(tmp_path / "orig", clip.frames)
    write_image(str(tmp_path / "k0.png"), clean[0])
    write_image(str(tmp_path / "k7.png"), clean[7])
    out = tmp_path / "out"
    assert main(["propagate", orig, "--keyframe", f"0={tmp_path / 'k0.png'}",
                 "--keyframe", f"7={tmp_path / 'k7.png'}", "-o", str(out), "--iterations", "2"]) == 0
    frames = _read(str(out))
    assert len(frames) == 8
    for i in range(1, 7):
        nearest = clean[0] if i < 3.5 else clean[7]
        assert psnr(frames[i], clean[i]) > psnr(nearest, clean[i]) + 6
    # user mistakes: one line, exit 2
    assert main(["propagate", orig, "--keyframe", "3", "-o", str(tmp_path / "x")]) == 2
    assert main(["propagate", orig, "--keyframe", f"20={tmp_path / 'k0.png'}", "-o",
                 str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "FRAME=IMAGE" in err and "outside the processed frames" in err
