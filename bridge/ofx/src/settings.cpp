#include "settings.h"

#include <cstdio>
#include <map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "cliphash.h"

namespace frameloom {

// Host scripts set choices by position: append new options, never reorder.
const std::vector<std::string> kStyles = {"identity",      "filter:cartoon", "filter:pencil",
                                          "filter:oil",    "filter:detail",  "diffusion"};
const std::vector<std::string> kDeflickerModes = {"none", "window", "fast"};

namespace {

// Frames of `track` that need a keyframe (see build_spec).
template <typename T>
std::vector<size_t> key_positions(const std::vector<T>& track) {
  std::vector<size_t> at;
  const size_t n = track.size();
  for (size_t i = 0; i < n; ++i)
    if (i == 0 || i + 1 == n || !(track[i] == track[i - 1]) || !(track[i] == track[i + 1]))
      at.push_back(i);
  return at;
}

template <typename T>
bool animated(const std::vector<T>& track) {
  for (const T& v : track)
    if (!(v == track.front())) return true;
  return false;
}

std::vector<float> as_float(const std::vector<double>& track) {
  return std::vector<float>(track.begin(), track.end());  // what Keyframe carries
}

}  // namespace

v1::JobSpec build_spec(const Settings& s, int64_t first_index) {
  v1::JobSpec spec;
  spec.set_name("OpenFX frameloom Stylize");
  auto* style = spec.mutable_style();
  style->set_kind(s.style);
  auto* temporal = spec.mutable_temporal();
  temporal->set_mode(s.deflicker);
  if (s.window > 0 && s.deflicker != "none") temporal->set_window(s.window);
  if (s.style != "diffusion") return spec;  // the same spec `frameloom stylize` builds

  auto* d = style->mutable_diffusion();
  d->set_model(s.model);
  d->set_prompt(s.prompt.front());
  d->set_negative_prompt(s.negative_prompt.front());
  d->set_seed(s.seed);
  d->set_steps(s.steps);
  d->set_strength(static_cast<float>(s.strength.front()));
  d->set_guidance(static_cast<float>(s.guidance.front()));
  auto* cross = d->mutable_cross_frame();
  cross->set_enabled(true);
  cross->set_first_frame(true);
  cross->set_previous_frames(1);

  std::map<int64_t, v1::Keyframe> keys;
  auto key_at = [&](size_t i) -> v1::Keyframe& {
    auto& k = keys[first_index + static_cast<int64_t>(i)];
    k.set_frame(first_index + static_cast<int64_t>(i));
    return k;
  };
  const auto strength = as_float(s.strength), guidance = as_float(s.guidance);
  if (animated(strength))
    for (size_t i : key_positions(strength)) key_at(i).set_strength(strength[i]);
  if (animated(guidance))
    for (size_t i : key_positions(guidance)) key_at(i).set_guidance(guidance[i]);
  if (animated(s.prompt))
    for (size_t i : key_positions(s.prompt)) key_at(i).set_prompt(s.prompt[i]);
  if (animated(s.negative_prompt))
    for (size_t i : key_positions(s.negative_prompt))
      key_at(i).set_negative_prompt(s.negative_prompt[i]);
  for (auto& entry : keys) *spec.add_keyframes() = std::move(entry.second);
  return spec;
}

std::string spec_digest(const v1::JobSpec& spec) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    spec.SerializeToCodedStream(&out);
  }
  Sha256 sha;
  sha.update(bytes.data(), bytes.size());
  return sha.hexdigest();
}

bool JobKey::operator==(const JobKey& o) const { return text() == o.text(); }

std::string JobKey::text() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "|%lld+%lld|%.6g,%.6g|%dx%d|", static_cast<long long>(first_index),
                static_cast<long long>(frame_count), scale_x, scale_y, channels, depth);
  return spec_digest + buf + server;
}

}  // namespace frameloom
