"""Offline model loading: single-file checkpoints in the original SD layout, pickle refusal,
family detection, the CLIP tokenizer search."""
from __future__ import annotations

import gzip
import json
import os
import re

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.errors import UserError  # noqa: E402
from frameloom.stylize.diffusion import tokenizer  # noqa: E402
from frameloom.stylize.diffusion.models import (build_tiny, build_tiny_controlnet, detect_family,  # noqa: E402
                                                 load_controlnet, load_model, read_state_dict)


# --- writing the original (LDM / CompVis) layout, the way SD1.5 .safetensors files ship ---------

_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
           ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]


def _unet_to_ldm(sd: dict, cfg: dict) -> dict:
    lpb, nb = cfg["layers_per_block"], len(cfg["block_out_channels"])
    renames = [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
               ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
               ("mid_block.attentions.0.", "middle_block.1.")]
    for j in range(2):
        renames.append((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}."))
    for i in range(nb):
        for j in range(lpb):
            renames.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{(lpb + 1) * i + j + 1}.0."))
            renames.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{(lpb + 1) * i + j + 1}.1."))
        renames.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(lpb + 1) * (i + 1)}.0.op."))
        ups = cfg["up_block_types"]
        has_attn = i < len(ups) and ups[i].startswith("CrossAttn")
        for j in range(lpb + 1):
            renames.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{(lpb + 1) * i + j}.0."))
            renames.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{(lpb + 1) * i + j}.1."))
        renames.append((f"up_blocks.{i}.upsamplers.0.",
                        f"output_blocks.{(lpb + 1) * i + lpb}.{2 if has_attn else 1}."))
    out = {}
    for k, v in sd.items():
        new = k
        for a, b in renames:
            if new.startswith(a):
                new = b + new[len(a):]
                break
        if "resnets" in k:
            for a, b in _RESNET:
                new = re.sub(rf"\.0\.{a}\.", f".0.{b}.", new) if new.startswith(("input_blocks", "output_blocks")) \
                    else re.sub(rf"(middle_block\.\d\.){a}\.", rf"\g<1>{b}.", new)
        out["model.diffusion_model." + new] = v
    return out


def _vae_to_ldm(sd: dict, cfg: dict) -> dict:
    n = len(cfg["block_out_channels"])
    out = {}
    for k, v in sd.items():
        new = k.replace("conv_norm_out", "norm_out")
        new = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", new)
        new = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", new)
        new = re.sub(r"decoder\.up_blocks\.(\d+)\.resnets\.",
                     lambda m: f"decoder.up.{n - 1 - int(m.group(1))}.block.", new)
        new = re.sub(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
                     lambda m: f"decoder.up.{n - 1 - int(m.group(1))}.upsample.", new)
        new = re.sub(r"mid_block\.resnets\.(\d)\.", lambda m: f"mid.block_{int(m.group(1)) + 1}.", new)
        new = new.replace("conv_shortcut", "nin_shortcut")
        if "mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            for a, b in (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")):
                new = new.replace(f"attn_1.{a}.", f"attn_1.{b}.")
            if v.ndim == 2:   # LDM's VAE attention uses 1x1 convs
                v = v[:, :, None, None]
        out["first_stage_model." + new] = v
    return out


def write_ldm_checkpoint(path, comps):
    from safetensors.torch import save_file

    sd = {}
    sd.update(_unet_to_ldm(comps.unet.state_dict(), dict(comps.unet.config)))
    sd.update(_vae_to_ldm(comps.vae.state_dict(), dict(comps.vae.config)))
    # The original layout keeps CLIP's "text_model." level (transformers 5 no longer has it).
    sd.update({"cond_stage_model.transformer." + ("" if k.startswith("text_model.") else "text_model.") + k: v
               for k, v in comps.text_encoder.state_dict().items()})
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return sd


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in sa.items():
        if k.endswith("position_ids"):
            continue
        assert torch.equal(v, sb[k]), k


def test_single_file_checkpoint_in_ldm_layout_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = build_tiny(seed=11)
    sd = write_ldm_checkpoint(tmp_path / "tiny-sd.safetensors", ref)
    assert any(k.startswith("model.diffusion_model.input_blocks.1.1.transformer_blocks") for k in sd)
    assert "first_stage_model.encoder.down.0.block.0.norm1.weight" in sd
    assert "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in sd
    loaded = load_model(str(tmp_path / "tiny-sd.safetensors"))
    assert loaded.family == "tiny"
    _same_weights(ref.unet, loaded.unet)
    _same_weights(ref.vae, loaded.vae)
    _same_weights(ref.text_encoder, loaded.text_encoder)

    # ... and it runs through the stylizer by the same path a user's checkpoint takes.
    from frameloom.frames import Frame
    from frameloom.spec import Schedule, spec_from_dict
    from frameloom.stylize.diffusion import DiffusionStylizer

    spec = spec_from_dict({"style": {"kind": "diffusion", "diffusion": {
        "model": str(tmp_path / "tiny-sd.safetensors"), "prompt": "x", "steps": 2}}})
    st = DiffusionStylizer(spec, deflicker=False, device="cpu")
    out = st.stylize([Frame(0, 0.0, np.full((64, 64, 3), 0.5, np.float32))], [Schedule(spec).at(0)])
    assert out[0].shape == (64, 64, 3)


