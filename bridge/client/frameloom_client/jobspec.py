"""JobSpec without the engine: settings and job files <-> ``frameloom.v1.JobSpec``.

The proto message is the one job description. The CLI, the Blender, Resolve and OpenFX bridges
and farm scripts all build it here, with :func:`build_spec`, so a setting means the same thing
wherever it was typed. A job file is the message written as a TOML (or JSON) table, parsed with
protobuf's own JSON mapping: the file and the proto cannot drift apart, and an unknown key is an
error that names it.

**One path rule**: paths inside a job file are relative to the job file. :func:`load_spec` makes
them absolute, :func:`save_spec` writes them relative to where the file goes, and everything in
between holds absolute paths (or names the server resolves, like ``builtin:tiny``).

Examples:
    >>> spec = build_spec(style="filter:cartoon", params={"levels": 6}, deflicker="window",
    ...                   window=2, keyframes=[{"frame": 0, "params": {"levels": 4}}])
    >>> spec.style.kind, spec.temporal.window, spec.keyframes[0].params["levels"]
    ('filter:cartoon', 2, 4.0)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

from google.protobuf import json_format

from .errors import InputNotFound, UserError
from .schedule import DEFAULT_GUIDANCE, DEFAULT_STRENGTH, FrameSettings, Schedule
from .v1 import frameloom_pb2 as pb

__all__ = ["absolute_paths", "DEFAULT_GUIDANCE", "DEFAULT_STRENGTH", "FrameSettings", "JobSpec", "SPEC_SETTINGS",
           "Schedule", "TEMPORAL_MODES", "build_spec", "keyframes_from_tracks", "load_keyframes",
           "load_spec", "map_paths", "parse_frames", "relative_paths", "save_spec", "spec_from_dict", "spec_hash",
           "spec_to_dict", "spec_to_toml", "validate"]

JobSpec = pb.JobSpec
TEMPORAL_MODES = ("none", "window", "fast")
SCHEDULERS = ("ddim", "euler", "dpmpp")
DTYPES = ("auto", "float16", "bfloat16", "float32")
CODECS = ("auto", "h264", "prores", "png", "tiff")
# "image": the frames themselves (or, with an annotator folder, precomputed condition maps).
CONTROLNET_KINDS = ("depth", "softedge", "canny", "openpose", "tile", "image")


def _tomllib():
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10: the tomli dependency
        import tomli as tomllib
    return tomllib


# ---------------------------------------------------------------------------------------------
# Dicts and files
# ---------------------------------------------------------------------------------------------

def spec_from_dict(data: Mapping) -> pb.JobSpec:
    """A JobSpec from a plain dict (a parsed TOML/JSON job file); unknown keys are errors."""
    spec = pb.JobSpec()
    try:
        json_format.ParseDict(data, spec, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise UserError(f"invalid job spec: {exc}") from None
    return spec


def spec_to_dict(spec: pb.JobSpec) -> dict:
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def _read_table(path: Path) -> dict:
    if not path.is_file():
        raise InputNotFound(f"job file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix.lower() == ".json" else _tomllib().loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot parse job file {path}: {exc}") from None


def load_spec(path: str | os.PathLike) -> pb.JobSpec:
    """Read a TOML (``.toml``) or JSON job file; its relative paths resolve against its folder."""
    path = Path(path)
    spec = spec_from_dict(_read_table(path))
    return map_paths(spec, _absolute_from(path.resolve().parent))


def save_spec(spec: pb.JobSpec, path: str | os.PathLike) -> Path:
    """Write ``spec`` as a TOML job file at ``path``, its paths relative to the file's folder
    (relative paths in ``spec`` are taken from the current directory)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec_to_toml(relative_paths(spec, path.resolve().parent)), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write job file {path}: {exc}") from None
    return path


def load_keyframes(path: str | os.PathLike) -> list[pb.Keyframe]:
    """The ``[[keyframes]]`` of a TOML/JSON file (a job file, or a file of keyframes only)."""
    path = Path(path)
    if path.suffix.lower() not in (".toml", ".json"):
        raise UserError(f"a keyframes file must be .toml or .json, got {path}")
    data = _read_table(path)
    return list(spec_from_dict({"keyframes": data.get("keyframes", [])}).keyframes)


