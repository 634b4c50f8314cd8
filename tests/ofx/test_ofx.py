"""The OpenFX plugin in the project's own OFX host, against a real `frameloom serve` on loopback.

The host (tests/ofxhost) loads build/ofx/frameloom.ofx.bundle the way a host does, describes it,
creates filter instances and renders real clips' frames out of order and from two threads. The
frames it gets back must equal `frameloom stylize` of the same clip with the same settings.
"""
from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from frameloom_client import FrameloomClient, clip_hash, pb
from mediafiles import photo_frames, write_clip
from ofx_host import BUNDLE, OK, arch_folder, decode, stylize_cli
from test_service_helpers import wait_until

N, W, H = 12, 96, 64
FIRST = 100  # the host's clip starts at frame 100: the server still sees source frames 0..N-1


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("ofx-clip") / "clip.mp4",
                      photo_frames(frames=N, size=(W, H), photo="chelsea"))


@pytest.fixture(scope="module")
def cartoon(clip, tmp_path_factory):
    """`frameloom stylize clip.mp4 --style filter:cartoon --no-deflicker`, 8- and 16-bit."""
    out = tmp_path_factory.mktemp("ofx-expected")
    args = ("--style", "filter:cartoon", "--no-deflicker")
    return {8: stylize_cli(clip, out / "8", *args),
            16: stylize_cli(clip, out / "16", *args, "--bit-depth", "16")}


def host_frames(frames, depth: str):
    """8-bit RGB frames as a host holds them in its own depth."""
    if depth == "byte":
        return [f.copy() for f in frames]
    if depth == "short":
        return [f.astype(np.uint16) * 257 for f in frames]
    return [f.astype(np.float32) / 255.0 for f in frames]


def expected_in(depth: str, want8, want16):
    if depth == "byte":
        return want8
    if depth == "short":
        return want16
    return [w.astype(np.float32) / 65535.0 for w in want16]


def make_instance(host, server, frames, depth, *, style="filter:cartoon", deflicker="none",
                  first=FIRST, channels=3):
    inst = host.create(depth, channels, frames[0].shape[1], frames[0].shape[0], first,
                       first + len(frames) - 1)
    inst.set_sources(frames, first=first)
    inst.set("server", server.target)
    inst.choose("style", style)
    inst.choose("deflicker", deflicker)
    return inst


