"""One place decides the engine's threads: fixed counts are obeyed, and the default gives way
to another busy process."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from frameloom import threads
from frameloom.cli import main


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    threads.configure(1, source="the test suite")   # as conftest's FRAMELOOM_THREADS says


def test_a_fixed_count_wins_in_order(monkeypatch, restore_threads):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.configure().fixed == 3                     # the environment
    assert threads.configure(2).fixed == 2                    # --threads beats it
    monkeypatch.delenv(threads.ENV)
    p = threads.configure(cpus=1)                             # a Ray task's CPUs
    assert (p.fixed, p.cpus) == (1, 1)
    assert threads.Rebalancer(p).apply() == 1 and torch.get_num_threads() == 1
    assert threads.configure().fixed is None                  # nothing asked: adaptive


def test_bad_counts_are_one_line_errors(monkeypatch, capsys, restore_threads):
    assert main(["info", "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
    monkeypatch.setenv(threads.ENV, "many")
    assert main(["info"]) == 2
    assert "FRAMELOOM_THREADS must be a number" in capsys.readouterr().err


def test_info_shows_the_choice(monkeypatch, capsys, restore_threads):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert main(["info", "--threads", "1"]) == 0
    assert "1 (fixed by --threads" in capsys.readouterr().out
    assert main(["info"]) == 0
    assert "adaptive" in capsys.readouterr().out


@pytest.mark.skipif(threads.available_cpus() < 2 or not sys.platform.startswith("linux"),
                    reason="needs 2 CPUs and Linux's CPU counters")
def test_the_default_gives_a_core_to_a_busy_neighbour(monkeypatch, restore_threads):
    monkeypatch.delenv(threads.ENV, raising=False)
    cpus = threads.available_cpus()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        rebalancer = threads.Rebalancer(threads.configure())
        assert rebalancer.apply() == 1      # the cautious start, before any measurement
        time.sleep(threads.MEASURE_EVERY_S + 0.2)
        assert rebalancer.apply() <= cpus - 1
        assert torch.get_num_threads() == rebalancer.threads
    finally:
        spinner.kill()
        spinner.wait()
