"""frameloom: temporally consistent video stylization (DiffSynth) for video editors."""

__version__ = "0.2.0"
