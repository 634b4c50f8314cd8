"""Loading SD1.5-family components offline: single-file checkpoints, diffusers folders, builtin:tiny.

Every component is a plain diffusers/transformers object built from a config this package ships
(``frameloom/configs/diffusion/<family>/``), then filled with weights. Single files in the original
LDM layout are converted with diffusers' own key converters; nothing touches the network.
Pickle files (.ckpt/.pt/.pth/.bin) can run code when loaded, so they are refused unless the job
opts in with ``allow_pickle``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...errors import InputNotFound, UserError
from .tokenizer import find_clip_tokenizer, tiny_tokenizer

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs" / "diffusion"
PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl"}
TINY = "builtin:tiny"
UNET_PREFIX = "model.diffusion_model."


@dataclass
class Components:
    """What the sampler needs. ``controlnets`` are ``(kind, ControlNetModel)`` in job order."""

    tokenizer: object
    text_encoder: torch.nn.Module
    unet: torch.nn.Module
    vae: torch.nn.Module
    scheduler_config: dict
    family: str = "sd15"
    controlnets: list = field(default_factory=list)
    prompt_expansions: dict = field(default_factory=dict)   # textual-inversion token -> sub-tokens

    def modules(self):
        yield self.text_encoder
        yield self.unet
        yield self.vae
        for _, cn in self.controlnets:
            yield cn


def family_config(family: str, part: str) -> dict:
    path = CONFIG_ROOT / family / part / ("scheduler_config.json" if part == "scheduler" else "config.json")
    return json.loads(path.read_text())


def _build(family: str, part: str):
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = family_config(family, part)
    if part == "text_encoder":
        return CLIPTextModel(CLIPTextConfig(**{k: v for k, v in cfg.items() if k != "architectures"}))
    cls = {"unet": UNet2DConditionModel, "vae": AutoencoderKL, "controlnet": ControlNetModel}[part]
    return cls.from_config(cfg)


def _seeded_build(family: str, part: str, seed: int):
    # Random weights must not depend on what ran before (global RNG), so fork a seeded stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(family, part)


def build_tiny(seed: int = 0) -> Components:
    """Tiny random-weight SD1.5-shaped model (64x64 -> 8x8 latents); deterministic per seed."""
    return Components(
        tokenizer=tiny_tokenizer(),
        text_encoder=_seeded_build("tiny", "text_encoder", seed).eval(),
        unet=_seeded_build("tiny", "unet", seed + 1).eval(),
        vae=_seeded_build("tiny", "vae", seed + 2).eval(),
        scheduler_config=family_config("tiny", "scheduler"),
        family="tiny",
    )


def build_tiny_controlnet(seed: int = 0):
    """A tiny ControlNet matching :func:`build_tiny`; its zero-convs get small random weights so a
    random-weight ControlNet actually changes the UNet (real zero-init would make it a no-op)."""
    cn = _seeded_build("tiny", "controlnet", seed + 3).eval()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed + 4)
        for conv in [*cn.controlnet_down_blocks, cn.controlnet_mid_block]:
            conv.weight.normal_(0, 0.02)
    return cn


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def read_state_dict(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Weights from a .safetensors file, or a pickle file when ``allow_pickle``."""
    path = Path(path)
    if not path.exists():
        raise InputNotFound(f"model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise UserError(f"refusing to load pickle file {path.name} (it can run code); convert it "
                            "to .safetensors or set allow_pickle = true if you trust it")
        sd = torch.load(path, map_location="cpu", weights_only=False)
        sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
        return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if suffix != ".safetensors":
        raise UserError(f"unsupported model file {path.name}: expected .safetensors")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"cannot read {path.name}: {exc}") from None


def detect_family(sd: dict[str, torch.Tensor], what: str) -> str:
    """Which shipped config fits a checkpoint, from a couple of tensor shapes."""
    if any(k.startswith("conditioner.embedders") for k in sd):
        raise UserError(f"{what} is an SDXL checkpoint; only SD1.5-family models are supported")
    key = next((k for k in sd if k.endswith("input_blocks.0.0.weight")), None)
    if key is None:
        raise UserError(f"{what} is not an SD1.5 checkpoint in the original layout (no UNet weights)")
    xattn = next((v.shape[1] for k, v in sd.items() if k.endswith("attn2.to_k.weight")), None)
    if xattn == 1024:
        raise UserError(f"{what} is an SD2.x checkpoint; only SD1.5-family models are supported")
    width = sd[key].shape[0]
    for family in ("sd15", "tiny"):
        cfg = family_config(family, "unet")
        if cfg["block_out_channels"][0] == width and cfg["cross_attention_dim"] == xattn:
            return family
    raise UserError(f"{what}: unrecognised architecture (first block width {width}, "
                    f"cross-attention dim {xattn}); only SD1.5-family models are supported")


