#include "instance.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "cliphash.h"
#include "memory.h"

namespace frameloom {
namespace {

constexpr size_t kDoneJobsKept = 4;  // earlier settings stay a click away (toggling back)

// An image fetched from a clip, released when this goes out of scope (before the action ends).
class Image {
 public:
  Image(OfxImageClipHandle clip, OfxTime time) {
    if (!clip || g_suites.effects->clipGetImage(clip, time, nullptr, &handle_) != ofx::kOfxStatOK) {
      handle_ = nullptr;
      return;
    }
    Props p(handle_);
    view_.data = static_cast<uint8_t*>(p.get_pointer(ofx::kOfxImagePropData));
    view_.bounds = OfxRectI{p.get_int(ofx::kOfxImagePropBounds, 0, 0), p.get_int(ofx::kOfxImagePropBounds, 0, 1),
                            p.get_int(ofx::kOfxImagePropBounds, 0, 2), p.get_int(ofx::kOfxImagePropBounds, 0, 3)};
    view_.row_bytes = p.get_int(ofx::kOfxImagePropRowBytes);
    const std::string depth = p.get_string(ofx::kOfxImageEffectPropPixelDepth);
    const std::string comps = p.get_string(ofx::kOfxImageEffectPropComponents);
    if (!parse_depth(depth, &view_.depth))
      problem_ = "pixel depth " + depth + " is not supported (8-bit, 16-bit or float)";
    else if (!parse_components(comps, &view_.components))
      problem_ = "components " + comps + " are not supported (RGB or RGBA)";
    else if (!view_.data || view_.width() <= 0 || view_.height() <= 0)
      problem_ = "the host gave an empty image";
    unique_id_ = p.get_string(ofx::kOfxImagePropUniqueIdentifier);
  }
  ~Image() {
    if (handle_) g_suites.effects->clipReleaseImage(handle_);
  }
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  bool fetched() const { return handle_ != nullptr; }
  const std::string& problem() const { return problem_; }
  HostImage& view() { return view_; }
  // What tells this image's content from another's: the host's unique identifier when it sets
  // one (the spec's promise: equal identifiers, equal images), else a hash of the pixels.
  uint64_t identity() const {
    if (unique_id_.empty()) return fingerprint(view_, host_parallel_for);
    const std::string tagged = "ofx-unique-id:" + unique_id_;
    return fingerprint(reinterpret_cast<const uint8_t*>(tagged.data()), 0, 1, tagged.size());
  }

