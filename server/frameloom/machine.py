"""What this machine can do: devices, library versions, codecs."""
from __future__ import annotations

import platform


def machine_info() -> dict:
    import av
    import cv2
    import torch

    from . import __version__

    devices = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(f"cuda:{i} {props.name} {props.total_memory / 2**30:.0f} GiB")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")

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
        "pyav": av.__version__,
        "ffmpeg": ".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
        "opencv": cv2.__version__,
        "decoders": ", ".join(decode),
        "encoders": ", ".join(encode),
    }
