"""The engine's view of a JobSpec: the client package's :mod:`frameloom_client.jobspec`.

Job files, validation, the keyframe schedule and the settings -> JobSpec builder are torch-free
and shared with every bridge, so they live in the client distribution; the engine uses them
from there rather than keeping a second copy.
"""
from frameloom_client.jobspec import (DEFAULT_GUIDANCE, DEFAULT_STRENGTH, FrameSettings, JobSpec,
                                      Schedule, TEMPORAL_MODES, build_spec, load_spec, save_spec, spec_from_dict,
                                      spec_hash, spec_to_dict, spec_to_toml, validate)

__all__ = ["DEFAULT_GUIDANCE", "DEFAULT_STRENGTH", "FrameSettings", "JobSpec", "Schedule",
           "TEMPORAL_MODES",
           "build_spec", "load_spec", "save_spec", "spec_from_dict", "spec_hash", "spec_to_dict",
           "spec_to_toml", "validate"]
