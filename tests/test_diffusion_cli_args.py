"""CLI values -> JobSpec diffusion fields, and a tiny end-to-end stylization from them."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.errors import UserError  # noqa: E402
from frameloom.spec import JobSpec, Schedule  # noqa: E402
from frameloom.stylize.diffusion.cli_args import fill_diffusion_spec, parse_controlnet  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run 10x faster on one thread than on two on a shared 2-core machine (the
    OpenMP workers spin against other processes); restore the setting for other modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_parse_controlnet():
    assert parse_controlnet("depth=models/cn.safetensors") == {"kind": "depth", "model": "models/cn.safetensors"}
    assert parse_controlnet("canny=builtin:tiny:0.6") == {"kind": "canny", "model": "builtin:tiny", "scale": 0.6}
    assert parse_controlnet("depth=C:/m/cn.safetensors@dpt") == {
        "kind": "depth", "model": "C:/m/cn.safetensors", "annotator": "dpt"}
    with pytest.raises(UserError, match="KIND=PATH"):
        parse_controlnet("models/cn.safetensors")


def test_fill_spec_with_keyframes_file(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('[[keyframes]]\nframe = 0\nprompt = "a cat"\n\n[[keyframes]]\nframe = 4\n'
                    'prompt = "a dog"\nguidance = 9.0\n[keyframes.controlnet_scales]\ncanny = 0.2\n')
    spec = fill_diffusion_spec(JobSpec(), model="builtin:tiny", controlnets=["canny=builtin:tiny:0.5"],
                               prompt="x", seed=3, steps=2, strength=0.5, guidance=5.0, width=72,
                               keyframes=str(keys))
    d = spec.style.diffusion
    assert spec.style.kind == "diffusion" and d.model == "builtin:tiny" and d.steps == 2 and d.seed == 3
    assert d.controlnets[0].kind == "canny" and d.controlnets[0].scale == 0.5 and d.width == 72
    s = Schedule(spec).at(2)
    assert (s.prompt, s.next_prompt, s.blend) == ("a cat", "a dog", 0.5)
    # A track set only at frame 4 holds its value before it (the schedule's rule).
    assert s.guidance == pytest.approx(9.0) and s.controlnet_scales["canny"] == pytest.approx(0.2)

    from frameloom.frames import Frame
    from frameloom.stylize.registry import make_stylizer

    st = make_stylizer(spec)
    frames = [Frame(i, i / 24, np.full((40, 60, 3), 0.1 * i, np.float32)) for i in range(2)]
    st.prepare(lambda i: frames[i], [0, 1])
    out = st.stylize(frames, [Schedule(spec).at(i) for i in range(2)])
    assert [o.shape for o in out] == [(40, 60, 3)] * 2
    st.close()