 private:
  OfxPropertySetHandle handle_ = nullptr;
  HostImage view_;
  std::string problem_;
  std::string unique_id_;
};

std::string param_string(OfxParamHandle h, OfxTime t, bool at_time) {
  char* v = nullptr;
  if (!h) return "";
  OfxStatus st = at_time ? g_suites.params->paramGetValueAtTime(h, t, &v)
                         : g_suites.params->paramGetValue(h, &v);
  return st == ofx::kOfxStatOK && v ? std::string(v) : std::string();
}

double param_double(OfxParamHandle h, OfxTime t, double fallback) {
  double v = fallback;
  if (!h || g_suites.params->paramGetValueAtTime(h, t, &v) != ofx::kOfxStatOK) return fallback;
  return v;
}

int param_int(OfxParamHandle h, int fallback) {
  int v = fallback;
  if (!h || g_suites.params->paramGetValue(h, &v) != ofx::kOfxStatOK) return fallback;
  return v;
}

bool param_animated(OfxParamHandle h) {
  unsigned int keys = 0;
  if (!h) return false;
  // A host that cannot say is asked at every frame: slower, never wrong.
  return g_suites.params->paramGetNumKeys(h, &keys) != ofx::kOfxStatOK || keys > 0;
}

std::string trim(std::string s) {
  const char* space = " \t\r\n";
  s.erase(0, s.find_first_not_of(space));
  s.erase(s.find_last_not_of(space) + 1);
  return s;
}

bool read_token(const std::string& path, std::string* token, CallError* err) {
  token->clear();
  if (path.empty()) return true;
  std::ifstream in(path, std::ios::binary);
  if (!in) return *err = CallError{"INVALID_ARGUMENT", "cannot read the token file " + path}, false;
  std::stringstream text;
  text << in.rdbuf();
  *token = trim(text.str());
  return true;
}

// The clip's frame rate as the exact fraction editors use (23.976 is 24000/1001).
void as_fraction(double fps, int* num, int* den) {
  *num = 0, *den = 1;
  if (!(fps > 0)) return;
  for (int d : {1, 1001}) {
    const double n = std::round(fps * d);
    if (std::fabs(n / d - fps) < 1e-4) return void((*num = static_cast<int>(n), *den = d));
  }
  *num = static_cast<int>(std::round(fps * 1000)), *den = 1000;
}

}  // namespace

Instance::Instance(OfxImageEffectHandle effect) : effect_(effect) {
  g_suites.effects->clipGetHandle(effect, ofx::kOfxImageEffectSimpleSourceClipName, &source_, nullptr);
  g_suites.effects->clipGetHandle(effect, ofx::kOfxImageEffectOutputClipName, &output_, nullptr);
  OfxParamSetHandle set = nullptr;
  g_suites.effects->getParamSet(effect, &set);
  auto get = [set](const char* name) {
    OfxParamHandle h = nullptr;
    if (set && g_suites.params->paramGetHandle(set, name, &h, nullptr) != ofx::kOfxStatOK) h = nullptr;
    return h;
  };
  params_.server = get(param::kServer);
  params_.token_file = get(param::kTokenFile);
  params_.style = get(param::kStyle);
  params_.model = get(param::kModel);
  params_.prompt = get(param::kPrompt);
  params_.negative_prompt = get(param::kNegativePrompt);
  params_.strength = get(param::kStrength);
  params_.guidance = get(param::kGuidance);
  params_.steps = get(param::kSteps);
  params_.seed = get(param::kSeed);
  params_.deflicker = get(param::kDeflicker);
  params_.window = get(param::kWindow);
}

Instance::~Instance() { clear_jobs(); }

Instance::Range Instance::source_range() const {
  OfxPropertySetHandle h = nullptr;
  if (!source_ || g_suites.effects->clipGetPropertySet(source_, &h) != ofx::kOfxStatOK) return {};
  Props p(h);
  Range r{p.get_double(ofx::kOfxImageEffectPropFrameRange, 0, 0),
          p.get_double(ofx::kOfxImageEffectPropFrameRange, -1, 1)};
  return r;
}

Instance::Range Instance::render_range(OfxTime t) const {
  Range clip = source_range();
  std::lock_guard<std::mutex> lock(mu_);
  if (sequences_ > 0 && sequence_.ok() && clip.ok()) {
    Range r{std::max(clip.first, sequence_.first), std::min(clip.last, sequence_.last)};
    // A frame outside the sequence (the viewer, during a render) belongs to the whole clip.
    if (r.ok() && t >= r.first - 0.5 && t <= r.last + 0.5) return r;
  }
  return clip;
}

Settings Instance::read_settings(const Range& r) const {
  Settings s;
  s.server = trim(param_string(params_.server, r.first, false));
  s.token_file = trim(param_string(params_.token_file, r.first, false));
  const int style = param_int(params_.style, 1);
  if (style >= 0 && style < static_cast<int>(kStyles.size())) s.style = kStyles[style];
  s.model = trim(param_string(params_.model, r.first, false));
  s.steps = param_int(params_.steps, 20);
  s.seed = param_int(params_.seed, 0);
  const int deflicker = param_int(params_.deflicker, 1);
  if (deflicker >= 0 && deflicker < static_cast<int>(kDeflickerModes.size()))
    s.deflicker = kDeflickerModes[deflicker];
  s.window = param_int(params_.window, 0);
  const int n = static_cast<int>(std::llround(r.last - r.first)) + 1;
  // Animated settings are read at every frame of the range: they become the job's keyframes.
  auto strings = [&](OfxParamHandle h, std::vector<std::string>* track) {
    track->assign(1, param_string(h, r.first, true));
    if (param_animated(h))
      for (int i = 1; i < n; ++i) track->push_back(param_string(h, r.first + i, true));
  };
  auto numbers = [&](OfxParamHandle h, double fallback, std::vector<double>* track) {
    track->assign(1, param_double(h, r.first, fallback));
    if (param_animated(h))
      for (int i = 1; i < n; ++i) track->push_back(param_double(h, r.first + i, fallback));
  };
  strings(params_.prompt, &s.prompt);
  strings(params_.negative_prompt, &s.negative_prompt);
  numbers(params_.strength, 0.75, &s.strength);
  numbers(params_.guidance, 7.5, &s.guidance);
  return s;
}

std::shared_ptr<ClipJob> Instance::job_for(const JobKey& key, const Settings& s, CallError* err) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& job : jobs_) {
      CallError failure;
      if (job->key() == key && !job->failed(&failure)) return job;
    }
  }
  // A new job: make sure the server is there and accepts us before gathering a whole clip.
  ClipJob::Params p;
  p.key = key;
  if (s.server.empty()) return *err = CallError{"INVALID_ARGUMENT", "set the server (HOST:PORT)"}, nullptr;
  if (!read_token(s.token_file, &p.token, err)) return nullptr;
  p.server = Server::get(s.server);
  v1::Capabilities caps;
  if (!p.server->capabilities(p.token, &caps, err)) return nullptr;
  const auto& styles = caps.styles();
  if (!styles.empty() && std::find(styles.begin(), styles.end(), s.style) == styles.end())
    return *err = CallError{"INVALID_ARGUMENT", "the server at " + s.server + " has no style " + s.style}, nullptr;
  if (caps.limits().max_frames() > 0 && key.frame_count > caps.limits().max_frames())
    return *err = CallError{"RESOURCE_EXHAUSTED",
                            format("the clip has %lld frames; the server takes at most %lld per job",
                                   static_cast<long long>(key.frame_count),
                                   static_cast<long long>(caps.limits().max_frames()))}, nullptr;
  p.spec = build_spec(s, key.first_index);
  if (s.style == "diffusion" && s.model.empty()) {
    for (const auto& m : caps.models())
      if (m.kind() == "checkpoint" || m.kind() == "diffusers") {
        p.spec.mutable_style()->mutable_diffusion()->set_model(m.name());
        break;
      }
    if (p.spec.style().diffusion().model().empty())
      return *err = CallError{"INVALID_ARGUMENT", "the server at " + s.server +
                              " has no diffusion checkpoint; set the model"}, nullptr;
  }
  p.first_index = key.first_index;
  p.count = key.frame_count;
  OfxPropertySetHandle clip_props = nullptr;
  g_suites.effects->clipGetPropertySet(source_, &clip_props);
  as_fraction(Props(clip_props).get_double(ofx::kOfxImageEffectPropFrameRate, 0), &p.fps_num, &p.fps_den);

  auto job = std::make_shared<ClipJob>(std::move(p));
  std::vector<std::shared_ptr<ClipJob>> superseded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& other : jobs_) {
      CallError failure;
      if (other->key() == key && !other->failed(&failure)) return other;  // another thread won
    }
    // Settings changed: a job still running for the same picture size is no longer wanted.
    // Finished ones stay (a few), so going back to earlier settings is instant.
    size_t done = 0;
    for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
      auto& other = *it;
      const bool same_size = other->key().scale_x == key.scale_x && other->key().scale_y == key.scale_y;
      CallError failure;
      const bool finished = other->finished();
      if ((same_size && !finished) || (finished && ++done > kDoneJobsKept)) superseded.push_back(other);
    }
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [&](const std::shared_ptr<ClipJob>& j) {
                  return std::find(superseded.begin(), superseded.end(), j) != superseded.end();
                }), jobs_.end());
    jobs_.push_back(job);
  }
  for (auto& old : superseded) old->cancel("superseded by new settings");
  return job;  // `superseded` goes last, outside the lock: their threads are joined then
}

