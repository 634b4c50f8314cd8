"""OpenPose condition images from keypoints, smoothed over time with a Savitzky–Golay filter.

Keypoints come from OpenPose-format JSON (``{"people": [{"pose_keypoints_2d": [x, y, c, ...],
"hand_left_keypoints_2d": ..., "hand_right_keypoints_2d": ..., "face_keypoints_2d": ...}]}``), one
file per frame in a folder (sorted by name = clip order) or one file holding ``{"frames": [...]}``,
or from the CMU body network run on the job's frames (:mod:`.openpose`).
Jittery detections make the ControlNet flicker, so every keypoint track (body, both hands and
the face; the reference smooths only the face) is smoothed along time with
``scipy.signal.savgol_filter`` before it is drawn. People are matched across frames by their
nearest centroid so a track follows one person.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import savgol_filter

from ...errors import InputNotFound, UserError

PARTS = {"body": ("pose_keypoints_2d", 18), "left": ("hand_left_keypoints_2d", 21),
         "right": ("hand_right_keypoints_2d", 21), "face": ("face_keypoints_2d", 70)}
# BODY_25 -> the COCO-18 order the OpenPose ControlNet was trained on.
BODY25_TO_COCO18 = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
LIMBS = [(2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13),
         (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18)]
COLORS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
          (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
          (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
              (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]


def _person(p: dict) -> dict[str, np.ndarray]:
    """One person's parts as ``(K, 3)`` arrays (x, y, confidence); absent parts are zeros."""
    out = {}
    for part, (key, k) in PARTS.items():
        a = np.asarray(p.get(key) or [], np.float32).reshape(-1, 3)
        if part == "body" and len(a) == 25:
            a = a[BODY25_TO_COCO18]
        full = np.zeros((k, 3), np.float32)
        full[:min(k, len(a))] = a[:k]
        out[part] = full
    return out