def _align_text_model_prefix(module: torch.nn.Module, sd: dict) -> dict:
    """SD checkpoints name CLIP weights ``text_model.*``; transformers 5 dropped that level.
    Add or strip the prefix so the file's keys meet the model's, whichever version is installed."""
    own = next(iter(module.state_dict()))
    file_has = any(k.startswith("text_model.") for k in sd)
    if file_has and not own.startswith("text_model."):
        return {k.removeprefix("text_model."): v for k, v in sd.items()}
    if own.startswith("text_model.") and not file_has:
        return {f"text_model.{k}": v for k, v in sd.items()}
    return sd


def _fill(module: torch.nn.Module, sd: dict, what: str) -> torch.nn.Module:
    if "text encoder" in what:
        sd = _align_text_model_prefix(module, sd)
    missing, unexpected = module.load_state_dict(sd, strict=False)
    # position_ids is a buffer some CLIP exports carry and others do not.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise UserError(f"{what}: checkpoint lacks {len(missing)} weights (e.g. {missing[0]}); "
                        "is it an SD1.5-family model?")
    return module.eval()


def load_single_file(path: str | Path, *, tokenizer: str | None = None,
                     allow_pickle: bool = False) -> Components:
    """An SD1.5-family single-file checkpoint (original LDM key layout)."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint)

    path = Path(path)
    sd = read_state_dict(path, allow_pickle)
    family = detect_family(sd, path.name)
    tok = tiny_tokenizer() if family == "tiny" and tokenizer is None else find_clip_tokenizer(path, tokenizer)
    unet_cfg, vae_cfg = family_config(family, "unet"), family_config(family, "vae")
    unet = _fill(_build(family, "unet"), convert_ldm_unet_checkpoint(sd, unet_cfg), f"{path.name} (UNet)")
    vae = _fill(_build(family, "vae"), convert_ldm_vae_checkpoint(sd, vae_cfg), f"{path.name} (VAE)")
    te = _fill(_build(family, "text_encoder"), convert_ldm_clip_checkpoint(sd), f"{path.name} (text encoder)")
    return Components(tokenizer=tok, text_encoder=te, unet=unet, vae=vae,
                      scheduler_config=family_config(family, "scheduler"), family=family)


def load_diffusers_folder(folder: str | Path, *, tokenizer: str | None = None,
                          allow_pickle: bool = False) -> Components:
    """A diffusers model folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    folder = Path(folder)
    kw = dict(local_files_only=True, use_safetensors=None if allow_pickle else True)
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **kw)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", **kw)
        te = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", **kw)
    except (OSError, EnvironmentError, ValueError) as exc:
        hint = "" if allow_pickle else " (only .safetensors weights are read unless allow_pickle)"
        raise UserError(f"cannot load diffusers folder {folder}{hint}: {str(exc).splitlines()[0]}") from None
    sched = folder / "scheduler" / "scheduler_config.json"
    sched_cfg = json.loads(sched.read_text()) if sched.is_file() else family_config("sd15", "scheduler")
    return Components(tokenizer=find_clip_tokenizer(folder, tokenizer), text_encoder=te.eval(),
                      unet=unet.eval(), vae=vae.eval(), scheduler_config=sched_cfg, family="sd15")


def load_model(model: str, *, tokenizer: str | None = None, allow_pickle: bool = False) -> Components:
    """``builtin:tiny``, a single-file checkpoint or a diffusers folder."""
    if not model:
        raise UserError("diffusion needs a model: a .safetensors checkpoint, a diffusers folder or builtin:tiny")
    if model == TINY:
        return build_tiny()
    p = Path(model).expanduser()
    if p.is_dir():
        return load_diffusers_folder(p, tokenizer=tokenizer, allow_pickle=allow_pickle)
    return load_single_file(p, tokenizer=tokenizer, allow_pickle=allow_pickle)


def load_controlnet(model: str, family: str, *, allow_pickle: bool = False):
    """A ControlNet from ``builtin:tiny``, a diffusers folder, or a single file (LDM or diffusers keys)."""
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    if model == TINY:
        if family != "tiny":
            raise UserError("a builtin:tiny ControlNet only fits the builtin:tiny model")
        return build_tiny_controlnet()
    p = Path(model).expanduser()
    if p.is_dir():
        try:
            return ControlNetModel.from_pretrained(
                p, local_files_only=True, use_safetensors=None if allow_pickle else True).eval()
        except (OSError, EnvironmentError, ValueError) as exc:
            raise UserError(f"cannot load ControlNet folder {p}: {str(exc).splitlines()[0]}") from None
    sd = read_state_dict(p, allow_pickle)
    if "time_embedding.linear_1.weight" not in sd:  # original layout: control_model.* or bare
        sd = convert_controlnet_checkpoint(sd, family_config(family, "controlnet"))
    return _fill(_build(family, "controlnet"), sd, f"{p.name} (ControlNet)")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """"auto": fp16 on CUDA, fp32 elsewhere (CPU half precision is slow and lossy)."""
    table = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}
    if name in ("", "auto"):
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in table:
        raise UserError(f"unknown dtype {name!r}; use auto, float16, bfloat16 or float32")
    if device.type == "cpu" and table[name] == torch.float16:
        raise UserError("float16 needs a CUDA GPU; use float32 or bfloat16 on the CPU")
    return table[name]