void Instance::drop(const std::shared_ptr<ClipJob>& job) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), job), jobs_.end());
}

void Instance::clear_jobs() {
  std::vector<std::shared_ptr<ClipJob>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old.swap(jobs_);
    announced_.clear();
  }
  for (auto& job : old) job->cancel("the cache was cleared");
}

void Instance::report(const CallError& err) {
  const std::string text = "frameloom: " + err.message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reported_ && text == last_report_) return;
    reported_ = true;
    last_report_ = text;
  }
  if (g_suites.message_v2)
    g_suites.message_v2->setPersistentMessage(effect_, ofx::kOfxMessageError, "frameloom.error", "%s", text.c_str());
  else if (g_suites.message_v1)  // no persistent messages: the host's log, never a dialog mid-render
    g_suites.message_v1->message(effect_, ofx::kOfxMessageLog, "frameloom.error", "%s", text.c_str());
}

void Instance::clear_report() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reported_) return;
    reported_ = false;
    last_report_.clear();
  }
  if (g_suites.message_v2) g_suites.message_v2->clearPersistentMessage(effect_);
}

void Instance::log(const std::string& text) const {
  if (g_suites.message_v1)
    g_suites.message_v1->message(effect_, ofx::kOfxMessageLog, "frameloom.log", "%s", text.c_str());
}

