"""Media I/O on real clips: frame counts, exact rates, audio, odd sizes, 16-bit, damage."""
from __future__ import annotations

import os
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from frameloom.errors import InputNotFound, MediaError, OutputError, UserError
from frameloom.media import (FrameSelection, check_output, open_sink, open_source,
                             parse_frame_range)
from mediafiles import audio_duration, count_frames, photo_frames, write_clip


def _copy(src_path, dst_path, selection=None):
    with open_source(src_path, selection) as src:
        step = selection.step if selection else 1
        sink = open_sink(dst_path, src.info, audio_from=src_path if step == 1 else None,
                         fps=src.info.fps / step)
        for frame in src:
            sink.write(frame)
        sink.close()
        return src.info


@pytest.mark.parametrize("fps", [Fraction(24000, 1001), Fraction(30000, 1001), Fraction(25)])
def test_round_trip_keeps_count_rate_and_audio(tmp_path, fps):
    frames = photo_frames(frames=20)
    src = write_clip(tmp_path / "src.mp4", frames, fps, audio_seconds=20 / float(fps))
    out = tmp_path / "out.mp4"
    _copy(src, out)
    info = open_source(str(out)).info
    assert info.fps == fps
    assert count_frames(out) == 20
    assert info.has_audio
    assert audio_duration(out) == pytest.approx(20 / float(fps), abs=0.05)


def test_frames_match_their_source_pixels(tmp_path):
    frames = photo_frames(frames=10)
    src = write_clip(tmp_path / "src.mov", frames, codec="prores_ks", pix_fmt="yuv444p10le")
    got = [f.image for f in open_source(src)]
    for want, have in zip(frames, got):
        assert np.abs(want / 255.0 - have).mean() < 0.01


def test_range_with_step_trims_audio_and_indices(tmp_path):
    frames = photo_frames(frames=24)
    src = write_clip(tmp_path / "src.mp4", frames, 24, audio_seconds=1.0)
    sel = parse_frame_range("6-17")
    with open_source(src, sel) as s:
        assert [f.index for f in s] == list(range(6, 18))
    out = tmp_path / "cut.mp4"
    _copy(src, out, sel)
    assert count_frames(out) == 12
    assert audio_duration(out) == pytest.approx(0.5, abs=0.05)
    stepped = parse_frame_range("0-23/3")
    assert [f.index for f in open_source(src, stepped)] == list(range(0, 24, 3))


def test_seek_into_a_long_clip_lands_on_the_right_frame(tmp_path):
    frames = photo_frames(frames=120, size=(96, 64))
    src = write_clip(tmp_path / "long.mp4", frames, 24, options={"g": "12"})
    got = open_source(src, FrameSelection(100, 103))
    images = list(got)
    assert [f.index for f in images] == [100, 101, 102, 103]
    for f in images:
        errs = [np.abs(fr / 255.0 - f.image).mean() for fr in frames[95:110]]
        assert int(np.argmin(errs)) + 95 == f.index


@pytest.mark.parametrize("ext,codec,pix", [
    (".mkv", "libx265", "yuv420p"), (".mov", "prores_ks", "yuv422p10le"),
    (".webm", "libvpx-vp9", "yuv420p"), (".mov", "mjpeg", "yuvj420p"), (".mp4", "libx264", "yuv420p")])
