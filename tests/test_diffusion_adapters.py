"""LoRA merging (kohya and PEFT layouts) and textual-inversion embeddings on builtin:tiny."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.errors import UserError  # noqa: E402
from frameloom.stylize.diffusion.adapters import apply_embeddings, apply_loras, expand_prompt  # noqa: E402
from frameloom.stylize.diffusion.models import build_tiny  # noqa: E402


Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
PROJ_IN = "down_blocks.0.attentions.0.proj_in"
TE_Q = "text_model.encoder.layers.0.self_attn.q_proj"


def _module(model, name):
    try:
        return model.get_submodule(name)
    except AttributeError:   # transformers 5: no "text_model." level
        return model.get_submodule(name.removeprefix("text_model."))


def test_kohya_lora_is_merged_with_alpha_and_weight(tmp_path):
    comps = build_tiny()
    g = torch.Generator().manual_seed(0)
    q, pin, teq = _module(comps.unet, Q), _module(comps.unet, PROJ_IN), _module(comps.text_encoder, TE_Q)
    before = [m.weight.clone() for m in (q, pin, teq)]
    r = 2
    sd = {}
    for key, mod in (("lora_unet_" + Q.replace(".", "_"), q), ("lora_unet_" + PROJ_IN.replace(".", "_"), pin),
                     ("lora_te_" + TE_Q.replace(".", "_"), teq)):
        w = mod.weight
        tail = (1, 1) if w.ndim == 4 else ()
        sd[key + ".lora_down.weight"] = torch.randn((r, w.shape[1], *tail), generator=g)
        sd[key + ".lora_up.weight"] = torch.randn((w.shape[0], r, *tail), generator=g)
        sd[key + ".alpha"] = torch.tensor(1.0)
    save_file(sd, str(tmp_path / "style.safetensors"))
    apply_loras(comps, [(str(tmp_path / "style.safetensors"), 0.8)])
    for (key, mod), w0 in zip((("lora_unet_" + Q.replace(".", "_"), q), ("lora_unet_" + PROJ_IN.replace(".", "_"), pin),
                               ("lora_te_" + TE_Q.replace(".", "_"), teq)), before):
        delta = (sd[key + ".lora_up.weight"].flatten(1) @ sd[key + ".lora_down.weight"].flatten(1)).view_as(w0)
        assert torch.allclose(mod.weight, w0 + 0.8 * (1.0 / r) * delta, atol=1e-5)


def test_peft_lora_and_mismatches(tmp_path):
    comps = build_tiny()
    q = _module(comps.unet, Q)
    w0 = q.weight.clone()
    sd = {f"unet.{Q}.lora_A.weight": torch.ones(1, q.weight.shape[1]),
          f"unet.{Q}.lora_B.weight": torch.ones(q.weight.shape[0], 1)}
    save_file(sd, str(tmp_path / "peft.safetensors"))
    apply_loras(comps, [(str(tmp_path / "peft.safetensors"), 0.5)])
    assert torch.allclose(q.weight, w0 + 0.5)
    save_file({"lora_unet_nothing_here.lora_down.weight": torch.ones(1, 2),
               "lora_unet_nothing_here.lora_up.weight": torch.ones(2, 1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="matches nothing"):
        apply_loras(comps, [(str(tmp_path / "bad.safetensors"), 1.0)])
    with pytest.raises(UserError, match="pickle"):
        torch.save(sd, tmp_path / "x.pt")
        apply_loras(comps, [(str(tmp_path / "x.pt"), 1.0)])


def test_textual_inversion_adds_tokens(tmp_path):
    comps = build_tiny()
    vecs = torch.randn(2, 32, generator=torch.Generator().manual_seed(1))
    save_file({"emb_params": vecs}, str(tmp_path / "MyStyle.safetensors"))
    save_file({"<one>": vecs[0]}, str(tmp_path / "one.safetensors"))
    apply_embeddings(comps, [str(tmp_path / "MyStyle.safetensors"), str(tmp_path / "one.safetensors")])
    tok, emb = comps.tokenizer, comps.text_encoder.get_input_embeddings().weight
    text = expand_prompt("a MyStyle cat, one", comps.prompt_expansions)
    assert text == "a mystyle mystyle_1 cat, one"
    ids = tok(text).input_ids
    new = [tok.convert_tokens_to_ids(t) for t in ("mystyle", "mystyle_1", "one")]
    assert all(i in ids for i in new)
    assert torch.equal(emb[new[0]], vecs[0]) and torch.equal(emb[new[1]], vecs[1]) and torch.equal(emb[new[2]], vecs[0])
    save_file({"emb_params": torch.zeros(1, 768)}, str(tmp_path / "sd2.safetensors"))
    with pytest.raises(UserError, match="size 768"):
        apply_embeddings(comps, [str(tmp_path / "sd2.safetensors")])
