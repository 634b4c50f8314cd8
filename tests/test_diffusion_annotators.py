"""ControlNet annotators: canny/tile, pose keypoints smoothed over time (body, hands, face),
the HED softedge net from a .safetensors file, precomputed map folders."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.errors import UserError  # noqa: E402
from frameloom.frames import Frame  # noqa: E402
from frameloom.spec import spec_from_dict  # noqa: E402
from frameloom.stylize.diffusion import annotators, pose  # noqa: E402
from frameloom.stylize.diffusion.annotator_nets import HED  # noqa: E402


def _cn(kind, annotator="", **params):
    spec = spec_from_dict({"style": {"diffusion": {"controlnets": [
        {"kind": kind, "annotator": annotator, "params": params}]}}})
    return spec.style.diffusion.controlnets


def test_canny_and_tile():
    img = np.zeros((64, 64, 3), np.float32)
    img[16:48, 16:48] = 1.0
    edges = annotators.canny(img)
    assert edges.shape == (64, 64, 3) and edges.max() == 1.0 and edges[32, 32].max() == 0.0
    t = annotators.tile(img)
    assert t.shape == img.shape and 0 <= t.min() and t.max() <= 1


def _walker(n=24, jitter=3.0, seed=0):
    """A person walking right, with jittery detections; returns (truth, noisy) per frame."""
    rng = np.random.default_rng(seed)
    truth, noisy = [], []
    base = {"body": rng.uniform(20, 80, (18, 2)), "left": rng.uniform(20, 80, (21, 2)),
            "right": rng.uniform(20, 80, (21, 2)), "face": rng.uniform(20, 80, (70, 2))}
    for t in range(n):
        tp, npers = {}, {}
        for part, xy in base.items():
            pos = xy + np.array([2.0 * t, 0.5 * t])
            conf = np.ones((len(xy), 1))
            tp[part] = np.hstack([pos, conf]).astype(np.float32)
            npers[part] = np.hstack([pos + rng.normal(0, jitter, pos.shape), conf]).astype(np.float32)
        truth.append(tp)
        noisy.append(npers)
    return truth, noisy


def test_pose_smoothing_reduces_jitter_on_body_hands_and_face():
    truth, noisy = _walker()
    smoothed = pose.smooth_keypoints([[p] for p in noisy], window=9, order=2)
    for part in ("body", "left", "right", "face"):
        err_raw = np.mean([np.abs(n[part][:, :2] - t[part][:, :2]).mean() for n, t in zip(noisy, truth)])
        err_s = np.mean([np.abs(s[0][part][:, :2] - t[part][:, :2]).mean() for s, t in zip(smoothed, truth)])
        assert err_s < 0.7 * err_raw, (part, err_s, err_raw)


def test_pose_tracks_people_and_keeps_missing_points_missing():
    truth, noisy = _walker(n=12)
    other = [{k: v + np.array([200, 0, 0], np.float32) for k, v in p.items()} for p in noisy]
    frames = [[a, b] if t % 2 else [b, a] for t, (a, b) in enumerate(zip(noisy, other))]
    frames[5][0]["body"][3, 2] = 0.0            # one elbow not detected in frame 5
    tracks = pose.track_people(frames)
    assert len(tracks) == 2
    for tr in tracks:
        xs = [p["body"][:, 0].mean() for p in tr]
        assert max(xs) - min(xs) < 100          # each track stays on one person
    out = pose.smooth_keypoints(frames, window=5)
    assert any(p["body"][3, 2] == 0.0 for p in out[5])


def test_draw_pose_and_body25():
    person = {"pose_keypoints_2d": [v for i in range(25) for v in (10 + 2 * i, 10 + i, 0.9)],
              "hand_left_keypoints_2d": [v for i in range(21) for v in (40 + i, 60, 0.9)]}
    p = pose._person(person)
    assert p["body"].shape == (18, 3) and p["body"][8, 0] == 10 + 2 * 9   # BODY_25 RHip -> COCO 8
    img = pose.draw_pose([p], (64, 64))
    assert img.shape == (64, 64, 3) and img.max() > 0.5 and img[0, 63].max() == 0


def test_pose_annotator_from_json_folder_through_annotator_set(tmp_path):
    truth, noisy = _walker(n=6)
    for t, p in enumerate(noisy):
        doc = {"people": [{"pose_keypoints_2d": p["body"].ravel().tolist(),
                           "hand_left_keypoints_2d": p["left"].ravel().tolist(),
                           "hand_right_keypoints_2d": p["right"].ravel().tolist(),
                           "face_keypoints_2d": p["face"].ravel().tolist()}]}
        (tmp_path / f"clip_{t:04d}_keypoints.json").write_text(json.dumps(doc))
    frames = [Frame(i, 0.0, np.zeros((128, 128, 3), np.float32)) for i in range(6)]
    aset = annotators.AnnotatorSet(_cn("openpose", str(tmp_path), smooth_window=5), lambda i: frames[i], range(6))
    cond = aset.images(0, frames[:3], (64, 64))
    assert cond.shape == (3, 3, 64, 64) and float(cond.max()) > 0.5
    with pytest.raises(UserError, match="openpose"):
        annotators.AnnotatorSet(_cn("openpose"))


def test_softedge_hed_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    save_file(HED().state_dict(), str(tmp_path / "hed.safetensors"))
    aset = annotators.AnnotatorSet(_cn("softedge", str(tmp_path / "hed.safetensors")))
    img = np.random.default_rng(0).random((32, 48, 3)).astype(np.float32)
    cond = aset.images(0, [Frame(0, 0.0, img)], (32, 48))
    assert cond.shape == (1, 3, 32, 48) and 0 <= float(cond.min()) and float(cond.max()) <= 1
    with pytest.raises(UserError, match="softedge ControlNet needs annotator"):
        annotators.AnnotatorSet(_cn("softedge"))
    torch.save(HED().state_dict(), tmp_path / "hed.pth")
    with pytest.raises(UserError, match="pickle"):
        annotators.AnnotatorSet(_cn("softedge", str(tmp_path / "hed.pth")))


def test_precomputed_map_folder_and_cache_is_bounded(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"d{i:03d}.png"), np.full((16, 16, 3), 80 * i, np.uint8))
    aset = annotators.AnnotatorSet(_cn("depth", str(tmp_path)), keep=1)
    frames = [Frame(i, 0.0, np.zeros((8, 8, 3), np.float32)) for i in range(3)]
    out = aset.images(0, frames, (8, 8))
    assert [round(float(out[i].mean()) * 255) for i in range(3)] == [0, 80, 160]
    aset.images(0, frames[2:], (8, 8))
    assert min(k[1] for k in aset.cache) >= 1
