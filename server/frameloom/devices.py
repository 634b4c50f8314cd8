"""The engine's one device detector: which devices jobs may run on, and the default one.

CUDA devices when torch sees any, else the CPU. Apple's MPS is not offered: the engine's kernels
are not tested there, and ``info`` lists only devices a job would really run on.
"""
from __future__ import annotations

from .errors import UserError


def detect_devices() -> list[str]:
    """Every CUDA device (``cuda:0``, ...), else ``["cpu"]``."""
    try:
        import torch
    except ImportError:
        return ["cpu"]
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"]


def default_device(device=None):
    """``device`` as a ``torch.device``; None: the first detected device."""
    import torch

    return torch.device(device if device is not None else detect_devices()[0])


def check_device(name: str) -> str:
    """A device name torch understands ("cpu", "cuda", "cuda:1"), else one clear line."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    return str(device)


def describe_devices() -> list[str]:
    """One line per detected device, for people: name, model and memory."""
    import torch

    lines = []
    for name in detect_devices():
        if name.startswith("cuda"):
            props = torch.cuda.get_device_properties(torch.device(name))
            lines.append(f"{name} {props.name} {props.total_memory / 2**30:.0f} GiB")
        else:
            lines.append(name)
    return lines
