"""Python client for a frameloom server (grpcio, protobuf and numpy only; never torch).

The generated contract lives in :mod:`frameloom_client.v1` (``frameloom_pb2``) and is shared with
the server, which imports it from here.
"""
from .client import Cancelled, FrameloomClient, FrameloomError, JobFailed, StylizeCall
from .frames import (CHUNK_BYTES, ClipHasher, FrameAssembler, FrameError, FrameTooLarge,
                     as_wire_image, chunk_fields, clip_hash, decode_frames, encode_frame)
from .png import PngError, decode_png, encode_png
from .v1 import frameloom_pb2 as pb

__all__ = ["CHUNK_BYTES", "Cancelled", "ClipHasher", "FrameAssembler", "FrameError",
           "FrameTooLarge", "FrameloomClient", "FrameloomError", "JobFailed", "PngError",
           "StylizeCall", "as_wire_image", "chunk_fields", "clip_hash", "decode_frames", "decode_png",
           "encode_frame", "encode_png", "pb"]