def render_all(inst, times, threads=2):
    """Render `times` split over `threads` threads, each in its own shuffled order."""
    out, errors = {}, []
    order = list(times)
    random.Random(7).shuffle(order)

    def work(mine):
        for t in mine:
            try:
                out[t] = inst.render(t)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))

    workers = [threading.Thread(target=work, args=(order[k::threads],)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    assert not errors
    return out


def job_ids(log: str) -> list[str]:
    return [line.split("job ")[1].split(",")[0] for line in log.splitlines() if "frameloom: job " in line]


def test_bundle_and_description(host):
    assert (BUNDLE / "Contents" / arch_folder() / "frameloom.ofx").is_file()
    d = host.describe()
    assert d["plugin"]["id"] == "org.frameloom.Stylize"
    fx = d["effect"]
    assert fx["OfxPropLabel"] == ["frameloom Stylize"]
    assert fx["OfxImageEffectPropSupportedContexts"] == ["OfxImageEffectContextFilter"]
    assert fx["OfxImageEffectPropSupportedPixelDepths"] == ["OfxBitDepthByte", "OfxBitDepthShort",
                                                             "OfxBitDepthFloat"]
    assert fx["OfxImageEffectPropTemporalClipAccess"] == [1]
    assert fx["OfxImageEffectInstancePropSequentialRender"] == [2]
    assert fx["OfxImageEffectPluginRenderThreadSafety"] == ["OfxImageEffectRenderFullySafe"]
    assert fx["OfxImageEffectPropSupportsTiles"] == [0]
    assert sorted(d["clips"]) == ["Output", "Source"]
    assert d["clips"]["Source"]["OfxImageEffectPropTemporalClipAccess"] == [1]
    params = {p["OfxPropName"][0]: p for p in d["params"]}
    types = {name: p["OfxParamPropType"][0][len("OfxParamType"):] for name, p in params.items()}
    assert types == {"server": "String", "token_file": "String", "style": "Choice", "model": "String",
                     "prompt": "String", "negative_prompt": "String", "strength": "Double",
                     "guidance": "Double", "steps": "Integer", "seed": "Integer",
                     "deflicker": "Choice", "window": "Integer", "clear_cache": "PushButton"}
    assert params["style"]["OfxParamPropChoiceOption"] == [
        "identity", "filter:cartoon", "filter:pencil", "filter:oil", "filter:detail", "diffusion"]
    assert params["deflicker"]["OfxParamPropChoiceOption"] == ["none", "window", "fast"]
    assert params["strength"]["OfxParamPropAnimates"] == [1] and params["guidance"]["OfxParamPropAnimates"] == [1]
    assert params["token_file"]["OfxParamPropStringMode"] == ["OfxParamStringIsFilePath"]
    assert params["clear_cache"]["OfxPropLabel"] == ["Clear cache"]
    assert host.property_errors == 0, host.log()


@pytest.mark.parametrize("depth", ["byte", "short", "float"])
def test_frames_equal_frameloom_stylize(host, server, clip, cartoon, depth):
    frames = host_frames(decode(clip), depth)
    inst = make_instance(host, server, frames, depth)
    try:
        got = render_all(inst, range(FIRST, FIRST + N))
        want = expected_in(depth, cartoon[8], cartoon[16])
        for i in range(N):
            status, image = got[FIRST + i]
            assert status == OK, inst.message
            assert image.dtype == want[i].dtype
            np.testing.assert_array_equal(image, want[i], err_msg=f"frame {i}")
        assert inst.message == ""
        # The range was gathered once (one fetch per frame), and each later render fetches its
        # own frame to check it is still the one streamed.
        assert inst.source_fetches == 2 * N - 1
        assert inst.frames_needed(FIRST + 3) == (FIRST, FIRST + N - 1)
    finally:
        inst.destroy()


def test_second_pass_comes_from_the_cache(host, clip, cartoon, tmp_path, serve):
    srv = serve(tmp_path)
    frames = decode(clip)
    try:
        inst = make_instance(host, srv, frames, "byte")
        first = render_all(inst, range(FIRST, FIRST + N))
        with FrameloomClient(srv.target) as c:
            job_id = job_ids(host.log())[-1]
            wait_until(lambda: c.get_job(job_id).state == pb.JOB_STATE_SUCCEEDED)
            jobs_before = len(c.list_jobs())
        # Another instance (a host's render instance beside its UI one) on the same clip and
        # settings: the server answers from its clip cache; no job runs, no frame is sent.
        other = make_instance(host, srv, frames, "byte")
        second = render_all(other, range(FIRST, FIRST + N))
        with FrameloomClient(srv.target) as c:
            assert len(c.list_jobs()) == jobs_before
        assert "from the server's cache" in host.log().splitlines()[-1]
        other.destroy()
    finally:
        srv.stop()
    # With the server gone, the first instance still has every frame in its own memory.
    third = render_all(inst, range(FIRST, FIRST + N))
    for t in range(FIRST, FIRST + N):
        for got in (first[t], second[t], third[t]):
            assert got[0] == OK
            np.testing.assert_array_equal(got[1], cartoon[8][t - FIRST])
    inst.destroy()


@pytest.mark.parametrize("depth", ["byte", "short", "float"])
def test_clip_hash_agrees_with_the_python_client(host, server, depth):
    """Either side hashes the clip the same way: the plugin's job answers the Python client's
    request from the cache, and the other way round. RGBA: alpha passes through."""
    rgb = photo_frames(frames=5, size=(48, 32), photo="coffee")
    rng = np.random.default_rng(3)
    rgba = [np.concatenate([f, rng.integers(0, 256, f.shape[:2] + (1,), np.uint8)], axis=2) for f in rgb]
    frames = host_frames(rgba, depth)
    if depth == "float":   # host floats need not sit on 16-bit steps, nor inside [0, 1]
        frames = [f + rng.normal(0, 0.01, f.shape).astype(np.float32) for f in frames]
    spec = pb.JobSpec(style=pb.StyleSpec(kind="filter:pencil"))
    spec.temporal.mode = "none"
    with FrameloomClient(server.target) as client:
        for plugin_first in (True, False):
            ordered = frames if plugin_first else [f[::-1].copy() for f in frames]  # new pixels
            inst = make_instance(host, server, ordered, depth, style="filter:pencil", first=0,
                                 channels=4)
            python = lambda: client.stylize(spec, ordered)  # noqa: E731
            if plugin_first:
                got = [inst.render(t) for t in range(5)]
                # The last frame can reach the plugin just before its job is filed in the
                # cache: the next request must come after that, as a person's would.
                job_id = job_ids(host.log())[-1]
                wait_until(lambda: client.get_job(job_id).state == pb.JOB_STATE_SUCCEEDED)
                call = python()
                theirs = dict(call)
                assert call.cached and call.frames_sent == 0
            else:
                call = python()
                theirs = dict(call)
                assert not call.cached
                got = [inst.render(t) for t in range(5)]
                assert "from the server's cache" in host.log().splitlines()[-1]
            assert clip_hash(ordered) == call.clip_id.split(":")[0]
            for t, (status, image) in enumerate(got):
                assert status == OK, inst.message
                want = theirs[t] if depth != "float" else theirs[t].astype(np.float32) / 65535.0
                np.testing.assert_array_equal(image, want)
                alpha = ordered[t][:, :, 3]
                if depth == "float":
                    alpha = (np.clip(alpha, 0, 1) * np.float32(65535) + np.float32(0.5)).astype(np.uint16) / np.float32(65535)
                np.testing.assert_array_equal(image[:, :, 3], alpha)
            inst.destroy()


def test_animated_strength_reaches_the_server_as_keyframes(host, server):
    frames = photo_frames(frames=6, size=(64, 48))
    inst = make_instance(host, server, frames, "byte", style="diffusion", first=0)
    inst.set("model", "builtin:tiny")
    inst.set("steps", 2)
    inst.set_key("prompt", 0, "a watercolor cat")   # strings hold from key to key
    inst.set_key("prompt", 3, "a watercolor dog")
    for t, v in ((0, 0.5), (3, 0.5), (5, 0.9)):   # held, then a ramp
        inst.set_key("strength", t, v)
    try:
        got = render_all(inst, [4, 1, 5, 0, 3, 2])
        assert all(status == OK for status, _ in got.values()), inst.message
        job_id = job_ids(host.log())[-1]
        with FrameloomClient(server.target) as c:
            spec = c.get_job(job_id).spec
            keys = {k.frame: k.strength for k in spec.keyframes if k.HasField("strength")}
            # One keyframe wherever the value changes, and at both ends of the constant run.
            assert sorted(keys) == [0, 3, 4, 5]
            np.testing.assert_allclose([keys[f] for f in (0, 3, 4, 5)], [0.5, 0.5, 0.7, 0.9], atol=1e-6)
            prompts = {k.frame: k.prompt for k in spec.keyframes if k.HasField("prompt")}
            assert prompts == {0: "a watercolor cat", 2: "a watercolor cat", 3: "a watercolor dog",
                               5: "a watercolor dog"}
            assert all(not k.HasField("guidance") for k in spec.keyframes)
            assert spec.style.diffusion.prompt == "a watercolor cat"
            # The same job from the Python client, computed afresh, gives the same frames.
            want = c.stylize_all(spec, frames, cache=False)
        for t in range(6):
            np.testing.assert_array_equal(got[t][1], want[t])
        # A different animation is a different job.
        inst.set_key("strength", 5, 0.2)
        status, _ = inst.render(5)
        assert status == OK and job_ids(host.log())[-1] != job_id
    finally:
        inst.destroy()


def test_proxy_render_is_its_own_cache_entry(host, server, clip, cartoon):
    full = decode(clip)
    half = [f[::2, ::2].copy() for f in full]
    inst = make_instance(host, server, full, "byte")
    inst.set_sources(half, first=FIRST, scale=0.5)
    try:
        status, image = inst.render(FIRST + 2)
        assert status == OK
        np.testing.assert_array_equal(image, cartoon[8][2])
        status, proxy = inst.render(FIRST + 2, scale=0.5)
        assert status == OK and proxy.shape == half[2].shape
        with FrameloomClient(server.target) as c:
            spec = pb.JobSpec(style=pb.StyleSpec(kind="filter:cartoon"))
            spec.temporal.mode = "none"
            want = c.stylize_all(spec, half, cache=False)
        np.testing.assert_array_equal(proxy, want[2])
        # The full-size results were not dropped for the proxy's.
        fetches = inst.source_fetches
        status, image = inst.render(FIRST + 7)
        assert status == OK and inst.source_fetches == fetches + 1
        np.testing.assert_array_equal(image, cartoon[8][7])
    finally:
        inst.destroy()


def test_sequential_render_streams_its_range_with_deflicker(host, server, clip, tmp_path):
    frames = decode(clip)
    want = stylize_cli(clip, tmp_path / "seq", "--style", "filter:cartoon", "--window", "1",
                       "--frames", "3-8")
    whole = stylize_cli(clip, tmp_path / "whole", "--style", "filter:cartoon", "--window", "1")
    inst = make_instance(host, server, frames, "byte", deflicker="window")
    inst.set("window", 1)
    try:
        with inst.sequence(FIRST + 3, FIRST + 8):
            assert inst.frames_needed(FIRST + 5) == (FIRST + 3, FIRST + 8)
            got = [inst.render(t) for t in range(FIRST + 3, FIRST + 9)]
            assert inst.source_fetches == 2 * 6 - 1   # only the sequence's range was gathered
            # The viewer asks for a frame outside the sequence meanwhile: the whole clip's.
            assert inst.frames_needed(FIRST + 10) == (FIRST, FIRST + N - 1)
            status, outside = inst.render(FIRST + 10)
            assert status == OK
            np.testing.assert_array_equal(outside, whole[10])
        for (status, image), w in zip(got, want):
            assert status == OK, inst.message
            np.testing.assert_array_equal(image, w)
        # Deflicker windows end at the range: the sequence's edge frames differ from the clip's.
        assert not np.array_equal(got[0][1], whole[3])
        # The sequence's job hashed frames 3..8 as source indices 3..8: a Python client asking
        # for the same range gets it from the cache.
        spec = pb.JobSpec(style=pb.StyleSpec(kind="filter:cartoon"))
        spec.temporal.mode, spec.temporal.window = "window", 1
        seq_job = job_ids(host.log())[-2]
        with FrameloomClient(server.target) as c:
            wait_until(lambda: c.get_job(seq_job).state == pb.JOB_STATE_SUCCEEDED)
            call = c.stylize(spec, frames[3:9], first_index=3)
            theirs = dict(call)
        assert call.cached and sorted(theirs) == list(range(3, 9))
        np.testing.assert_array_equal(theirs[3], want[0])
    finally:
        inst.destroy()
