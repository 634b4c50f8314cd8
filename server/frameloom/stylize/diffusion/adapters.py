"""LoRA files (merged into the weights) and textual-inversion embeddings (new tokens).

LoRA deltas are merged once at load (W += w·(α/r)·up·down): no per-step cost, no PEFT dependency,
and fp16 weights stay fp16. Formats: kohya (``lora_unet_*``/``lora_te_*`` with ``lora_down``/
``lora_up``/``alpha``; diffusers module names written with underscores, as kohya's SD1.x trainer
writes them) and diffusers/PEFT (``unet.*``/``text_encoder.*`` with ``lora_A``/``lora_B`` or
``lora.down``/``lora.up``). Linear, 1x1 and kxk conv (LoCon) layers are handled alike.

Textual inversion: A1111 (``emb_params`` or ``string_to_param``) and diffusers
(``{"<token>": vector}``) files. The token is the file's stem, as in A1111 ("easynegative" in a
prompt); an N-vector embedding becomes N tokens that the prompt expands to.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ...errors import UserError
from .models import read_state_dict

_LORA_PAIRS = ((".lora_down.weight", ".lora_up.weight"), (".lora_A.weight", ".lora_B.weight"),
               (".lora.down.weight", ".lora.up.weight"))


def _targets(comps) -> dict[str, tuple[str, torch.nn.Module]]:
    """Every LoRA-able module under the names LoRA files use for it."""
    out = {}
    for prefix, kohya, model in (("unet.", "lora_unet_", comps.unet), ("text_encoder.", "lora_te_", comps.text_encoder)):
        model = getattr(model, "_orig_mod", model)
        for name, mod in model.named_modules():
            if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
                # LoRA files name CLIP layers "text_model.*" (transformers 5 dropped that level).
                names = [name] if prefix == "unet." or name.startswith("text_model.") else [name, f"text_model.{name}"]
                for n in names:
                    out[kohya + n.replace(".", "_")] = (name, mod)
                    out[prefix + n] = (name, mod)
    return out


def _pairs(sd: dict[str, torch.Tensor]):
    """(module key, down, up, alpha or None) for each LoRA pair in a state dict."""
    for key in sd:
        for down_sfx, up_sfx in _LORA_PAIRS:
            if key.endswith(down_sfx):
                base = key[:-len(down_sfx)]
                up = sd.get(base + up_sfx)
                if up is None:
                    raise UserError(f"LoRA key {key} has no matching {up_sfx}")
                alpha = sd.get(base + ".alpha")
                yield base.removeprefix("base_model.model."), sd[key], up, alpha


@torch.no_grad()
def merge_lora(comps, sd: dict[str, torch.Tensor], weight: float, name: str) -> int:
    """Merge one LoRA state dict into ``comps``; returns the number of layers changed."""
    targets = _targets(comps)
    count = 0
    for base, down, up, alpha in _pairs(sd):
        if base not in targets:
            raise UserError(f"LoRA {name}: layer {base} matches nothing in this model "
                            "(is it an SD1.5 LoRA?)")
        _, mod = targets[base]
        rank = down.shape[0]
        scale = weight * (float(alpha) / rank if alpha is not None else 1.0)
        delta = up.flatten(1).float() @ down.flatten(1).float()
        if delta.numel() != mod.weight.numel():
            raise UserError(f"LoRA {name}: layer {base} has shape {tuple(delta.shape)}, the model "
                            f"{tuple(mod.weight.shape)}")
        mod.weight += (scale * delta).view_as(mod.weight).to(mod.weight.dtype, copy=False).to(mod.weight.device)
        count += 1
    if count == 0:
        raise UserError(f"LoRA {name}: no LoRA layers found in the file")
    return count


def apply_loras(comps, loras: list[tuple[str, float]], *, allow_pickle: bool = False) -> None:
    for path, weight in loras:
        merge_lora(comps, read_state_dict(path, allow_pickle), float(weight), Path(path).name)


def _vectors(sd: dict, name: str) -> torch.Tensor:
    """``(N, D)`` embedding vectors from any of the common textual-inversion layouts."""
    if "emb_params" in sd:
        vec = sd["emb_params"]
    elif "string_to_param" in sd:   # A1111 .pt (pickled, read only with allow_pickle)
        vec = next(iter(sd["string_to_param"].values()))
    elif len(sd) == 1:
        vec = next(iter(sd.values()))
    else:
        raise UserError(f"embedding {name}: unrecognised layout (keys {', '.join(list(sd)[:3])})")
    return vec.reshape(-1, vec.shape[-1]) if vec.ndim > 1 else vec[None]


def _read_embedding(path: Path, allow_pickle: bool) -> dict:
    if path.suffix.lower() in (".pt", ".bin") and allow_pickle:
        data = torch.load(path, map_location="cpu", weights_only=False)
        return data if isinstance(data, dict) else {"emb": data}
    return read_state_dict(path, allow_pickle)


@torch.no_grad()
def add_embedding(comps, token: str, vectors: torch.Tensor) -> str:
    """Add ``token`` (N vectors -> N new tokens); returns the text the token expands to."""
    tok, te = comps.tokenizer, comps.text_encoder
    emb = te.get_input_embeddings()
    if vectors.shape[-1] != emb.weight.shape[1]:
        raise UserError(f"embedding {token}: vectors of size {vectors.shape[-1]}, this text encoder "
                        f"takes {emb.weight.shape[1]} (an SD2/SDXL embedding?)")
    names = [token] + [f"{token}_{i}" for i in range(1, vectors.shape[0])]
    if any(n in tok.get_vocab() for n in names):
        raise UserError(f"embedding {token}: the token already exists in the vocabulary")
    tok.add_tokens(names)
    te.resize_token_embeddings(len(tok))
    emb = te.get_input_embeddings()
    for n, v in zip(names, vectors):
        emb.weight[tok.convert_tokens_to_ids(n)] = v.to(emb.weight.dtype)
    return " ".join(names)


def apply_embeddings(comps, paths: list[str], *, allow_pickle: bool = False) -> None:
    expansions = getattr(comps, "prompt_expansions", None) or {}
    for p in paths:
        path = Path(p)
        token = path.stem.lower()
        expansions[token] = add_embedding(comps, token, _vectors(_read_embedding(path, allow_pickle), path.name))
    comps.prompt_expansions = expansions


def expand_prompt(prompt: str, expansions: dict[str, str]) -> str:
    """Replace each embedding's token by its N sub-tokens (CLIP lowercases prompts anyway)."""
    prompt = prompt.lower() if expansions else prompt
    for token, text in expansions.items():
        if text != token:
            prompt = re.sub(rf"(?<![\w]){re.escape(token)}(?![\w])", text, prompt)
    return prompt
