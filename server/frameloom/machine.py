"""What this machine can do: devices, library versions, codecs."""
from __future__ import annotations

import platform


def machine_info() -> dict:
    import av
    import cv2
    import torch

    from . import __version__, allocator
    from .devices import describe_devices
    from .threads import policy

    devices = describe_devices()

    def have(name: str, mode: str) -> bool:
        try:
            av.codec.Codec(name, mode)
            return True
        except Exception:
            return False

    decode = [n for n in ("h264", "hevc", "prores", "vp9", "av1", "mjpeg", "png", "tiff") if have(n, "r")]
    encode = [n for n in ("libx264", "prores_ks", "png", "tiff") if have(n, "w")]
    return {
        "frameloom": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "devices": ", ".join(devices),
        "threads": policy().describe(),
        "allocator": allocator.describe(),
        "pyav": av.__version__,
        "ffmpeg": ".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
        "opencv": cv2.__version__,
        "decoders": ", ".join(decode),
        "encoders": ", ".join(encode),
    }
