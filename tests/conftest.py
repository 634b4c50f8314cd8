"""Settings every test shares.

Nothing may be downloaded: Hugging Face libraries are told they are offline before any import.
The engine computes on one thread (FRAMELOOM_THREADS, which subprocesses inherit too): the
tests' tensors are small, and the suite shares its 2 cores with the servers and commands it
starts, so fitting threads to the free cores would only add noise.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("FRAMELOOM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Tests against a running DaVinci Resolve Studio: collected only where its scripting is set up.
collect_ignore = [] if os.environ.get("RESOLVE_SCRIPT_API") else ["test_resolve_live.py"]


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