def spec_to_toml(spec: pb.JobSpec) -> str:
    """A JobSpec as the text of a TOML job file (the inverse of parsing one)."""
    return _toml_message(spec, prefix="").lstrip("\n")


def _toml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        raise UserError("a job with embedded image bytes cannot be written as TOML; use paths")
    return json.dumps(v)


def _toml_message(msg, prefix: str) -> str:
    scalars, tables = [], []
    for fd, value in msg.ListFields():
        name = f"{prefix}{fd.name}"
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            tables.append(f"\n[{name}]\n" + "".join(
                f"{json.dumps(str(k))} = {_toml_scalar(v)}\n" for k, v in sorted(value.items())))
        elif fd.message_type is not None and fd.is_repeated:
            tables.extend(f"\n[[{name}]]\n" + _toml_message(item, f"{name}.").lstrip("\n")
                          for item in value)
        elif fd.message_type is not None:
            tables.append(f"\n[{name}]\n" + _toml_message(value, f"{name}.").lstrip("\n"))
        elif fd.is_repeated:
            scalars.append(f"{fd.name} = [{', '.join(_toml_scalar(v) for v in value)}]\n")
        elif fd.enum_type is not None:
            scalars.append(f"{fd.name} = {json.dumps(fd.enum_type.values_by_number[value].name)}\n")
        else:
            scalars.append(f"{fd.name} = {_toml_scalar(value)}\n")
    return "".join(scalars) + "".join(tables)


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------

def _is_name(value: str) -> bool:
    """Values that are names, not paths: empty, or a builtin model."""
    return not value or value.startswith("builtin:")


def map_paths(spec: pb.JobSpec, fn: Callable[[str], str]) -> pb.JobSpec:
    """A copy of ``spec`` with ``fn`` applied to every path it holds (input, output, the guide,
    keyframe and reference images, models, ControlNets, annotators, LoRAs, embeddings, the
    tokenizer); names such as ``builtin:tiny`` and empty fields are left alone."""
    out = pb.JobSpec()
    out.CopyFrom(spec)

    def fix(msg, attr: str) -> None:
        value = getattr(msg, attr)
        if not _is_name(value):
            setattr(msg, attr, fn(value))

    fix(out, "input")
    fix(out, "output")
    if out.HasField("temporal"):
        fix(out.temporal, "guide")
    for img in out.style.keyframe_images:
        fix(img, "path")
    if out.style.HasField("diffusion"):
        d = out.style.diffusion
        fix(d, "model")
        fix(d, "tokenizer")
        for cn in d.controlnets:
            fix(cn, "model")
            fix(cn, "annotator")
        for lora in d.loras:
            fix(lora, "path")
        for img in d.reference_images:
            fix(img, "path")
        for i, emb in enumerate(d.embeddings):
            if not _is_name(emb):
                d.embeddings[i] = fn(emb)
    return out


def _absolute_from(base: Path) -> Callable[[str], str]:
    return lambda value: value if os.path.isabs(value) else os.path.normpath(str(base / value))


def relative_paths(spec: pb.JobSpec, base: str | os.PathLike) -> pb.JobSpec:
    """``spec`` as a job file in folder ``base`` holds it: every path relative to ``base``
    (relative paths in ``spec`` are taken from the current directory)."""
    base = os.path.abspath(base)

    def relative(value: str) -> str:
        absolute = os.path.abspath(value)
        try:
            return Path(os.path.relpath(absolute, base)).as_posix()
        except ValueError:   # another drive (Windows): only an absolute path can say it
            return absolute

    return map_paths(spec, relative)


def absolute_paths(spec: pb.JobSpec, base: str | os.PathLike | None = None) -> pb.JobSpec:
    """``spec`` with its relative paths made absolute from ``base`` (default: the current
    directory): what a job sent to a server must hold."""
    return map_paths(spec, _absolute_from(Path(base or os.getcwd()).resolve()))


# ---------------------------------------------------------------------------------------------
# Validation and identity
# ---------------------------------------------------------------------------------------------

