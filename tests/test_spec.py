"""JobSpec files and the keyframe schedule: what a job file says is what every frame gets."""
from __future__ import annotations

import pytest

from frameloom.errors import InputNotFound, UserError
from frameloom.spec import Schedule, load_spec, spec_from_dict, spec_to_toml, validate

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


def _spec(**extra):
    base = {"style": {"kind": "diffusion", "params": {"levels": 4},
                      "diffusion": {"prompt": "a harbour", "seed": 7, "strength": 0.5,
                                    "controlnets": [{"kind": "depth", "scale": 0.8}]}}}
    base.update(extra)
    return spec_from_dict(base)


def test_numbers_interpolate_and_hold_at_the_ends():
    spec = _spec(keyframes=[{"frame": 10, "strength": 0.2, "controlnet_scales": {"depth": 1.0}},
                            {"frame": 20, "strength": 0.6, "controlnet_scales": {"depth": 0.0}}])
    s = Schedule(spec)
    assert s.at(0).strength == pytest.approx(0.2)        # before the first key: its value
    assert s.at(15).strength == pytest.approx(0.4)
    assert s.at(15).controlnet_scales["depth"] == pytest.approx(0.5)
    assert s.at(99).strength == pytest.approx(0.6)       # after the last key: its value
    assert s.at(5).guidance == pytest.approx(7.5)        # no key: the default


def test_without_keyframes_every_frame_gets_the_base_settings():
    s = Schedule(_spec())
    f = s.at(42)
    assert (f.prompt, f.seed, f.blend) == ("a harbour", 7, 0.0)
    assert f.strength == pytest.approx(0.5)
    assert f.controlnet_scales == {"depth": pytest.approx(0.8)}
    assert f.params == {"levels": 4.0}


def test_prompts_and_seeds_dissolve_between_keyframes():
    spec = _spec(keyframes=[{"frame": 0, "prompt": "dawn", "seed": 1},
                            {"frame": 8, "prompt": "night", "seed": 2}])
    s = Schedule(spec)
    mid = s.at(2)
    assert (mid.prompt, mid.next_prompt, mid.seed, mid.next_seed) == ("dawn", "night", 1, 2)
    assert mid.blend == pytest.approx(0.25)
    end = s.at(8)
    assert (end.prompt, end.next_prompt, end.blend) == ("night", "night", 0.0)


def test_filter_params_keyframe():
    spec = spec_from_dict({"style": {"kind": "filter:cartoon"},
                           "keyframes": [{"frame": 0, "params": {"levels": 2}},
                                         {"frame": 4, "params": {"levels": 10}}]})
    assert Schedule(spec).at(1).params["levels"] == pytest.approx(4.0)


def test_two_keyframes_on_one_frame_are_refused():
    with pytest.raises(UserError, match="same frame"):
        Schedule(_spec(keyframes=[{"frame": 3, "strength": 0.1}, {"frame": 3, "strength": 0.2}]))


def test_toml_round_trip_and_relative_paths(tmp_path):
    spec = _spec(input="shots/a.mov", output="out/a.mov", frames={"start": 5, "end": 9, "step": 2},
                 keyframes=[{"frame": 0, "prompt": "x"}, {"frame": 4, "seed": 3}],
                 temporal={"mode": "fast", "window": 8})
    text = spec_to_toml(spec)
    assert spec_from_dict(tomllib.loads(text)) == spec
    job = tmp_path / "job.toml"
    job.write_text(text)
    loaded = load_spec(job)
    assert loaded.input == str(tmp_path / "shots" / "a.mov")
    assert loaded.style == spec.style and list(loaded.keyframes) == list(spec.keyframes)


@pytest.mark.parametrize("data,message", [
    ({"styel": {}}, "styel"),
    ({"frames": {"start": "soon"}}, "start"),
])
def test_unknown_or_mistyped_keys_name_the_field(data, message):
    with pytest.raises(UserError, match=message):
        spec_from_dict(data)


@pytest.mark.parametrize("data,message", [
    ({"frames": {"start": 9, "end": 3}}, "before"),
    ({"style": {"diffusion": {"strength": 1.5}}}, "strength"),
    ({"keyframes": [{"frame": 2, "strength": -1}]}, "keyframe 2"),
    ({"temporal": {"window": -2}}, "window"),
])
def test_validate_names_the_bad_value(data, message):
    with pytest.raises(UserError, match=message):
        validate(spec_from_dict(data))


def test_job_file_errors(tmp_path):
    with pytest.raises(InputNotFound):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("input = [unclosed")
    with pytest.raises(UserError, match="cannot parse"):
        load_spec(bad)
