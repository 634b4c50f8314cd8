// Job logic, free of OFX and gRPC: the effect's settings (with their animation over the clip)
// -> the JobSpec a frameloom server runs, and the key that names its results.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frameloom/v1/frameloom.pb.h"

namespace frameloom {

// The style choice's options, in menu order; their labels are StyleSpec.kind values.
extern const std::vector<std::string> kStyles;
extern const std::vector<std::string> kDeflickerModes;

struct Settings {
  std::string server = "127.0.0.1:50051";
  std::string token_file;
  std::string style = "filter:cartoon";
  std::string model;  // diffusion only; empty: the first checkpoint the server offers
  int steps = 20;
  int64_t seed = 0;
  std::string deflicker = "window";
  int window = 0;  // +- frames; 0: the server's default
  // Values at each frame of the range, first frame first; one value when not animated.
  std::vector<std::string> prompt{""}, negative_prompt{""};
  std::vector<double> strength{0.75}, guidance{7.5};
};

// A settings change the host can animate lands in keyframes on source frame indices
// first_index + i: one wherever the value changes, and at both ends of every constant run, so
// the server's linear interpolation between keyframes gives back every frame's value.
v1::JobSpec build_spec(const Settings& settings, int64_t first_index);

// Names one job's results: everything that decides the pixels, plus where they come from.
struct JobKey {
  std::string spec_digest;
  int64_t first_index = 0, frame_count = 0;
  double scale_x = 1, scale_y = 1;
  int channels = 4, depth = 8;
  std::string server;
  bool operator==(const JobKey& o) const;
  std::string text() const;
};

std::string spec_digest(const v1::JobSpec& spec);

}  // namespace frameloom