def validate(spec: pb.JobSpec) -> None:
    """Checks that need no media and no models. Raises :class:`UserError` naming the field."""
    if spec.HasField("frames"):
        r = spec.frames
        if r.start < 0:
            raise UserError(f"frames.start must be >= 0, got {r.start}")
        if r.HasField("end") and r.end < r.start:
            raise UserError(f"frames.end ({r.end}) is before frames.start ({r.start})")
        if r.step < 0:
            raise UserError(f"frames.step must be >= 1, got {r.step}")
    d = spec.style.diffusion
    if d.HasField("strength") and not 0.0 <= d.strength <= 1.0:
        raise UserError(f"strength must be in [0, 1], got {d.strength}")
    if d.HasField("guidance") and not (math.isfinite(d.guidance) and d.guidance >= 0):
        raise UserError(f"guidance must be a number >= 0, got {d.guidance}")
    if d.steps < 0 or d.steps > 1000:
        raise UserError(f"steps must be in 1..1000, got {d.steps}")
    if d.scheduler and d.scheduler not in SCHEDULERS:
        raise UserError(f"unknown scheduler {d.scheduler!r}; use {', '.join(SCHEDULERS)}")
    if d.dtype and d.dtype not in DTYPES:
        raise UserError(f"unknown dtype {d.dtype!r}; use {', '.join(DTYPES)}")
    for name in ("width", "height", "batch_size", "window", "window_overlap"):
        if getattr(d, name) < 0:
            raise UserError(f"diffusion.{name} must be >= 0, got {getattr(d, name)}")
    for k in spec.keyframes:
        if k.frame < 0:
            raise UserError(f"keyframe frame must be >= 0, got {k.frame}")
        if k.HasField("strength") and not 0.0 <= k.strength <= 1.0:
            raise UserError(f"keyframe {k.frame}: strength must be in [0, 1], got {k.strength}")
        numbers = [*k.params.values(), *k.controlnet_scales.values()]
        if k.HasField("guidance"):
            numbers.append(k.guidance)
        if not all(math.isfinite(v) for v in numbers):
            raise UserError(f"keyframe {k.frame}: values must be finite numbers")
    frames = [k.frame for k in spec.keyframes]
    if len(set(frames)) != len(frames):
        raise UserError("two keyframes sit on the same frame")
    t = spec.temporal
    if t.mode and t.mode not in TEMPORAL_MODES:
        raise UserError(f"unknown temporal mode {t.mode!r}; use {', '.join(TEMPORAL_MODES)}")
    for name in ("window", "patch_size", "iterations", "batch_size"):
        if getattr(t, name) < 0:
            raise UserError(f"temporal.{name} must be >= 0, got {getattr(t, name)}")
    if t.patch_size and t.patch_size % 2 == 0:
        raise UserError(f"temporal.patch_size must be odd, got {t.patch_size}")
    if t.HasField("guide_weight") and not (math.isfinite(t.guide_weight) and t.guide_weight >= 0):
        raise UserError(f"temporal.guide_weight must be a number >= 0, got {t.guide_weight}")
    if t.guide and t.mode == "none":
        raise UserError("temporal.guide needs a deflicker mode (window or fast), not none")
    if not all(math.isfinite(v) for v in spec.style.params.values()):
        raise UserError("style.params must be finite numbers")
    o = spec.output_options
    if o.codec and o.codec not in CODECS:
        raise UserError(f"unknown codec {o.codec!r}; use {', '.join(CODECS)}")
    if o.bit_depth not in (0, 8, 16):
        raise UserError(f"output bit depth must be 8 or 16, got {o.bit_depth}")
    if o.crf < 0 or o.crf > 51:
        raise UserError(f"crf must be in 0..51, got {o.crf}")


def spec_hash(spec: pb.JobSpec) -> str:
    """What of a spec decides the pixels: everything but names, paths of the clip, the frame
    range, delivery and priority. Two specs with one hash make the same frames of one clip."""
    s = pb.JobSpec()
    s.CopyFrom(spec)
    for name in ("name", "input", "output", "frames", "output_options", "priority"):
        s.ClearField(name)
    return hashlib.sha256(s.SerializeToString(deterministic=True)).hexdigest()


