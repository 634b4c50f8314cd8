"""The diffusion stylizer: DiffSynth sampling (fixed noise, cross-frame attention, latent
in-iteration deflicker, keyframed prompts) over SD1.5-family diffusers components."""
from .stylizer import DiffusionStylizer, model_size

__all__ = ["DiffusionStylizer", "model_size"]
