"""The CLIP tokenizer, found offline.

Single-file checkpoints carry the text encoder's weights but not its vocabulary, and nothing may be
downloaded at run time, so the tokenizer comes from the first of these that exists:

1. an explicit path (``tokenizer=`` / ``--tokenizer`` / ``FRAMELOOM_CLIP_TOKENIZER``): a folder with
   ``vocab.json`` + ``merges.txt`` (a diffusers model's ``tokenizer/`` folder, or the model folder
   itself), or OpenAI's ``bpe_simple_vocab_16e6.txt.gz``;
2. beside the checkpoint: ``tokenizer/`` or ``vocab.json`` + ``merges.txt`` in its folder;
3. a diffusers folder's own ``tokenizer/``;
4. the local Hugging Face cache, if the user already has ``openai/clip-vit-large-patch14`` (or an
   SD1.5 repo) there from other tools (read only; never a download);
5. the CLIP BPE file shipped inside the ``open_clip_torch`` PyPI package, located without
   importing it (its import pulls torchvision): vocab and merges are derived from it in memory,
   exactly as OpenAI's tokenizer builds them (ids match: "a photo of a cat" -> 49406 320 1125 539
   320 2368 49407).

When none exists, :class:`UserError` names what to provide.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path

from ...errors import UserError

MAX_LENGTH = 77
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
_HF_REPOS = (("openai/clip-vit-large-patch14", ""), ("stable-diffusion-v1-5/stable-diffusion-v1-5", "tokenizer/"),
             ("runwayml/stable-diffusion-v1-5", "tokenizer/"))
_BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"


def bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable-character table byte-level BPE vocabularies are written in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _make(vocab: dict[str, int], merges: list[tuple[str, str]]):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer(vocab=vocab, merges=merges)
    tok.model_max_length = MAX_LENGTH
    return tok


def tiny_tokenizer():
    """A byte-level CLIP tokenizer with no merges (514 ids): every word is spelled out in bytes.

    Built by code so ``builtin:tiny`` needs no files; ids 512/513 are BOS/EOS."""
    base = list(bytes_to_unicode().values())
    words = base + [c + "</w>" for c in base] + [BOS, EOS]
    return _make({w: i for i, w in enumerate(words)}, [])


def tokenizer_from_bpe(path: Path):
    """Derive CLIP's vocab (49408 ids) and merges from OpenAI's ``bpe_simple_vocab_16e6.txt.gz``."""
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1] if m.strip()]
    base = list(bytes_to_unicode().values())
    words = base + [c + "</w>" for c in base] + ["".join(m) for m in merges] + [BOS, EOS]
    return _make({w: i for i, w in enumerate(words)}, merges)


def tokenizer_from_files(vocab_json: Path, merges_txt: Path):
    vocab = json.loads(vocab_json.read_text(encoding="utf-8"))
    merges = []
    for line in merges_txt.read_text(encoding="utf-8").splitlines():
        if line.startswith("#version") or not line.strip():
            continue
        a, b = line.split()
        merges.append((a, b))
    return _make(vocab, merges)


def _from_folder(folder: Path):
    for d in (folder, folder / "tokenizer"):
        if (d / "vocab.json").is_file() and (d / "merges.txt").is_file():
            return tokenizer_from_files(d / "vocab.json", d / "merges.txt")
        if (d / _BPE_NAME).is_file():
            return tokenizer_from_bpe(d / _BPE_NAME)
    return None


def _from_hf_cache():
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    for repo, sub in _HF_REPOS:
        vocab = try_to_load_from_cache(repo, f"{sub}vocab.json")
        merges = try_to_load_from_cache(repo, f"{sub}merges.txt")
        if isinstance(vocab, str) and isinstance(merges, str):
            return tokenizer_from_files(Path(vocab), Path(merges))
    return None


def _open_clip_bpe() -> Path | None:
    """The BPE file inside an installed ``open_clip`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("open_clip")
    except (ImportError, ValueError):
        return None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / _BPE_NAME
        if path.is_file():
            return path
    return None


def find_clip_tokenizer(model: Path | None, explicit: str | None = None):
    """The CLIP tokenizer for ``model`` (a checkpoint file or diffusers folder), offline."""
    explicit = explicit or os.environ.get("FRAMELOOM_CLIP_TOKENIZER")
    if explicit:
        p = Path(explicit)
        tok = tokenizer_from_bpe(p) if p.is_file() and p.name.endswith(".gz") else (
            _from_folder(p) if p.is_dir() else None)
        if tok is None:
            raise UserError(f"tokenizer {explicit}: expected a folder with vocab.json and merges.txt "
                            f"or a {_BPE_NAME} file")
        return tok
    if model is not None:
        tok = _from_folder(model if model.is_dir() else model.parent)
        if tok is not None:
            return tok
    for find in (_from_hf_cache, lambda: (lambda p: tokenizer_from_bpe(p) if p else None)(_open_clip_bpe())):
        tok = find()
        if tok is not None:
            return tok
    raise UserError(
        f"no CLIP tokenizer found for {model}: pass --tokenizer DIR (a folder with vocab.json and "
        "merges.txt, e.g. any SD1.5 diffusers model's tokenizer/), put those two files beside the "
        "checkpoint, or `pip install open_clip_torch` (ships the CLIP vocabulary)")