# ---------------------------------------------------------------------------------------------
# Building a spec from settings
# ---------------------------------------------------------------------------------------------

# START-END[/STEP]; ':' also separates (START:END), and ':' or 'x' the step, as editors write them.
_RANGE = re.compile(r"^\s*(\d*)\s*(?:(-|:)\s*(\d*))?\s*(?:(?:/|:|x)\s*(\d+))?\s*$")

#: Settings that apply to each style; the rest of :data:`SPEC_SETTINGS` apply to every style.
_DIFFUSION = {"model", "prompt", "negative_prompt", "seed", "steps", "strength", "guidance",
              "width", "height", "scheduler", "controlnets", "annotators", "loras", "embeddings",
              "tokenizer", "dtype", "compile", "batch_size", "allow_pickle", "cross_frame",
              "deflicker_steps", "reference_images", "diffusion_window", "window_overlap"}
_PROPAGATE = {"keyframe_images"}
_COMMON = {"name", "input", "output", "frames", "priority", "style", "params", "deflicker",
           "window", "guide_weight", "patch_size", "iterations", "compensate", "temporal_seed",
           "guide", "codec", "crf", "no_audio", "bit_depth", "report", "keyframes"}
#: Every setting :func:`build_spec` knows.
SPEC_SETTINGS = frozenset(_COMMON | _DIFFUSION | _PROPAGATE)


def parse_frames(value) -> pb.FrameRange | None:
    """A frame range from ``"100-219"``, ``"100-"``, ``"-50"``, ``"7"``, ``"0-99/2"``, a
    ``(start, end[, step])`` tuple (end None: to the clip's end), a dict or a FrameRange."""
    if value is None or value == "":
        return None
    if isinstance(value, pb.FrameRange):
        return value
    if isinstance(value, Mapping):
        return spec_from_dict({"frames": dict(value)}).frames
    if isinstance(value, str):
        m = _RANGE.match(value)
        if not m or not (m.group(1) or m.group(3)):
            raise UserError(f"bad frame range {value!r}; expected START-END[/STEP], e.g. 100-219 "
                            "or 0-99/2")
        start = int(m.group(1)) if m.group(1) else 0
        end = (int(m.group(3)) if m.group(3) else None) if m.group(2) else start
        step = int(m.group(4)) if m.group(4) else 1
    elif isinstance(value, Sequence) and 1 <= len(value) <= 3:
        start = int(value[0])
        end = int(value[1]) if len(value) > 1 and value[1] is not None else None
        step = int(value[2]) if len(value) > 2 else 1
    else:
        raise UserError(f"bad frame range {value!r}")
    if step < 1:
        raise UserError(f"bad frame range {value!r}: step must be >= 1")
    if end is not None and end < start:
        raise UserError(f"bad frame range {value!r}: end is before start")
    r = pb.FrameRange(start=start, step=step)
    if end is not None:
        r.end = end
    return r


def _number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UserError(f"{name} must be a finite number, got {value!r}")
    return number


def _integer(name: str, value) -> int:
    number = _number(name, value)
    if number != int(number):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _split_scaled(text: str, what: str) -> tuple[str, float | None]:
    """``PATH@NUMBER`` -> (path, number); a plain path -> (path, None)."""
    if "@" in text:
        path, _, value = text.rpartition("@")
        try:
            return path, float(value)
        except ValueError:
            raise UserError(f"bad {what} {text!r}; expected PATH@NUMBER") from None
    return text, None


def _controlnet(item, annotators: Mapping[str, str]) -> dict:
    if isinstance(item, pb.ControlNetSpec):
        item = json_format.MessageToDict(item, preserving_proto_field_name=True)
    if isinstance(item, str):
        if "=" not in item:
            raise UserError(f"bad ControlNet {item!r}; expected KIND=PATH[@SCALE]")
        kind, rest = item.split("=", 1)
        path, scale = _split_scaled(rest, "ControlNet")
        item = {"kind": kind.strip(), "model": path.strip()}
        if scale is not None:
            item["scale"] = scale
    cn = dict(item)
    if cn.get("kind") not in CONTROLNET_KINDS:
        raise UserError(f"unknown ControlNet kind {cn.get('kind')!r}; use "
                        f"{', '.join(CONTROLNET_KINDS)}")
    if cn.get("scale") is None:
        cn.pop("scale", None)
    else:
        cn["scale"] = _number(f"ControlNet {cn['kind']} scale", cn["scale"])
    if not cn.get("annotator") and annotators.get(cn["kind"]):
        cn["annotator"] = annotators[cn["kind"]]
    return {k: v for k, v in cn.items() if v not in ("", None, {})}