bool Instance::gather(ClipJob& job, const Range& range, int64_t k, const HostImage& src,
                      uint64_t src_fingerprint, const std::function<bool()>& aborted) {
  // The range's source frames are gathered once: whichever render thread gets here first does
  // it, the others wait, and after an abort the next one carries on where it stopped.
  while (job.gathering()) {
    if (job.claim_gather()) {
      CallError err;  // a failure is kept by the job, for every thread waiting on it
      bool ok = true;
      for (int64_t i = job.gathered(); ok && i < job.count(); ++i) {
        if (aborted()) {
          job.release_gather();
          return false;
        }
        if (i == k) {
          ok = job.add_source(to_wire(src, host_parallel_for), src_fingerprint, src.bounds, &err);
          continue;
        }
        Image frame(source_, range.first + static_cast<double>(i));
        if (frame.fetched() && frame.problem().empty()) {
          ok = job.add_source(to_wire(frame.view(), host_parallel_for), frame.identity(),
                              frame.view().bounds, &err);
        } else {  // the spec says a missing image reads as black and transparent
          WireFrame black{src.width(), src.height(), src.components, wire_depth(src.depth), {}};
          black.data.assign(black.size(), 0);
          ok = job.add_source(black, 0, src.bounds, &err);
        }
      }
      job.start();
      return true;
    }
    job.wait_change(20);
    if (aborted()) return false;
  }
  return true;
}

OfxStatus Instance::render(Props in) {
  const OfxTime t = in.get_double(ofx::kOfxPropTime);
  const double sx = in.get_double(ofx::kOfxImageEffectPropRenderScale, 1, 0);
  const double sy = in.get_double(ofx::kOfxImageEffectPropRenderScale, 1, 1);
  const OfxRectI window{in.get_int(ofx::kOfxImageEffectPropRenderWindow, 0, 0),
                        in.get_int(ofx::kOfxImageEffectPropRenderWindow, 0, 1),
                        in.get_int(ofx::kOfxImageEffectPropRenderWindow, 0, 2),
                        in.get_int(ofx::kOfxImageEffectPropRenderWindow, 0, 3)};
  auto aborted = [this] { return g_suites.effects->abort(effect_) != 0; };

  Image out(output_, t);
  if (!out.fetched() || !out.problem().empty()) {
    report(CallError{"INTERNAL", out.fetched() ? out.problem() : "the host gave no output image"});
    return ofx::kOfxStatFailed;
  }
  const Range range = render_range(t);
  const Range clip = source_range();
  if (!range.ok()) {
    report(CallError{"FAILED_PRECONDITION", "the host gives no frame range for the source clip"});
    return ofx::kOfxStatFailed;
  }
  if (t < range.first - 0.5 || t > range.last + 0.5) {  // outside the clip: nothing to show
    WireFrame none;
    from_wire(none, OfxRectI{0, 0, 0, 0}, window, &out.view());
    return ofx::kOfxStatOK;
  }
  Image src(source_, t);
  if (!src.fetched() || !src.problem().empty()) {
    report(CallError{"FAILED_PRECONDITION", src.fetched() ? src.problem() : format("the host gave no source frame at %g", t)});
    return ofx::kOfxStatFailed;
  }
  const uint64_t src_fingerprint = src.identity();
  const Settings settings = read_settings(range);
  JobKey key;
  key.first_index = std::llround(range.first - clip.first);
  key.frame_count = std::llround(range.last - range.first) + 1;
  key.scale_x = sx, key.scale_y = sy;
  key.channels = src.view().components;
  key.depth = wire_depth(src.view().depth);
  key.server = settings.server;
  key.spec_digest = spec_digest(build_spec(settings, key.first_index));
  const int64_t k = std::llround(t - range.first);

  CallError err;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<ClipJob> job = job_for(key, settings, &err);
    if (!job) break;
    if (!gather(*job, range, k, src.view(), src_fingerprint, aborted)) return ofx::kOfxStatFailed;
    if (job->failed(&err)) {
      drop(job);
      if (err.code == "CANCELLED" && attempt == 0) continue;  // superseded meanwhile: once more
      break;
    }
    if (!job->same_source(k, src_fingerprint)) {  // the host's source changed since: start over
      job->cancel("the source frames changed");
      drop(job);
      continue;
    }
    FramePtr frame;
    switch (job->wait_for(k, aborted, &frame, &err)) {
      case Outcome::Aborted:
        return ofx::kOfxStatFailed;  // the host asked us to stop and throws the image away
      case Outcome::Failed:
        drop(job);
        if (err.code == "CANCELLED" && attempt == 0) continue;  // cleared or superseded: again
        report(err);
        return ofx::kOfxStatFailed;
      case Outcome::Ready:
        break;
    }
    from_wire(*frame, job->bounds(), window, &out.view(), host_parallel_for);
    clear_report();
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (std::find(announced_.begin(), announced_.end(), job->serial()) == announced_.end()) {
        announced_.push_back(job->serial()), first = true;
        if (announced_.size() > 64) announced_.erase(announced_.begin());
      }
    }
    if (first)
      log(format("frameloom: job %s, frames %lld-%lld%s", job->job_id().c_str(),
                 static_cast<long long>(key.first_index),
                 static_cast<long long>(key.first_index + key.frame_count - 1),
                 job->cached() ? ", from the server's cache" : ""));
    return ofx::kOfxStatOK;
  }
  if (err.empty()) err = CallError{"ABORTED", "the source frames keep changing"};
  report(err);
  return ofx::kOfxStatFailed;
}

