"""Carry a source's audio into a freshly written video, trimmed to the frames it holds.

The video is written first (so an interrupted job still leaves a playable file), then remuxed once
with the audio: video packets are copied untouched; audio is copied when it covers the whole
source and the container takes its codec, and otherwise decoded, cut to the span and re-encoded.
"""
from __future__ import annotations

import heapq
import logging
import os
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from .info import create_new_file

log = logging.getLogger(__name__)

# Audio codecs each container takes as they are.
_COPYABLE = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus"},
    ".m4v": {"aac", "mp3", "ac3", "eac3", "alac"},
    ".mov": {"aac", "mp3", "ac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be",
             "pcm_f32le"},
    ".mkv": None,  # Matroska takes anything
    ".webm": {"opus", "vorbis"},
}
# What to encode to when the audio must be re-encoded.
_ENCODE_TO = {".mov": ("pcm_s16le", "s16"), ".webm": ("libopus", "fltp")}
_DEFAULT_ENCODE = ("aac", "fltp")


def add_audio(video_path: str, source_path: str, span: tuple[float, float]) -> bool:
    """Remux ``video_path`` with the audio of ``source_path`` between ``span`` seconds.
    Returns False (and leaves the video as it is) when the source has no audio."""
    try:
        src = av.open(source_path)
    except (av.error.FFmpegError, OSError):
        return False
    with src:
        if not src.streams.audio:
            return False
        ain = src.streams.audio[0]
        ext = Path(video_path).suffix.lower()
        src_duration = float(src.duration / av.time_base) if src.duration else None
        whole = span[0] <= 1e-3 and (src_duration is None or span[1] >= src_duration - 0.05)
        allowed = _COPYABLE.get(ext, set())
        copy = whole and (allowed is None or ain.codec_context.name in allowed)
        tmp = f"{video_path}.audio{ext}"
        try:
            create_new_file(tmp).close()   # a planted link at tmp is removed, not written through
            with av.open(video_path) as vin, av.open(tmp, "w") as out:
                vs_in = vin.streams.video[0]
                vs_out = out.add_stream_from_template(vs_in)
                if copy:
                    as_out = out.add_stream_from_template(ain)
                    audio_packets = _copied(src, ain, as_out)
                else:
                    codec, fmt = _ENCODE_TO.get(ext, _DEFAULT_ENCODE)
                    rate = ain.codec_context.sample_rate or 48000
                    as_out = out.add_stream(codec, rate=rate)
                    as_out.layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
                    audio_packets = _reencoded(src, ain, as_out, fmt, span)
                video_packets = _copied(vin, vs_in, vs_out)
                for _, _, packet in heapq.merge(video_packets, audio_packets, key=lambda x: x[:2]):
                    out.mux(packet)
            os.replace(tmp, video_path)
        except Exception as exc:
            log.warning("audio could not be carried into %s: %s", video_path, exc)
            if os.path.exists(tmp):
                os.unlink(tmp)
            return False
    return True


def _copied(container, stream_in, stream_out) -> Iterator[tuple[float, int, av.Packet]]:
    """(time, tiebreak, packet) for every packet of ``stream_in``, retargeted to ``stream_out``."""
    order = 0
    for packet in container.demux(stream_in):
        if packet.dts is None and packet.pts is None:
            continue  # the demuxer's flush packet
        t = float((packet.dts if packet.dts is not None else packet.pts) * packet.time_base)
        packet.stream = stream_out
        order += 1
        yield t, order, packet


def _reencoded(container, stream_in, stream_out, fmt: str, span) -> Iterator[tuple[float, int, av.Packet]]:
    t0, t1 = span
    rate = stream_out.rate
    resampler = av.AudioResampler(format=fmt, layout=stream_out.layout, rate=rate)
    fifo = av.AudioFifo()
    start_sample = int(round(t0 * rate))
    end_sample = int(round(t1 * rate))
    pos = None  # sample position (from the source start) of the next resampled sample
    first_pts = stream_in.start_time or 0
    order = 0
    written = 0

    def drain(final: bool):
        nonlocal order
        frame_size = stream_out.codec_context.frame_size or 1024
        while fifo.samples >= frame_size or (final and fifo.samples):
            frame = fifo.read(min(frame_size, fifo.samples) if final else frame_size)
            frame.pts = None
            for packet in stream_out.encode(frame):
                order += 1
                yield float(packet.pts * packet.time_base) if packet.pts is not None else 0.0, order, packet
        if final:
            for packet in stream_out.encode(None):
                order += 1
                yield float(packet.pts * packet.time_base) if packet.pts is not None else 0.0, order, packet

    for frame in _decoded_until_error(container, stream_in):
        if pos is None:
            pos = int(round(float((frame.pts - first_pts) * frame.time_base) * rate)) if frame.pts is not None else 0
        for rf in resampler.resample(frame):
            n = rf.samples
            lo, hi = max(start_sample - pos, 0), min(end_sample - pos, n)
            pos += n
            if hi <= lo:
                continue
            arr = rf.to_ndarray()
            piece = arr[:, lo:hi] if arr.shape[0] == len(rf.layout.channels) or rf.format.is_planar else arr[:, lo * len(rf.layout.channels):hi * len(rf.layout.channels)]
            out = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format=fmt, layout=stream_out.layout)
            out.sample_rate = rate
            fifo.write(out)
            written += hi - lo
            yield from drain(False)
        if pos is not None and pos >= end_sample:
            break
    yield from drain(True)


def _decoded_until_error(container, stream):
    """Audio frames until the data ends or breaks off (a truncated source keeps what it has)."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError):
            return
        yield from frames
