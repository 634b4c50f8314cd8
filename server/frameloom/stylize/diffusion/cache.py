"""Loaded diffusion components kept between jobs: a small LRU per device, for the server.

Loading a checkpoint, its ControlNets and LoRAs takes seconds to tens of seconds; an editor that
scrubs its timeline sends one short job after another with the same model. The server's engine
keeps one :class:`ModelCache` and hands it to every diffusion stylizer it builds; the CLI runs one
job per process and loads directly (:func:`load_components`), so both paths load the same way.

Why it lives here and not in ``jobs/``: its key is made of ``DiffusionSpec`` fields, its entries
are diffusion :class:`~.models.Components`, and reusing them safely needs diffusion knowledge
(LoRAs are merged into the weights; the stylizer installs attention processors). ``jobs/`` stays
model-agnostic: the engine only passes this object through.

What an entry's key holds: everything that decides the loaded weights: the model (path plus size
and mtime of its file or of every file in its folder, so a checkpoint replaced on disk is
reloaded), the tokenizer, the ControlNets (kind, path, stat), the LoRAs with their weights, the
embeddings, ``allow_pickle``, and the device and dtype the stylizer places the modules on. LoRAs
are merged at load, so a different LoRA or LoRA weight is a separate entry; nothing is ever merged
into, or unmerged from, a cached entry (unmerging fp16 weights would not restore them exactly).
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import UserError
from .models import TINY, Components, load_controlnet, load_model

log = logging.getLogger(__name__)


def _controlnet_path(cn, model: str) -> str:
    if cn.model:
        return cn.model
    if model == TINY:
        return model
    raise UserError(f"ControlNet {cn.kind or '(no kind)'} needs model = a ControlNet file or folder")


def load_components(d, *, tokenizer: str | None = None) -> Components:
    """A ``DiffusionSpec``'s model with its ControlNets, merged LoRAs and embeddings, on the CPU."""
    from .adapters import apply_embeddings, apply_loras

    comps = load_model(d.model, tokenizer=tokenizer, allow_pickle=d.allow_pickle)
    comps.controlnets = [(cn.kind or f"controlnet{i}",
                          load_controlnet(_controlnet_path(cn, d.model), comps.family,
                                          allow_pickle=d.allow_pickle))
                         for i, cn in enumerate(d.controlnets)]
    apply_loras(comps, [(lo.path, lo.weight if lo.HasField("weight") else 1.0) for lo in d.loras],
                allow_pickle=d.allow_pickle)
    apply_embeddings(comps, list(d.embeddings), allow_pickle=d.allow_pickle)
    return comps


def _file_id(path: str) -> tuple:
    """A path with what tells a changed file apart: (size, mtime) of the file, or of every file
    under a folder (a diffusers folder holds a few dozen)."""
    if not path or path.startswith("builtin:"):
        return (path,)
    p = Path(path).expanduser()
    try:
        p = p.resolve()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
            return (str(p), tuple((str(f.relative_to(p)), *_stat(f)) for f in files))
        return (str(p), *_stat(p))
    except OSError:
        return (str(p), None)   # missing: the loader will say so


def _stat(p: Path) -> tuple[int, int]:
    st = os.stat(p)
    return st.st_size, st.st_mtime_ns


def components_key(d, *, device, dtype, tokenizer: str | None = None) -> tuple:
    """Everything that decides a ``DiffusionSpec``'s loaded weights and where they live."""
    return (
        ("model", _file_id(d.model)),
        ("tokenizer", _file_id(tokenizer or "")),
        ("controlnets", tuple((cn.kind or f"controlnet{i}", _file_id(_controlnet_path(cn, d.model)))
                              for i, cn in enumerate(d.controlnets))),
        ("loras", tuple((_file_id(lo.path), float(lo.weight) if lo.HasField("weight") else 1.0)
                        for lo in d.loras)),
        ("embeddings", tuple(_file_id(e) for e in d.embeddings)),
        ("allow_pickle", bool(d.allow_pickle)),
        ("device", str(device)),
        ("dtype", str(dtype)),
    )