def read_keypoints(path: str | Path) -> list[list[dict[str, np.ndarray]]]:
    """Per frame, a list of people (see :func:`_person`)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputNotFound(f"no OpenPose .json files in {path}")
        docs = [json.loads(f.read_text()) for f in files]
    elif path.is_file():
        data = json.loads(path.read_text())
        docs = data.get("frames") if isinstance(data, dict) else data
        if not isinstance(docs, list):
            raise UserError(f"{path}: expected {{\"frames\": [{{\"people\": [...]}}, ...]}}")
    else:
        raise InputNotFound(f"pose keypoints not found: {path} (an OpenPose JSON folder or file)")
    return [[_person(p) for p in (d.get("people") or [])] for d in docs]


def _centroid(person) -> np.ndarray | None:
    pts = person["body"]
    ok = pts[:, 2] > 0
    return pts[ok, :2].mean(0) if ok.any() else None


def track_people(frames: list[list[dict]]) -> list[list[dict | None]]:
    """Reorder people so column ``j`` follows one person (greedy nearest-centroid matching)."""
    tracks: list[list[dict | None]] = []
    last: list[np.ndarray | None] = []
    for t, people in enumerate(frames):
        for tr in tracks:
            tr.append(None)
        free = list(range(len(people)))
        for j in range(len(tracks)):
            if last[j] is None or not free:
                continue
            dists = [(np.linalg.norm(c - last[j]) if (c := _centroid(people[i])) is not None else np.inf, i)
                     for i in free]
            d, i = min(dists)
            if np.isfinite(d):
                tracks[j][t] = people[i]
                last[j] = _centroid(people[i])
                free.remove(i)
        for i in free:
            tracks.append([None] * t + [people[i]])
            last.append(_centroid(people[i]))
    return tracks


def smooth_track(track: list[dict | None], window: int = 7, order: int = 2) -> list[dict | None]:
    """Savitzky–Golay smoothing of every keypoint (body, hands, face) of one person over time.

    Gaps (frames where a point was not detected) are filled by linear interpolation for the
    filter only; a point missing in a frame stays missing there."""
    n = len(track)
    out = [None if p is None else {k: v.copy() for k, v in p.items()} for p in track]
    for part, (_, k) in PARTS.items():
        xyc = np.zeros((n, k, 3), np.float32)
        for t, p in enumerate(track):
            if p is not None:
                xyc[t] = p[part]
        for j in range(k):
            seen = xyc[:, j, 2] > 0
            m = int(seen.sum())
            w = min(window, m if m % 2 else m - 1)
            if w <= order:
                continue
            ts = np.arange(n)
            for c in range(2):
                series = np.interp(ts, ts[seen], xyc[seen, j, c])
                smooth = savgol_filter(series, w, order, mode="interp")
                for t in np.nonzero(seen)[0]:
                    out[t][part][j, c] = smooth[t]
    return out


def smooth_keypoints(frames: list[list[dict]], window: int = 7, order: int = 2) -> list[list[dict]]:
    """Track people, smooth each track, and return per-frame people again."""
    tracks = [smooth_track(tr, window, order) for tr in track_people(frames)]
    return [[tr[t] for tr in tracks if tr[t] is not None] for t in range(len(frames))]


def draw_pose(people: list[dict], size: tuple[int, int], scale: tuple[float, float] = (1.0, 1.0),
              threshold: float = 0.05) -> np.ndarray:
    """The OpenPose ControlNet's drawing (coloured limbs, hand skeletons, face dots) on black.

    ``size`` (H, W) of the canvas; ``scale`` (sx, sy) maps keypoint pixels onto it. Returns
    ``(H, W, 3)`` float32 in [0, 1]."""
    h, w = size
    canvas = np.zeros((h, w, 3), np.uint8)
    sx, sy = scale
    stick = max(1, round(4 * min(h, w) / 512))
    for p in people:
        body = p["body"]
        limbs = np.zeros_like(canvas)
        for li, (a, b) in enumerate(LIMBS):
            pa, pb = body[a - 1], body[b - 1]
            if pa[2] < threshold or pb[2] < threshold:
                continue
            xa, ya, xb, yb = pa[0] * sx, pa[1] * sy, pb[0] * sx, pb[1] * sy
            length = float(np.hypot(xa - xb, ya - yb))
            angle = float(np.degrees(np.arctan2(ya - yb, xa - xb)))
            poly = cv2.ellipse2Poly((int((xa + xb) / 2), int((ya + yb) / 2)), (int(length / 2), stick),
                                    int(angle), 0, 360, 1)
            cv2.fillConvexPoly(limbs, poly, COLORS[li])
        canvas = cv2.addWeighted(canvas, 0.4, limbs, 0.6, 0)
        for i, (x, y, c) in enumerate(body):
            if c >= threshold:
                cv2.circle(canvas, (int(x * sx), int(y * sy)), stick, COLORS[i], -1)
        for part in ("left", "right"):
            hand = p[part]
            for ei, (a, b) in enumerate(HAND_EDGES):
                if hand[a, 2] >= threshold and hand[b, 2] >= threshold:
                    hsv = np.uint8([[[int(180 * ei / len(HAND_EDGES)), 255, 255]]])
                    color = tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])
                    cv2.line(canvas, (int(hand[a, 0] * sx), int(hand[a, 1] * sy)),
                             (int(hand[b, 0] * sx), int(hand[b, 1] * sy)), color, max(1, stick // 2))
            for x, y, c in hand:
                if c >= threshold:
                    cv2.circle(canvas, (int(x * sx), int(y * sy)), max(1, stick // 2), (0, 0, 255), -1)
        for x, y, c in p["face"]:
            if c >= threshold:
                cv2.circle(canvas, (int(x * sx), int(y * sy)), max(1, stick // 2), (255, 255, 255), -1)
    return canvas.astype(np.float32) / 255.0


class PoseAnnotator:
    """Keypoints for the whole job, smoothed once in :meth:`fit`, drawn per frame in :meth:`at`.

    The keypoints come from an OpenPose JSON folder/file (``source``) or from a ``detector`` run
    on each of the job's frames in :meth:`fit` (:mod:`.openpose`); either way they are smoothed
    over time the same way before drawing."""

    def __init__(self, source: str, params: dict[str, float], detector=None):
        if not source and detector is None:
            raise UserError("openpose ControlNet needs annotator = an OpenPose body model "
                            "(body_pose_model .safetensors/.pth) or a keypoint JSON folder or file")
        self.detector = detector
        self.raw = [] if detector is not None else read_keypoints(source)
        self.window = int(params.get("smooth_window", 7))
        self.order = int(params.get("smooth_order", 2))
        self.src_size = (params.get("source_height", 0), params.get("source_width", 0))
        self.frames: dict[int, list[dict]] = {}

    def _detect(self, frame_at, index: int) -> list[dict]:
        try:
            frame = frame_at(index)
        except (UserError, IndexError, KeyError):
            return []
        return [] if frame is None else self.detector(frame.image)

    def fit(self, frame_at, indices, spans=None) -> None:
        """Keypoints of the job's frames ``indices``, smoothed over time. ``spans``: ordinal
        ranges of them that are needed (a farm chunk's; None: all). Each is fitted with half a
        smoothing window of the job's frames on either side, so its frames are smoothed exactly
        as in a fit over the whole job."""
        idx = list(indices)
        if self.detector is not None and frame_at is None:
            return
        half = self.window // 2
        for lo, hi in _merged([(0, len(idx) - 1)] if spans is None else spans, half, len(idx)):
            part = idx[lo:hi + 1]
            if self.detector is not None:
                raw = [self._detect(frame_at, i) for i in part]
            else:
                raw = [self.raw[i] if i < len(self.raw) else [] for i in part]
            self.frames.update(zip(part, smooth_keypoints(raw, self.window, self.order)))

    def at(self, index: int, image: np.ndarray, src_hw: tuple[int, int] | None = None) -> np.ndarray:
        h, w = image.shape[:2]
        if self.detector is not None and index not in self.frames:
            # No prepare() over the job's frames: detect on this frame alone, unsmoothed.
            return draw_pose(self.detector(image), (h, w))
        if not self.frames:
            self.fit(None, range(len(self.raw)))
        sh, sw = src_hw or (self.src_size[0] or h, self.src_size[1] or w)
        return draw_pose(self.frames.get(index, []), (h, w), (w / sw, h / sh))


def _merged(spans, pad: int, n: int) -> list[tuple[int, int]]:
    """``spans`` (inclusive ordinal ranges) widened by ``pad`` within ``[0, n)`` and merged where
    they meet: frames within ``pad`` of a savgol fit's ends are fitted differently."""
    out: list[list[int]] = []
    for lo, hi in sorted((max(0, a - pad), min(n - 1, b + pad)) for a, b in spans):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        elif lo <= hi:
            out.append([lo, hi])
    return [(a, b) for a, b in out]