def _lora(item) -> dict:
    if isinstance(item, pb.LoraSpec):
        return json_format.MessageToDict(item, preserving_proto_field_name=True)
    if isinstance(item, str):
        path, weight = _split_scaled(item, "LoRA")
        return {"path": path, **({"weight": weight} if weight is not None else {})}
    return {k: v for k, v in dict(item).items() if v is not None}


def _images(items, what: str) -> list[dict]:
    """Keyframe/reference images: ``{frame: path}``, ``[(frame, path)]`` or KeyframeImage dicts."""
    if isinstance(items, Mapping):
        items = sorted(items.items())
    out = []
    for item in items:
        if isinstance(item, pb.KeyframeImage):
            item = json_format.MessageToDict(item, preserving_proto_field_name=True)
        elif isinstance(item, (str, os.PathLike)):
            item = {"path": os.fspath(item)}
        elif not isinstance(item, Mapping):
            frame, path = item
            item = {"frame": _integer(f"{what} frame", frame), "path": os.fspath(path)}
        out.append(dict(item))
    return out


def _cross_frame(value) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    if value:
        return {"enabled": True, "first_frame": True, "previous_frames": 1}
    return {"enabled": False}


def _deflicker_steps(value) -> list[int]:
    if isinstance(value, str):
        try:
            return [int(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"bad deflicker steps {value!r}; e.g. 5,10,15") from None
    return [_integer("deflicker step", v) for v in value]


def _keyframe(item) -> dict:
    if isinstance(item, pb.Keyframe):
        return json_format.MessageToDict(item, preserving_proto_field_name=True)
    return {k: v for k, v in dict(item).items() if v is not None}


def build_spec(settings: Mapping[str, Any] | None = None, /, *, strict: bool = True,
               base_dir: str | os.PathLike | None = None, **more) -> pb.JobSpec:
    """The JobSpec that ``settings`` describe, validated; the one settings -> JobSpec builder.

    ``settings`` (a mapping, keyword arguments, or both) use the names of the command line's
    options; ``None`` or ``""`` means "not set, use the default". The settings:

    - job: ``name``, ``input``, ``output`` (paths), ``frames`` (``"0-99/2"``, a tuple or a dict),
      ``priority``; ``keyframes``: Keyframe dicts or messages, in source frame indices.
    - style: ``style`` (``"identity"``, ``"filter:cartoon"``, ``"diffusion"``, ``"propagate"``,
      ...; default ``"diffusion"`` with a ``model``, else ``"filter:cartoon"``) and ``params``
      (the stylizer's numbers).
    - diffusion: ``model``, ``prompt``, ``negative_prompt``, ``seed``, ``steps``, ``strength``,
      ``guidance``, ``width``, ``height``, ``scheduler``, ``controlnets`` (dicts, messages or
      ``"KIND=PATH[@SCALE]"``), ``annotators`` (``{kind: path}`` for those ControlNets),
      ``loras`` (dicts or ``"PATH[@WEIGHT]"``), ``embeddings``, ``tokenizer``, ``dtype``,
      ``compile``, ``batch_size``, ``allow_pickle``, ``cross_frame`` (bool or dict),
      ``deflicker_steps``, ``reference_images``, ``diffusion_window``, ``window_overlap``.
    - propagate: ``keyframe_images`` (``{frame: path}`` or a list).
    - temporal: ``deflicker`` (``"window"``, ``"fast"``, ``"none"``, or a bool), ``window``,
      ``guide_weight``, ``patch_size``, ``iterations``, ``compensate``, ``temporal_seed``,
      ``guide`` (the original clip, to deflicker a clip stylized elsewhere).
    - output: ``codec``, ``crf``, ``no_audio``, ``bit_depth``, ``report`` (also write a flicker
      report beside the output).

    An unknown setting is an error. With ``strict`` (the command line), a setting that does not
    apply to the chosen style (a ``model`` for a filter) is an error too; without it (an
    editor's panel, which holds every field), it is left out. ``base_dir``: relative paths are
    made absolute from it (None: kept as given).
    """
    s = {**(settings or {}), **more}
    unknown = sorted(set(s) - SPEC_SETTINGS)
    if unknown:
        raise UserError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    s = {k: v for k, v in s.items() if v is not None and not (isinstance(v, str) and v == "")}
    style = s.get("style") or ("diffusion" if s.get("model") else "filter:cartoon")
    applies = _COMMON | (_DIFFUSION if style == "diffusion" else set()) | \
        (_PROPAGATE if style == "propagate" else set())
    stray = sorted(k for k in s if k not in applies and s[k] not in ([], {}, (), False))
    if stray and strict:
        raise UserError(f"{', '.join(stray)} only appl{'y' if len(stray) > 1 else 'ies'} to "
                        f"other styles, not {style}")
    s = {k: v for k, v in s.items() if k in applies}

    data: dict[str, Any] = {"style": {"kind": style}}
    for key in ("name", "input", "output"):
        if key in s:
            data[key] = os.fspath(s[key])
    if "priority" in s:
        data["priority"] = _integer("priority", s["priority"])
    frames = parse_frames(s.get("frames"))
    if frames is not None:
        data["frames"] = json_format.MessageToDict(frames, preserving_proto_field_name=True)
    params = {str(k): _number(f"parameter {k}", v) for k, v in dict(s.get("params", {})).items()}
    if params:
        data["style"]["params"] = params

    if style == "diffusion":
        if not s.get("model"):
            raise UserError("the diffusion style needs a model (a .safetensors file, a diffusers "
                            "folder, or builtin:tiny)")
        d: dict[str, Any] = {"model": os.fspath(s["model"]),
                             "cross_frame": _cross_frame(s.get("cross_frame", True))}
        for key in ("prompt", "negative_prompt", "scheduler", "dtype"):
            if key in s:
                d[key] = str(s[key])
        for key in ("seed", "steps", "width", "height", "batch_size", "window_overlap"):
            if key in s:
                d[key] = _integer(key, s[key])
        if "diffusion_window" in s:
            d["window"] = _integer("diffusion_window", s["diffusion_window"])
        for key in ("strength", "guidance"):
            if key in s:
                d[key] = _number(key, s[key])
        for key in ("compile", "allow_pickle"):
            if s.get(key):
                d[key] = True
        if "tokenizer" in s:
            d["tokenizer"] = os.fspath(s["tokenizer"])
        annotators = {str(k): os.fspath(v) for k, v in dict(s.get("annotators", {})).items()}
        d["controlnets"] = [_controlnet(c, annotators) for c in s.get("controlnets", ())]
        d["loras"] = [_lora(item) for item in s.get("loras", ())]
        d["embeddings"] = [os.fspath(e) for e in s.get("embeddings", ())]
        d["reference_images"] = _images(s.get("reference_images", ()), "reference image")
        if "deflicker_steps" in s:
            d["deflicker_steps"] = _deflicker_steps(s["deflicker_steps"])
        data["style"]["diffusion"] = {k: v for k, v in d.items() if v not in ([], {}, "")}
    if style == "propagate":
        data["style"]["keyframe_images"] = _images(s.get("keyframe_images", ()), "keyframe image")

    mode = s.get("deflicker", "window")
    mode = {True: "window", False: "none"}.get(mode, mode) if isinstance(mode, bool) else str(mode)
    temporal: dict[str, Any] = {"mode": mode}
    for key in ("window", "patch_size", "iterations"):
        if key in s:
            temporal[key] = _integer(key, s[key])
    if "temporal_seed" in s:
        temporal["seed"] = _integer("temporal_seed", s["temporal_seed"])
    if "guide_weight" in s:
        temporal["guide_weight"] = _number("guide_weight", s["guide_weight"])
    if s.get("compensate"):
        temporal["compensate"] = True
    if "guide" in s:
        temporal["guide"] = os.fspath(s["guide"])
    data["temporal"] = temporal

    output = {"codec": "" if s.get("codec") == "auto" else s.get("codec", ""),
              "crf": _integer("crf", s.get("crf", 0)), "no_audio": bool(s.get("no_audio")),
              "bit_depth": _integer("bit_depth", s.get("bit_depth", 0)),
              "report": bool(s.get("report"))}
    output = {k: v for k, v in output.items() if v}
    if output:
        data["output_options"] = output
    keyframes = [_keyframe(k) for k in s.get("keyframes", ())]
    if keyframes:
        data["keyframes"] = keyframes

    spec = spec_from_dict(data)
    if base_dir is not None:
        spec = absolute_paths(spec, base_dir)
    validate(spec)
    return spec


def keyframes_from_tracks(tracks: Mapping[str, Iterable[tuple[int, Any]]], *,
                          tolerance: float = 1e-6) -> list[pb.Keyframe]:
    """Keyframes from per-setting samples, the shape every host's animation has.

    ``tracks`` maps a setting to ``(source frame, value)`` samples: ``"strength"``,
    ``"guidance"``, ``"seed"``, ``"prompt"``, ``"negative_prompt"``, ``"param:NAME"`` (a
    stylizer parameter) or ``"controlnet:KIND"`` (a ControlNet's scale). Numeric samples that
    linear interpolation between their kept neighbours reproduces within ``tolerance`` are
    dropped, so a host sampled at every frame sends one keyframe per change of slope, and the
    server's interpolation gives back every sample. Returns one Keyframe per frame, in order.
    """
    by_frame: dict[int, pb.Keyframe] = {}
    for name, samples in tracks.items():
        samples = sorted((int(f), v) for f, v in samples)
        if not samples:
            continue
        if len({f for f, _ in samples}) != len(samples):
            raise UserError(f"track {name!r} has two samples on one frame")
        if name in ("prompt", "negative_prompt"):
            kept = [samples[0]] + [b for a, b in zip(samples, samples[1:]) if b[1] != a[1]]
        elif name == "seed":
            kept = [(f, _integer("seed", v)) for f, v in samples]
            kept = [kept[0]] + [b for a, b in zip(kept, kept[1:]) if b[1] != a[1]]
        else:
            kept = _simplify([(f, _number(name, v)) for f, v in samples], tolerance)
        for frame, value in kept:
            k = by_frame.setdefault(frame, pb.Keyframe(frame=frame))
            if name.startswith("param:"):
                k.params[name[6:]] = value
            elif name.startswith("controlnet:"):
                k.controlnet_scales[name[11:]] = value
            elif name in ("prompt", "negative_prompt", "strength", "guidance", "seed"):
                setattr(k, name, value)
            else:
                raise UserError(f"unknown keyframe track {name!r}; use strength, guidance, seed, "
                                "prompt, negative_prompt, param:NAME or controlnet:KIND")
    return [by_frame[f] for f in sorted(by_frame)]


def _simplify(samples: list[tuple[int, float]], tolerance: float) -> list[tuple[int, float]]:
    """Drop the samples that the straight line between the samples kept around them passes
    within ``tolerance`` of. One pass: from the last kept sample, the slopes that stay within
    ``tolerance`` of every sample skipped since narrow to an interval; the first sample whose
    slope falls outside it ends the segment at the sample before it."""
    if len(samples) <= 2:
        return samples
    kept = [samples[0]]
    lo, hi = -math.inf, math.inf
    prev = samples[0]
    for f, v in samples[1:]:
        fa, va = kept[-1]
        slope = (v - va) / (f - fa)
        if not lo <= slope <= hi:
            kept.append(prev)
            fa, va = prev
            lo, hi = -math.inf, math.inf
        # This sample may now be skipped: every later segment end must pass near it.
        lo = max(lo, (v - tolerance - va) / (f - fa))
        hi = min(hi, (v + tolerance - va) / (f - fa))
        prev = (f, v)
    kept.append(samples[-1])
    return kept
