"""Settings every test shares.

Nothing may be downloaded: Hugging Face libraries are told they are offline before any import.
torch runs on one thread: the tests' tensors are small, and on a shared 2-core machine two OpenMP
workers spin against other processes (tiny diffusion models ran 10x slower on two threads).
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