@dataclass
class CacheStats:
    loads: int = 0        # components built by the loader
    hits: int = 0
    evictions: int = 0


@dataclass
class _Entry:
    comps: Components
    device: str
    processors: list       # (module, {name: processor}) as loaded, restored on every checkout


def _snapshot(comps: Components) -> list:
    return [(m, dict(m.attn_processors)) for m in (comps.unet, *(cn for _, cn in comps.controlnets))
            if hasattr(m, "attn_processors")]


class ModelCache:
    """LRU of loaded :class:`Components`, ``capacity`` entries per device (a device's memory is
    its own; two GPUs with capacity 1 do not evict each other). ``capacity`` 0 loads every time.

    :meth:`get` returns a shallow copy: the job may narrow its ControlNet list or wrap the UNet
    (``torch.compile``) without touching the entry; the modules themselves are shared, and the
    attention processors a previous job installed are put back to the loaded ones. One job runs
    per device at a time (the queue), so an entry is used by one job at a time; the lock guards
    the bookkeeping against jobs on other devices. A miss evicts first, then loads, so a device
    holds at most ``capacity`` models, the one being loaded included.
    """

    def __init__(self, capacity: int = 1, *,
                 loader: Callable[..., Components] = load_components):
        if capacity < 0:
            raise UserError(f"model cache capacity must be >= 0, got {capacity}")
        self.capacity, self.loader = int(capacity), loader
        self.stats = CacheStats()
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}   # one load at a time per device

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._entries)

    def get(self, d, *, device, dtype, tokenizer: str | None = None) -> Components:
        """Components for ``DiffusionSpec`` ``d`` on ``device``/``dtype`` (placed there by the
        stylizer on first use; the key records where they will live)."""
        dev = str(device)
        key = components_key(d, device=dev, dtype=dtype, tokenizer=tokenizer)
        with self._lock:
            load_lock = self._loading.setdefault(dev, threading.Lock())
        with load_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    self.stats.hits += 1
                    return self._checkout(entry)
                evicted = self._make_room(dev)
            self._release(evicted, dev)
            comps = self.loader(d, tokenizer=tokenizer)
            with self._lock:
                self.stats.loads += 1
                if self.capacity == 0:
                    return comps
                entry = _Entry(comps, dev, _snapshot(comps))
                self._entries[key] = entry
                return self._checkout(entry)

    def clear(self) -> None:
        with self._lock:
            by_device: dict[str, list[_Entry]] = {}
            while self._entries:
                entry = self._entries.popitem(last=False)[1]
                by_device.setdefault(entry.device, []).append(entry)
                entry = None   # held only by by_device, which _release empties
        for dev in list(by_device):
            self._release(by_device.pop(dev), dev)

    def _make_room(self, dev: str) -> list[_Entry]:
        """Take this device's least recently used entries out until one more fits (lock held)."""
        mine = [k for k, e in self._entries.items() if e.device == dev]
        out = []
        while mine and len(mine) >= max(1, self.capacity):
            out.append(self._entries.pop(mine.pop(0)))
            self.stats.evictions += 1
        return out

    @staticmethod
    def _release(evicted: list[_Entry], dev: str) -> None:
        if not evicted:
            return
        log.info("model cache: releasing %d model(s) on %s", len(evicted), dev)
        evicted.clear()
        gc.collect()   # a finished job's stylizer may sit in a reference cycle with the modules
        if dev.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    @staticmethod
    def _checkout(entry: _Entry) -> Components:
        for module, procs in entry.processors:
            module.set_attn_processor(dict(procs))   # diffusers pops from the dict it is given
        return dataclasses.replace(entry.comps, controlnets=list(entry.comps.controlnets),
                                   prompt_expansions=dict(entry.comps.prompt_expansions))
