"""The CMU OpenPose body detector: network shape and weight names, pickle refusal, the PAF decoder
on synthetic maps of two people, and detection -> Savitzky–Golay smoothing -> drawing through the
openpose annotator."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from frameloom.errors import UserError
from frameloom.frames import Frame
from frameloom.spec import spec_from_dict
from frameloom.stylize.diffusion import annotators, openpose
from frameloom.stylize.diffusion.openpose import LIMB_PAF, LIMB_PARTS, BodyPoseNet

# A standing person, COCO-18 order, relative to the neck; about 110 px tall.
_BODY = np.array([(0, -15), (0, 0), (-12, 1), (-16, 20), (-18, 37), (12, 1), (16, 20), (18, 37),
                  (-7, 40), (-8, 65), (-9, 90), (7, 40), (8, 65), (9, 90), (-3, -18), (3, -18),
                  (-7, -16), (7, -16)], np.float64)


def _cn(kind, annotator="", **params):
    spec = spec_from_dict({"style": {"diffusion": {"controlnets": [
        {"kind": kind, "annotator": annotator, "params": params}]}}})
    return spec.style.diffusion.controlnets


def _maps(people: list[np.ndarray], hw: tuple[int, int], sigma: float = 2.0, width: float = 2.0):
    """Synthetic network output for ``people`` (each ``(18, 2)`` x, y): Gaussian heatmaps
    ``(19, H, W)`` (background last) and unit-vector PAFs ``(38, H, W)`` along each limb."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    heat = np.zeros((19, h, w))
    paf = np.zeros((38, h, w))
    count = np.zeros((19, h, w))
    for pts in people:
        for p, (x, y) in enumerate(pts):
            heat[p] = np.maximum(heat[p], np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)))
        for k, ((a, b), (cx, cy)) in enumerate(zip(LIMB_PARTS, LIMB_PAF)):
            d = pts[b] - pts[a]
            length = np.hypot(*d)
            u = d / length
            rx, ry = xx - pts[a][0], yy - pts[a][1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            on = (along >= -width) & (along <= length + width) & (across <= width)
            paf[cx][on] += u[0]
            paf[cy][on] += u[1]
            count[k][on] += 1
    for k, (cx, cy) in enumerate(LIMB_PAF):   # average where two people's limbs overlap
        paf[[cx, cy]] /= np.maximum(count[k], 1)
    heat[18] = 1 - heat[:18].max(0)
    return heat.astype(np.float32), paf.astype(np.float32)


@pytest.fixture(scope="module")
def random_net():
    torch.manual_seed(0)
    return BodyPoseNet().eval()


def test_network_shapes_and_cmu_weight_names_round_trip(random_net, tmp_path):
    with torch.no_grad():
        paf, heat = random_net(torch.rand(1, 3, 64, 48) - 0.5)
    assert paf.shape == (1, 38, 8, 6) and heat.shape == (1, 19, 8, 6)
    # The detector around it: a size off the stride, two scales, maps back at the scaled size.
    det = openpose.BodyPoseDetector(random_net, boxsize=44, scales=2)
    pafs, heats, (sx, sy) = det.maps(np.random.default_rng(0).random((50, 70, 3)).astype(np.float32))
    assert pafs.shape == (38, 44, 62) and heats.shape == (19, 44, 62) and abs(sx - 62 / 70) < 1e-6 and abs(sy - 44 / 50) < 1e-6
    assert isinstance(det(np.zeros((50, 70, 3), np.float32)), list)

    sd = random_net.state_dict()
    assert len(sd) == 184   # 92 convolutions, as in body_pose_model.pth
    for name in ("conv1_1.weight", "conv4_4_CPM.bias", "conv5_5_CPM_L1.weight", "conv5_5_CPM_L2.weight",
                 "Mconv1_stage2_L1.weight", "Mconv7_stage6_L2.bias"):
        assert name in sd
    assert sd["Mconv1_stage2_L1.weight"].shape == (128, 185, 7, 7)
    assert sd["Mconv7_stage6_L1.weight"].shape[0] == 38 and sd["Mconv7_stage6_L2.weight"].shape[0] == 19

    from safetensors.torch import save_file
    # A re-save with the wrapper's prefix (model0./model1_1. ...) loads too.
    half = {("model0." + k if k.startswith("conv") else k): v.half() for k, v in sd.items()}
    save_file(half, str(tmp_path / "body_pose_model.safetensors"))
    loaded = openpose.load_body_pose_net(tmp_path / "body_pose_model.safetensors").state_dict()
    assert loaded.keys() == sd.keys()
    assert all(torch.equal(loaded[k], sd[k].half().float()) for k in sd)

    save_file({"conv1_1.weight": sd["conv1_1.weight"]}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="not an OpenPose body model"):
        openpose.load_body_pose_net(tmp_path / "other.safetensors")


def test_pickle_pth_is_refused_without_allow_pickle(tmp_path):
    path = tmp_path / "body_pose_model.pth"
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(UserError, match="refusing to load pickle"):
        openpose.load_body_pose_net(path)
    with pytest.raises(UserError, match="pickle"):
        annotators.AnnotatorSet(_cn("openpose", str(path)))
    # Opted in, the pickle is read (and then judged on its keys, not refused for being a pickle).
    with pytest.raises(UserError, match="not an OpenPose body model"):
        openpose.load_body_pose_net(path, allow_pickle=True)


def test_decoder_recovers_two_people_from_synthetic_maps():
    rng = np.random.default_rng(0)
    # Side by side with interleaved arms: each one's wrist lies beyond the other's shoulder, so
    # nearest-point grouping would mix them up and the PAFs must tell the limbs apart.
    truth = [_BODY + (48.3, 30.6) + rng.uniform(-0.5, 0.5, _BODY.shape),
             _BODY + (72.6, 27.2) + rng.uniform(-0.5, 0.5, _BODY.shape)]
    heat, paf = _maps(truth, (144, 144))
    people = openpose.decode(heat, paf)
    assert len(people) == 2
    for body in people:
        assert body.shape == (18, 3) and (body[:, 2] > 0.1).all()
        # Every part of one detected person belongs to one true skeleton: limbs were not swapped.
        owner = min(range(2), key=lambda i: np.abs(body[:, :2] - truth[i]).max())
        err = np.hypot(*(body[:, :2] - truth[owner]).T)
        assert err.max() < 1.0, err
    assert {min(range(2), key=lambda i: np.abs(b[1, :2] - truth[i][1]).max()) for b in people} == {0, 1}
    # No people in empty maps.
    assert openpose.decode(np.zeros_like(heat), np.zeros_like(paf)) == []


class _StrideNet(torch.nn.Module):
    """Stands in for trained weights: returns stride-8 maps of a person walking right with
    jitter, one frame per call (the detector runs frames in order)."""

    def __init__(self, truth):
        super().__init__()
        self.truth, self.calls = truth, 0

    def forward(self, x):
        h, w = x.shape[2:]
        heat, paf = _maps([self.truth[self.calls] + self.jitter[self.calls]], (h, w), sigma=4.0, width=4.0)
        self.calls += 1
        both = torch.from_numpy(np.concatenate([paf, heat]))[None]
        both = torch.nn.functional.avg_pool2d(both, 8)
        return both[:, :38], both[:, 38:]


def test_detection_smoothing_and_drawing_through_the_annotator(tmp_path, monkeypatch):
    n, size = 9, 192
    truth = [_BODY * 1.3 + (70 + 3 * t, 50) for t in range(n)]
    jitter = np.array([(3.0 if t % 2 else -3.0, 0.0) for t in range(n)])
    net = _StrideNet(truth)
    net.jitter = jitter
    monkeypatch.setattr(openpose, "load_body_pose_net", lambda path, allow_pickle=False: net)
    (tmp_path / "body_pose_model.safetensors").write_bytes(b"")
    frames = [Frame(i, i / 24, np.full((size, size, 3), 0.5, np.float32)) for i in range(n)]
    aset = annotators.AnnotatorSet(
        _cn("openpose", str(tmp_path / "body_pose_model.safetensors"), boxsize=size, smooth_window=7),
        lambda i: frames[i], range(n))
    assert net.calls == n   # every frame detected once, up front (prepare), before any drawing

    poses = aset.annotators[0].frames
    raw_err, smooth_err = [], []
    for t in range(n):
        assert len(poses[t]) == 1
        body = poses[t][0]["body"]
        assert (body[:, 2] > 0).sum() >= 17
        ok = body[:, 2] > 0
        smooth_err.append(np.abs(body[ok, 0] - truth[t][ok, 0]).mean())
        raw_err.append(abs(jitter[t, 0]))
    # Savitzky–Golay over time removes most of the +-3 px detection jitter.
    assert np.mean(smooth_err[2:-2]) < 0.5 * np.mean(raw_err)

    cond = aset.images(0, frames[:2], (96, 96)).numpy()
    assert cond.shape == (2, 3, 96, 96)
    lit = cond.max(1) > 0.2
    assert lit.mean() > 0.02
    # A limb pixel: the middle of the right thigh (hip -> knee) of frame 0, at half size.
    hip, knee = truth[0][8], truth[0][9]
    mx, my = ((hip + knee) / 2 / 2).round().astype(int)
    assert lit[0, my - 1:my + 2, mx - 1:mx + 2].any()
