"""Body-pose detection with the CMU OpenPose body network, from a local weight file.

The network is the one the OpenPose ControlNet's annotator uses (``body_pose_model.pth`` as users
have it from lllyasviel/ControlNet or controlnet_aux, or that file converted to ``.safetensors``):
the first ten VGG-19 convolutions plus ``conv4_3_CPM``/``conv4_4_CPM`` (stride 8, 128 channels),
then six stages of two branches, L1 giving 38 part-affinity-field channels (19 limbs x (x, y)) and
L2 giving 19 heatmaps (18 COCO keypoints + background). The module's parameter names are the CMU
layer names, so the file loads as it is.

Decoding: heatmap peaks by max-pool non-maximum suppression (refined to sub-pixel on the log of
the heatmap, exact for a Gaussian peak), then every candidate limb is scored by the line integral
of its PAF, limbs are taken greedily by score, and limbs that share a keypoint are joined into
people. Each person comes out in :mod:`.pose`'s structure (``body`` ``(18, 3)`` x, y, score, and
empty hands and face), so Savitzky–Golay smoothing and drawing are the keypoint-file path's own.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import UserError

STRIDE = 8
N_PARTS = 18
# The 19 CMU limbs as (part a, part b), 0-based COCO-18 indices, and the PAF channels (x, y) of
# each in the L1 branch's output. The first 17 are the skeleton; the last two (shoulder-ear) only
# confirm people found by the others.
LIMB_PARTS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
              (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17)]
LIMB_PAF = [(12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5),
            (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19),
            (26, 27)]
SKELETON_LIMBS = 17

# (name, in, out, kernel) of the shared trunk; "pool" halves the resolution.
_TRUNK = [("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), "pool",
          ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3), "pool",
          ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3),
          ("conv3_4", 256, 256, 3), "pool",
          ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3), ("conv4_3_CPM", 512, 256, 3),
          ("conv4_4_CPM", 256, 128, 3)]
_BRANCH_OUT = {"L1": 38, "L2": 19}


def _stage_layers(stage: int, branch: str) -> list[tuple[str, int, int, int]]:
    out = _BRANCH_OUT[branch]
    if stage == 1:
        return [(f"conv5_1_CPM_{branch}", 128, 128, 3), (f"conv5_2_CPM_{branch}", 128, 128, 3),
                (f"conv5_3_CPM_{branch}", 128, 128, 3), (f"conv5_4_CPM_{branch}", 128, 512, 1),
                (f"conv5_5_CPM_{branch}", 512, out, 1)]
    cin = 128 + sum(_BRANCH_OUT.values())
    return ([(f"Mconv1_stage{stage}_{branch}", cin, 128, 7)]
            + [(f"Mconv{i}_stage{stage}_{branch}", 128, 128, 7) for i in range(2, 6)]
            + [(f"Mconv6_stage{stage}_{branch}", 128, 128, 1), (f"Mconv7_stage{stage}_{branch}", 128, out, 1)])


class BodyPoseNet(nn.Module):
    """``(B, 3, H, W)`` BGR in [-0.5, 0.5) -> PAFs ``(B, 38, H/8, W/8)``, heatmaps ``(B, 19, H/8, W/8)``.

    Parameters are named exactly as in the CMU model (``conv1_1.weight``,
    ``Mconv1_stage2_L1.weight``, ...)."""

    stages = 6

    def __init__(self):
        super().__init__()
        self.trunk: list[str | None] = []
        for layer in _TRUNK:
            if layer == "pool":
                self.trunk.append(None)
                continue
            self._add(*layer)
            self.trunk.append(layer[0])
        self.branches: dict[tuple[int, str], list[str]] = {}
        for stage in range(1, self.stages + 1):
            for branch in _BRANCH_OUT:
                names = []
                for layer in _stage_layers(stage, branch):
                    self._add(*layer)
                    names.append(layer[0])
                self.branches[stage, branch] = names

    def _add(self, name: str, cin: int, cout: int, k: int) -> None:
        self.add_module(name, nn.Conv2d(cin, cout, k, padding=k // 2))

    def _branch(self, x: torch.Tensor, names: list[str]) -> torch.Tensor:
        for i, name in enumerate(names):
            x = getattr(self, name)(x)
            if i < len(names) - 1:   # the last layer of each branch is linear
                x = F.relu(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name in self.trunk:
            x = F.max_pool2d(x, 2, 2) if name is None else F.relu(getattr(self, name)(x))
        features = x
        paf = self._branch(features, self.branches[1, "L1"])
        heat = self._branch(features, self.branches[1, "L2"])
        for stage in range(2, self.stages + 1):
            x = torch.cat([paf, heat, features], 1)
            paf = self._branch(x, self.branches[stage, "L1"])
            heat = self._branch(x, self.branches[stage, "L2"])
        return paf, heat


def load_body_pose_net(path: str | Path, allow_pickle: bool = False) -> BodyPoseNet:
    """The CMU body model from ``.safetensors``, or from the original ``.pth`` with ``allow_pickle``."""
    from .models import read_state_dict

    sd = read_state_dict(path, allow_pickle)
    # Some re-saves carry the wrapper's prefix (``model0.conv1_1.weight``, ``module.``); the CMU
    # layer names are unique, so the last two parts of a key are enough.
    sd = {".".join(k.split(".")[-2:]): v for k, v in sd.items()}
    net = BodyPoseNet()
    missing, _ = net.load_state_dict(sd, strict=False)
    if missing:
        raise UserError(f"{Path(path).name} is not an OpenPose body model (body_pose_model.pth); "
                        f"missing {missing[0]}")
    return net


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

def find_peaks(heatmaps: np.ndarray, threshold: float = 0.1, sigma: float = 3.0) -> list[np.ndarray]:
    """Keypoint candidates per part.

    ``heatmaps`` ``(P, H, W)``. Returns ``P`` arrays ``(n_p, 3)``: sub-pixel x, y and the peak's
    (smoothed) score."""
    hm = torch.from_numpy(np.ascontiguousarray(heatmaps, dtype=np.float32))[None]
    if sigma > 0:
        radius = int(3 * sigma + 0.5)
        g = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
        g = (g / g.sum()).repeat(hm.shape[1], 1, 1, 1)
        hm = F.conv2d(F.pad(hm, (radius, radius, 0, 0), mode="replicate"), g.view(-1, 1, 1, 2 * radius + 1),
                      groups=hm.shape[1])
        hm = F.conv2d(F.pad(hm, (0, 0, radius, radius), mode="replicate"), g.view(-1, 1, 2 * radius + 1, 1),
                      groups=hm.shape[1])
    hm = hm[0]
    is_peak = (hm == F.max_pool2d(hm[None], 3, 1, 1)[0]) & (hm > threshold)
    log = torch.log(hm.clamp_min(1e-6)).numpy()
    h, w = log.shape[1:]
    out = []
    for p in range(hm.shape[0]):
        ys, xs = np.nonzero(is_peak[p].numpy())
        pts = np.zeros((len(xs), 3), np.float32)
        for n, (y, x) in enumerate(zip(ys, xs)):
            pts[n] = (x + _offset(log[p, y, max(x - 1, 0)], log[p, y, x], log[p, y, min(x + 1, w - 1)]),
                      y + _offset(log[p, max(y - 1, 0), x], log[p, y, x], log[p, min(y + 1, h - 1), x]),
                      float(hm[p, y, x]))
        out.append(_dedupe(pts))
    return out


def _offset(left: float, centre: float, right: float) -> float:
    """Vertex of the parabola through three samples (in log space a Gaussian is one)."""
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def _dedupe(pts: np.ndarray, radius: float = 1.5) -> np.ndarray:
    # A flat-topped peak passes max-pool NMS on every pixel of the plateau; keep one.
    keep: list[np.ndarray] = []
    for pt in pts[np.argsort(-pts[:, 2])]:
        if all(np.hypot(*(pt[:2] - k[:2])) > radius for k in keep):
            keep.append(pt)
    return np.array(keep, np.float32).reshape(-1, 3)


def _limb_connections(a: np.ndarray, b: np.ndarray, paf: np.ndarray, height: int,
                      samples: int, paf_threshold: float) -> list[tuple[int, int, float]]:
    """Greedy one-to-one connections ``(i, j, score)`` between candidates ``a`` and ``b`` of one limb.

    ``paf`` ``(2, H, W)``: the limb's unit-vector field. A pair's score is the mean projection of
    the field on the segment a->b over ``samples`` points, penalised when the limb is longer than
    half the image; a pair needs 80% of the samples above ``paf_threshold``."""
    if not len(a) or not len(b):
        return []
    d = b[None, :, :2] - a[:, None, :2]                                   # (nA, nB, 2)
    norm = np.linalg.norm(d, axis=-1)
    unit = d / np.maximum(norm, 1e-6)[..., None]
    t = np.linspace(0.0, 1.0, samples)
    pts = a[:, None, None, :2] + t[None, None, :, None] * d[:, :, None, :]  # (nA, nB, S, 2)
    h, w = paf.shape[1:]
    xs = np.clip(np.rint(pts[..., 0]).astype(int), 0, w - 1)
    ys = np.clip(np.rint(pts[..., 1]).astype(int), 0, h - 1)
    proj = paf[0, ys, xs] * unit[..., None, 0] + paf[1, ys, xs] * unit[..., None, 1]
    score = proj.mean(-1) + np.minimum(0.5 * height / np.maximum(norm, 1e-6) - 1, 0)
    ok = ((proj > paf_threshold).mean(-1) > 0.8) & (score > 0) & (norm > 0)
    order = sorted(zip(*np.nonzero(ok)), key=lambda ij: -score[ij])
    used_a, used_b, out = set(), set(), []
    for i, j in order:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((int(i), int(j), float(score[i, j])))
    return out


def group_people(peaks: list[np.ndarray], pafs: np.ndarray, samples: int = 10,
                 paf_threshold: float = 0.05, min_parts: int = 4,
                 min_mean_score: float = 0.4) -> list[np.ndarray]:
    """Join limbs into people. ``peaks`` from :func:`find_peaks`, ``pafs`` ``(38, H, W)``.

    Returns one ``(18, 3)`` array (x, y, score; zeros where a part was not found) per person."""
    height = pafs.shape[1]
    # A person: the candidate index of each part (-1 = none), its summed score and part count.
    people: list[dict] = []
    for k, ((pa, pb), (cx, cy)) in enumerate(zip(LIMB_PARTS, LIMB_PAF)):
        conns = _limb_connections(peaks[pa], peaks[pb], pafs[[cx, cy]], height, samples, paf_threshold)
        for i, j, s in conns:
            owners = [p for p in people if p["parts"][pa] == i or p["parts"][pb] == j]
            if len(owners) == 1:
                p = owners[0]
                if p["parts"][pb] != j:
                    if p["parts"][pb] < 0:
                        p["count"] += 1
                    p["parts"][pb] = j
                    p["score"] += peaks[pb][j, 2] + s
            elif len(owners) == 2:
                p, q = owners
                if not ((p["parts"] >= 0) & (q["parts"] >= 0)).any():   # disjoint halves of one person
                    p["parts"] = np.maximum(p["parts"], q["parts"])
                    p["count"] += q["count"]
                    p["score"] += q["score"] + s
                    people = [r for r in people if r is not q]
                elif p["parts"][pb] < 0:
                    p["parts"][pb] = j
                    p["count"] += 1
                    p["score"] += peaks[pb][j, 2] + s
            elif not owners and k < SKELETON_LIMBS:
                parts = np.full(N_PARTS, -1)
                parts[pa], parts[pb] = i, j
                people.append({"parts": parts, "count": 2,
                               "score": peaks[pa][i, 2] + peaks[pb][j, 2] + s})
    out = []
    for p in people:
        if p["count"] < min_parts or p["score"] / p["count"] < min_mean_score:
            continue
        body = np.zeros((N_PARTS, 3), np.float32)
        for part, idx in enumerate(p["parts"]):
            if idx >= 0:
                body[part] = peaks[part][idx]
        out.append(body)
    return out


def decode(heatmaps: np.ndarray, pafs: np.ndarray, threshold: float = 0.1, sigma: float = 3.0,
           **group_kw) -> list[np.ndarray]:
    """Heatmaps ``(18 or 19, H, W)`` and PAFs ``(38, H, W)`` at one resolution -> people (``(18, 3)``)."""
    return group_people(find_peaks(heatmaps[:N_PARTS], threshold, sigma), pafs, **group_kw)


def as_pose_person(body: np.ndarray) -> dict[str, np.ndarray]:
    """One detected body in :mod:`.pose`'s per-person structure (no hands or face)."""
    from .pose import PARTS

    person = {part: np.zeros((k, 3), np.float32) for part, (_, k) in PARTS.items()}
    person["body"] = body.astype(np.float32)
    return person