def test_decodes_common_editor_codecs(tmp_path, ext, codec, pix):
    frames = photo_frames(frames=6, size=(128, 96))
    opts = {"crf": "18", "x265-params": "log-level=error"} if codec == "libx265" else None
    src = write_clip(tmp_path / f"src{ext}", frames, codec=codec, pix_fmt=pix, options=opts)
    got = list(open_source(src))
    assert len(got) == 6
    assert got[0].image.shape == (96, 128, 3)
    assert np.abs(frames[3] / 255.0 - got[3].image).mean() < 0.03


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_odd_sizes_survive(tmp_path, ext):
    frames = photo_frames(frames=5, size=(853, 480))
    src = write_clip(tmp_path / "odd.mov", frames, codec="prores_ks", pix_fmt="yuv422p10le")
    out = tmp_path / f"out{ext}"
    _copy(src, out)
    info = open_source(str(out)).info
    assert (info.width, info.height) == (853, 480)
    assert count_frames(out) == 5


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_sequences_keep_their_depth(tmp_path, ext):
    folder = tmp_path / "seq16"
    folder.mkdir()
    base = photo_frames(frames=3, size=(64, 48))
    for i, f in enumerate(base):
        # A smooth 16-bit ramp that 8 bits cannot hold.
        f16 = (f.astype(np.uint16) * 257) + (np.arange(64, dtype=np.uint16)[None, :, None] * 3)
        cv2.imwrite(str(folder / f"shot_{1001 + i:05d}{ext}"), cv2.cvtColor(f16, cv2.COLOR_RGB2BGR))
    src = open_source(str(folder / f"shot_%05d{ext}"))
    assert src.info.bit_depth == 16 and src.info.frame_count == 3
    out = tmp_path / "out16"
    sink = open_sink(str(out), src.info)
    for frame in src:
        sink.write(frame)
    sink.close()
    written = sorted(os.listdir(out))
    assert len(written) == 3
    back = cv2.imread(str(out / written[1]), cv2.IMREAD_UNCHANGED)
    want = cv2.imread(str(folder / f"shot_01002{ext}"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    assert np.abs(back.astype(int) - want.astype(int)).max() <= 1


def test_folder_sequence_in_natural_order(tmp_path):
    for i, f in enumerate(photo_frames(frames=12, size=(32, 32))):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), f)
    src = open_source(str(tmp_path), fps=Fraction(30000, 1001))
    assert src.info.fps == Fraction(30000, 1001)
    assert [os.path.basename(p) for p in src.files][:3] == ["f0.png", "f1.png", "f2.png"]


def test_truncated_video_is_a_clear_error_and_keeps_frames(tmp_path):
    frames = photo_frames(frames=40, size=(160, 96))
    src = write_clip(tmp_path / "src.mp4", frames, options={"movflags": "faststart"})
    data = open(src, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="truncated"):
        _copy(str(cut), out)
    head = tmp_path / "head.mp4"
    head.write_bytes(data[:2000] if b"moov" not in data[:2000] else data[:40])
    with pytest.raises(MediaError):
        open_source(str(head))


def test_garbage_and_missing_inputs(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(MediaError):
        open_source(str(bad))
    with pytest.raises(InputNotFound):
        open_source(str(tmp_path / "missing.mov"))
    with pytest.raises(InputNotFound):
        open_source(str(tmp_path / "nothing_%04d.png"))


def test_range_outside_clip_and_bad_ranges(tmp_path):
    src = write_clip(tmp_path / "src.mp4", photo_frames(frames=10))
    with pytest.raises(UserError, match="10 frames"):
        open_source(src, FrameSelection(12, None))
    for text in ["", "abc", "5-2", "1-4/0"]:
        with pytest.raises(UserError):
            parse_frame_range(text)
    assert parse_frame_range("100-219") == FrameSelection(100, 219, 1)
    assert parse_frame_range("7") == FrameSelection(7, 7, 1)
    assert parse_frame_range("10-") == FrameSelection(10, None, 1)


def test_output_checks(tmp_path):
    src = write_clip(tmp_path / "src.mp4", photo_frames(frames=3))
    with pytest.raises(OutputError, match="same as the input"):
        check_output(src, [src])
    with pytest.raises(OutputError, match="does not exist"):
        check_output(str(tmp_path / "nope" / "out.mp4"), [src])
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_output(str(tmp_path / "file"), [src])


def test_variable_frame_rate_keeps_timestamps(tmp_path):
    # A clip whose frames sit at irregular times (a phone recording): durations survive.
    path = tmp_path / "vfr.mkv"
    times = [0.0, 0.04, 0.10, 0.12, 0.20, 0.33, 0.34, 0.50]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 96, 64, "yuv420p"
        vs.codec_context.time_base = Fraction(1, 1000)
        for t, f in zip(times, photo_frames(frames=len(times), size=(96, 64))):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = int(t * 1000)
            vf.time_base = Fraction(1, 1000)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    src = open_source(str(path))
    got = [round(f.time, 3) for f in src]
    assert got == times
    if src.info.variable_rate:
        out = tmp_path / "vfr_out.mp4"
        _copy(str(path), out)
        assert [round(f.time, 2) for f in open_source(str(out))] == [round(t, 2) for t in times]
