"""The model-free temporal engine, in pure torch (the same code on CPU and CUDA).

- :mod:`.patchmatch`: guided PatchMatch over ``(B, C, H, W)`` pairs: ``nnf``, ``remap``,
  ``vote``, ``guide_error``, ``PatchMatchConfig``.
- :mod:`.blend`: deflicker: ``deflicker_frames`` (in memory, the diffusion sampler's),
  ``StreamingDeflicker`` and ``make_temporal_filter`` (the runner's), ``DeflickerConfig``,
  ``compensate``.
- :mod:`.propagate`: keyframe propagation: ``propagate_frame``, ``propagate_between``,
  ``PropagateStylizer`` (style kind ``"propagate"``), ``PropagateConfig``.
- :mod:`.cli`: the ``deflicker`` and ``propagate`` subcommands.

Submodules import torch; import them directly so importing this package stays cheap.
"""
