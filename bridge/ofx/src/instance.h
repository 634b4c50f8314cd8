// The host adapter for one effect instance: reads its parameters and clips through the OFX
// suites, finds (or starts) the ClipJob that holds the frame the host wants, and writes that
// frame into the host's output image. Any render thread may be in here at once.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clipjob.h"
#include "host.h"
#include "settings.h"

namespace frameloom {

// Parameter names host scripts use; `server`, `style`, `prompt`, `strength`, `window` are fixed.
namespace param {
inline constexpr const char kServer[] = "server";
inline constexpr const char kTokenFile[] = "token_file";
inline constexpr const char kStyle[] = "style";
inline constexpr const char kModel[] = "model";
inline constexpr const char kPrompt[] = "prompt";
inline constexpr const char kNegativePrompt[] = "negative_prompt";
inline constexpr const char kStrength[] = "strength";
inline constexpr const char kGuidance[] = "guidance";
inline constexpr const char kSteps[] = "steps";
inline constexpr const char kSeed[] = "seed";
inline constexpr const char kDeflicker[] = "deflicker";
inline constexpr const char kWindow[] = "window";
inline constexpr const char kClearCache[] = "clear_cache";
}  // namespace param

class Instance {
 public:
  explicit Instance(OfxImageEffectHandle effect);
  ~Instance();
  OfxStatus render(Props in);
  OfxStatus begin_sequence(Props in);
  OfxStatus end_sequence(Props in);
  OfxStatus frames_needed(Props in, Props out);
  OfxStatus clip_preferences(Props out);
  OfxStatus instance_changed(Props in);
  void purge_caches();

 private:
  struct Range {
    double first = 0, last = -1;
    bool ok() const { return last >= first; }
  };
  Range source_range() const;
  Range render_range(OfxTime t) const;  // the sequential render's range holding t, else the clip's
  Settings read_settings(const Range& range) const;
  std::shared_ptr<ClipJob> job_for(const JobKey& key, const Settings& settings, CallError* err);
  // False: the host aborted (the job keeps what was gathered).
  bool gather(ClipJob& job, const Range& range, int64_t k, const HostImage& src,
              uint64_t src_fingerprint, const std::function<bool()>& aborted);
  void drop(const std::shared_ptr<ClipJob>& job);
  void clear_jobs();
  void report(const CallError& err);
  void clear_report();
  void log(const std::string& text) const;

  OfxImageEffectHandle effect_;
  OfxImageClipHandle source_ = nullptr, output_ = nullptr;
  struct Handles {
    OfxParamHandle server = nullptr, token_file = nullptr, style = nullptr, model = nullptr,
                   prompt = nullptr, negative_prompt = nullptr, strength = nullptr,
                   guidance = nullptr, steps = nullptr, seed = nullptr, deflicker = nullptr,
                   window = nullptr;
  } params_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<ClipJob>> jobs_;
  std::vector<uint64_t> announced_;  // jobs whose id went to the host's log
  int sequences_ = 0;  // Begin/EndSequenceRender nesting (several render threads may be in one)
  Range sequence_;
  bool reported_ = false;
  std::string last_report_;
};

}  // namespace frameloom