OfxStatus Instance::begin_sequence(Props in) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool interactive = in.get_int(ofx::kOfxPropIsInteractive, 0) != 0;
  if (!interactive) {  // a render of a range; interactive ones show the whole clip's results
    ++sequences_;
    sequence_ = Range{in.get_double(ofx::kOfxImageEffectPropFrameRange, 0, 0),
                      in.get_double(ofx::kOfxImageEffectPropFrameRange, -1, 1)};
  }
  return ofx::kOfxStatOK;
}

OfxStatus Instance::end_sequence(Props in) {
  std::lock_guard<std::mutex> lock(mu_);
  if (in.get_int(ofx::kOfxPropIsInteractive, 0) == 0 && sequences_ > 0) --sequences_;
  return ofx::kOfxStatOK;
}

OfxStatus Instance::frames_needed(Props in, Props out) {
  const Range r = render_range(in.get_double(ofx::kOfxPropTime));
  if (!r.ok()) return ofx::kOfxStatReplyDefault;
  const std::string name = std::string(ofx::kOfxClipPropFrameRangePrefix) + ofx::kOfxImageEffectSimpleSourceClipName;
  out.set(name.c_str(), r.first, 0);
  out.set(name.c_str(), r.last, 1);
  return ofx::kOfxStatOK;
}

OfxStatus Instance::clip_preferences(Props out) {
  OfxPropertySetHandle h = nullptr;
  if (!source_ || g_suites.effects->clipGetPropertySet(source_, &h) != ofx::kOfxStatOK) return ofx::kOfxStatReplyDefault;
  Props src(h);
  const std::string comps = src.get_string(ofx::kOfxImageEffectPropComponents, ofx::kOfxImageComponentRGBA);
  const std::string depth = src.get_string(ofx::kOfxImageEffectPropPixelDepth, ofx::kOfxBitDepthFloat);
  const std::string out_clip = ofx::kOfxImageEffectOutputClipName;
  out.set((ofx::kOfxClipPropComponentsPrefix + out_clip).c_str(), comps);
  out.set((ofx::kOfxClipPropDepthPrefix + out_clip).c_str(), depth);
  out.set(ofx::kOfxImageEffectPropPreMultiplication,
          src.get_string(ofx::kOfxImageEffectPropPreMultiplication, ofx::kOfxImageOpaque));
  out.set(ofx::kOfxImageEffectFrameVarying, 1);  // the output moves even over a still source
  return ofx::kOfxStatOK;
}

OfxStatus Instance::instance_changed(Props in) {
  if (in.get_string(ofx::kOfxPropType) == ofx::kOfxTypeParameter &&
      in.get_string(ofx::kOfxPropName) == param::kClearCache) {
    clear_jobs();
    clear_report();
  }
  return ofx::kOfxStatOK;
}

void Instance::purge_caches() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& job : jobs_) job->forget_frames();  // the server still has them
}

}  // namespace frameloom
