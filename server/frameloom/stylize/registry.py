"""Stylizer names -> stylizers. New stylizers are new names; the contract's shape never changes."""
from __future__ import annotations

from frameloom_client.v1 import frameloom_pb2 as pb

from ..errors import UserError
from .base import Stylizer


def available_styles() -> list[str]:
    from .filters import FILTERS

    return ["identity", *(f"filter:{name}" for name in FILTERS), "diffusion", "propagate"]


def style_parameters() -> dict[str, dict]:
    """Each style's numeric parameters: ``{kind: {name: Param(default, low, high, help)}}``."""
    from .filters import FILTERS

    return {f"filter:{name}": params for name, (_, params) in FILTERS.items()}


def make_stylizer(spec: pb.JobSpec, *, device=None, model_cache=None) -> Stylizer:
    """The stylizer for ``spec.style``. ``device`` (e.g. "cuda:1"; None: the default one) is
    where model-backed stylizers run; ``model_cache`` (a diffusion ``ModelCache``, the server's)
    lets a diffusion job reuse weights an earlier job loaded. Filters ignore both."""
    kind = spec.style.kind or "identity"
    if kind == "identity":
        from .filters import Identity

        return Identity()
    if kind.startswith("filter:"):
        from .filters import make_filter

        return make_filter(kind.split(":", 1)[1], dict(spec.style.params))
    if kind == "diffusion":
        from .diffusion import DiffusionStylizer

        return DiffusionStylizer(spec, device=device, model_cache=model_cache)
    if kind == "propagate":
        from ..temporal.propagate import PropagateStylizer

        return PropagateStylizer(spec, device=device)
    raise UserError(f"unknown style {kind!r}; available: {', '.join(available_styles())}")
