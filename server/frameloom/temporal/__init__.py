"""The model-free temporal engine: guided PatchMatch (:mod:`.patchmatch`), deflicker
(:mod:`.blend`) and keyframe propagation (:mod:`.propagate`), in pure torch (CPU and CUDA).

Submodules import torch; import them directly (``from frameloom.temporal.blend import ...``) so
importing this package stays cheap.
"""