def test_controlnet_single_file_in_ldm_layout(tmp_path):
    from safetensors.torch import save_file

    ref = build_tiny_controlnet(seed=2)
    unet_like = _unet_to_ldm({k: v for k, v in ref.state_dict().items() if not k.startswith("controlnet_")},
                             {**dict(ref.config), "up_block_types": []})
    sd = {k.replace("model.diffusion_model.", "control_model."): v for k, v in unet_like.items()}
    cond = ref.controlnet_cond_embedding
    sd["control_model.input_hint_block.0.weight"] = cond.conv_in.weight
    sd["control_model.input_hint_block.0.bias"] = cond.conv_in.bias
    for i, blk in enumerate(cond.blocks):
        sd[f"control_model.input_hint_block.{2 * (i + 1)}.weight"] = blk.weight
        sd[f"control_model.input_hint_block.{2 * (i + 1)}.bias"] = blk.bias
    sd[f"control_model.input_hint_block.{2 * (len(cond.blocks) + 1)}.weight"] = cond.conv_out.weight
    sd[f"control_model.input_hint_block.{2 * (len(cond.blocks) + 1)}.bias"] = cond.conv_out.bias
    for i, conv in enumerate(ref.controlnet_down_blocks):
        sd[f"control_model.zero_convs.{i}.0.weight"] = conv.weight
        sd[f"control_model.zero_convs.{i}.0.bias"] = conv.bias
    sd["control_model.middle_block_out.0.weight"] = ref.controlnet_mid_block.weight
    sd["control_model.middle_block_out.0.bias"] = ref.controlnet_mid_block.bias
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "cn.safetensors"))
    _same_weights(ref, load_controlnet(str(tmp_path / "cn.safetensors"), "tiny"))


def test_pickle_files_are_refused(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(UserError, match="pickle"):
        load_model(str(path))
    with pytest.raises(UserError, match="pickle"):
        load_controlnet(str(tmp_path / "model.ckpt"), "tiny")
    assert set(read_state_dict(path, allow_pickle=True)) == {"w"}

    from frameloom.spec import spec_from_dict
    from frameloom.stylize.registry import make_stylizer

    spec = spec_from_dict({"style": {"kind": "diffusion", "diffusion": {"model": str(path)}}})
    with pytest.raises(UserError, match="refusing to load pickle"):
        make_stylizer(spec)


def test_missing_and_foreign_checkpoints(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(UserError, match="not found"):
        load_model(str(tmp_path / "nope.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="cannot read"):
        load_model(str(tmp_path / "junk.safetensors"))
    sd2 = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 1, 1),
           "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 1024)}
    save_file(sd2, str(tmp_path / "sd2.safetensors"))
    with pytest.raises(UserError, match="SD2"):
        load_model(str(tmp_path / "sd2.safetensors"))
    sd15 = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 1, 1),
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 768)}
    assert detect_family(sd15, "x") == "sd15"


# --- tokenizer --------------------------------------------------------------------------------

def _no_system_tokenizers(monkeypatch):
    monkeypatch.delenv("FRAMELOOM_CLIP_TOKENIZER", raising=False)
    monkeypatch.setattr(tokenizer, "_from_hf_cache", lambda: None)
    monkeypatch.setattr(tokenizer, "_open_clip_bpe", lambda: None)


def test_missing_tokenizer_is_one_clear_line(tmp_path, monkeypatch):
    _no_system_tokenizers(monkeypatch)
    with pytest.raises(UserError) as exc:
        tokenizer.find_clip_tokenizer(tmp_path / "dreamshaper_8.safetensors")
    msg = str(exc.value)
    assert "\n" not in msg and "--tokenizer" in msg and "vocab.json" in msg


def test_tokenizer_files_beside_the_checkpoint(tmp_path, monkeypatch):
    _no_system_tokenizers(monkeypatch)
    b2u = list(tokenizer.bytes_to_unicode().values())
    words = b2u + [c + "</w>" for c in b2u] + ["ca", "cat</w>", tokenizer.BOS, tokenizer.EOS]
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    (tmp_path / "tokenizer" / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\n")
    tok = tokenizer.find_clip_tokenizer(tmp_path / "model.safetensors")
    ids = tok("cat").input_ids
    assert ids == [words.index(tokenizer.BOS), words.index("cat</w>"), words.index(tokenizer.EOS)]
    assert tok.model_max_length == 77


def test_vocab_derived_from_openai_bpe_file(tmp_path, monkeypatch):
    """The same derivation that reads open_clip's bpe_simple_vocab_16e6.txt.gz, on a small file."""
    _no_system_tokenizers(monkeypatch)
    bpe = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe, "wt", encoding="utf-8") as f:
        f.write('"bpe_simple_vocab_16e6.txt#version: 0.2\nh e\nl l\nhe ll\nhell o</w>\n')
    monkeypatch.setattr(tokenizer, "_open_clip_bpe", lambda: bpe)
    tok = tokenizer.find_clip_tokenizer(tmp_path / "model.safetensors")
    assert len(tok.get_vocab()) == 512 + 4 + 2
    # "hello" merges all the way to one token: id 512 + 3 (the fourth merge).
    assert tok("hello").input_ids == [516, 515, 517]
    monkeypatch.setenv("FRAMELOOM_CLIP_TOKENIZER", str(bpe))
    assert tokenizer.find_clip_tokenizer(None)("hello").input_ids == [516, 515, 517]