# ---------------------------------------------------------------------------------------------
# The detector
# ---------------------------------------------------------------------------------------------

class BodyPoseDetector:
    """``(H, W, 3)`` float RGB in [0, 1] -> people in :mod:`.pose`'s structure, in image pixels.

    The frame is scaled so its height is ``boxsize`` (368, the CMU training size) times each scale
    multiplier; the maps of several scales are averaged at the first scale's resolution, and
    decoded there (not at full resolution: 57 full-HD float maps would cost half a GB per frame)."""

    MULTIPLIERS = (1.0, 0.5, 1.5, 2.0)

    def __init__(self, net: BodyPoseNet, device: torch.device | str = "cpu", boxsize: int = 368,
                 scales: int = 1, threshold: float = 0.1):
        self.net = net.eval().to(device)
        self.device = torch.device(device)
        self.boxsize = int(boxsize)
        self.multipliers = self.MULTIPLIERS[:max(1, min(int(scales), len(self.MULTIPLIERS)))]
        self.threshold = threshold

    @torch.no_grad()
    def maps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """Averaged PAFs ``(38, h, w)``, heatmaps ``(19, h, w)`` and the (x, y) scale from the
        image to them."""
        h, w = image.shape[:2]
        base = self.boxsize * self.multipliers[0] / h
        out_hw = (max(1, round(h * base)), max(1, round(w * base)))
        bgr = np.ascontiguousarray(image[:, :, ::-1], dtype=np.float32) * 255.0
        paf_sum = heat_sum = None
        for m in self.multipliers:
            s = self.boxsize * m / h
            sh, sw = max(1, round(h * s)), max(1, round(w * s))
            x = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_CUBIC)
            ph, pw = -sh % STRIDE, -sw % STRIDE   # pad to the stride with the model's grey
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), constant_values=128.0)
            t = torch.from_numpy(x / 256.0 - 0.5).permute(2, 0, 1)[None].float().to(self.device)
            paf, heat = self.net(t)
            both = F.interpolate(torch.cat([paf, heat], 1), scale_factor=STRIDE, mode="bicubic",
                                 align_corners=False)[:, :, :sh, :sw]
            both = F.interpolate(both, size=out_hw, mode="bilinear", align_corners=False)[0]
            paf_sum = both[:38] if paf_sum is None else paf_sum + both[:38]
            heat_sum = both[38:] if heat_sum is None else heat_sum + both[38:]
        n = len(self.multipliers)
        return ((paf_sum / n).float().cpu().numpy(), (heat_sum / n).float().cpu().numpy(),
                (out_hw[1] / w, out_hw[0] / h))

    def __call__(self, image: np.ndarray) -> list[dict[str, np.ndarray]]:
        pafs, heat, (sx, sy) = self.maps(image)
        people = []
        for body in decode(heat, pafs, self.threshold):
            found = body[:, 2] > 0
            body[found, 0] /= sx
            body[found, 1] /= sy
            people.append(as_pose_person(body))
        return people


def detector_from_file(path: str | Path, params: dict[str, float], allow_pickle: bool = False,
                       device: torch.device | str = "cpu") -> BodyPoseDetector:
    return BodyPoseDetector(load_body_pose_net(path, allow_pickle), device,
                            boxsize=int(params.get("boxsize", 368)), scales=int(params.get("scales", 1)),
                            threshold=float(params.get("threshold", 0.1)))
