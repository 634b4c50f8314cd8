"""Annotators that need weights the user points to (nothing is downloaded).

* depth: a local transformers depth-estimation folder (DPT / MiDaS-hybrid, Depth Anything:
  ``config.json`` + ``model.safetensors`` [+ ``preprocessor_config.json``]).
* softedge: the HED edge network ControlNet 1.1 was trained with (5 VGG-style blocks, one side
  output each, averaged), from a ``.safetensors`` file (``ControlNetHED.pth`` converted; the .pth
  itself is a pickle and needs ``allow_pickle``).
* openpose: the CMU body model (``body_pose_model.pth`` or its ``.safetensors``) run on every
  frame of the job (:mod:`.openpose`), or keypoint JSON; smoothed over time (:mod:`.pose`).
* any kind: a folder of precomputed condition images (sorted by name = clip order), for maps
  made by other tools.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import InputNotFound, UserError

WEIGHT_SUFFIXES = {".safetensors", ".pth", ".pt", ".ckpt", ".bin"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".webp"}


class ImageFolder:
    """Precomputed condition maps: the i-th image (sorted) is frame i's."""

    def __init__(self, folder: Path):
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def at(self, index: int, image: np.ndarray, src_hw=None) -> np.ndarray:
        from .annotators import load_image

        if index >= len(self.files):
            raise UserError(f"condition image folder has {len(self.files)} images; frame {index} has none")
        cond = load_image(str(self.files[index]))
        return cv2.resize(cond, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)


class _DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int, layers: int):
        super().__init__()
        self.convs = nn.Sequential(*[nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1) for i in range(layers)])
        self.projection = nn.Conv2d(cout, 1, 1)

    def forward(self, x, down: bool = False):
        if down:
            x = F.max_pool2d(x, 2, 2)
        for conv in self.convs:
            x = F.relu(conv(x))
        return x, self.projection(x)


class HED(nn.Module):
    """``(B, 3, H, W)`` RGB in [0, 255] -> five ``(B, 1, h_i, w_i)`` edge logits."""

    def __init__(self):
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.block1 = _DoubleConv(3, 64, 2)
        self.block2 = _DoubleConv(64, 128, 2)
        self.block3 = _DoubleConv(128, 256, 3)
        self.block4 = _DoubleConv(256, 512, 3)
        self.block5 = _DoubleConv(512, 512, 3)

    def forward(self, x):
        h, p1 = self.block1(x - self.norm)
        h, p2 = self.block2(h, True)
        h, p3 = self.block3(h, True)
        h, p4 = self.block4(h, True)
        _, p5 = self.block5(h, True)
        return p1, p2, p3, p4, p5


class SoftEdge:
    def __init__(self, weights: str, allow_pickle: bool, device: torch.device):
        from .models import read_state_dict

        self.net = HED()
        sd = read_state_dict(weights, allow_pickle)
        missing, _ = self.net.load_state_dict(sd, strict=False)
        if missing:
            raise UserError(f"{Path(weights).name} is not a HED softedge model (missing {missing[0]})")
        self.net.eval().to(device)
        self.device = device

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        x = torch.from_numpy(image * 255.0).permute(2, 0, 1)[None].float().to(self.device)
        sides = [F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False) for p in self.net(x)]
        edge = torch.sigmoid(torch.stack(sides).mean(0))[0, 0].cpu().numpy()
        return np.repeat(edge[:, :, None], 3, axis=2).astype(np.float32)


class Depth:
    """A transformers depth model from a local folder; output normalised to [0, 1] per frame
    (near = bright, as the depth ControlNet expects)."""

    def __init__(self, folder: str, device: torch.device):
        from transformers import AutoModelForDepthEstimation

        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(folder, local_files_only=True,
                                                                     use_safetensors=True).eval().to(device)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load depth model {folder}: {str(exc).splitlines()[0]}") from None
        self.device = device
        self.size = 384

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        side = self.size // 14 * 14 if "dinov2" in str(type(self.model.config)).lower() else self.size
        x = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
        x = (x - 0.5) / 0.5 if getattr(self.model.config, "model_type", "") == "dpt" else \
            (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        t = torch.from_numpy(x).permute(2, 0, 1)[None].float().to(self.device)
        depth = self.model(pixel_values=t).predicted_depth
        depth = F.interpolate(depth[:, None], size=(h, w), mode="bicubic", align_corners=False)[0, 0]
        d = depth.cpu().numpy()
        d = (d - d.min()) / max(1e-6, float(d.max() - d.min()))
        return np.repeat(d[:, :, None], 3, axis=2).astype(np.float32)


def make(kind: str, weights: str, params: dict[str, float], allow_pickle: bool = False,
         device=None):
    from ...devices import default_device

    device = default_device(device)
    path = Path(weights).expanduser() if weights else None
    if path is not None and path.is_dir() and not (path / "config.json").exists() and kind != "openpose":
        return ImageFolder(path)
    if kind == "openpose":
        from .pose import PoseAnnotator
        if path is not None and path.suffix.lower() in WEIGHT_SUFFIXES:
            from .openpose import detector_from_file
            return PoseAnnotator(weights, params, detector_from_file(path, params, allow_pickle, device))
        return PoseAnnotator(weights, params)
    if path is None:
        what = {"depth": "a local depth model folder (e.g. Depth-Anything-V2-Small-hf or dpt-hybrid-midas)",
                "softedge": "a HED softedge .safetensors (ControlNetHED)"}[kind]
        raise UserError(f"{kind} ControlNet needs annotator = {what}, or a folder of precomputed maps")
    if not path.exists():
        raise InputNotFound(f"{kind} annotator not found: {path}")
    if kind == "depth":
        return Depth(str(path), device)
    return SoftEdge(str(path), allow_pickle, device)
