// The test host's objects (parameters, clips, images, effects) and what its suites share.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ofx_api.h"
#include "properties.h"

namespace ofxhost {

using namespace ofx;

constexpr int kRowPadding = 48;  // bytes after each image row

struct Host;
struct Effect;

struct Param {
  std::string type, name;
  PropertySet props{"parameter instance"};
  mutable std::mutex mu;
  double d = 0;
  int i = 0;
  std::string s;
  std::map<double, double> keys;        // animated doubles: linear between keys, held at the ends
  std::map<double, std::string> skeys;  // animated strings: held from key to key

  double double_at(double t) const {
    std::lock_guard<std::mutex> lock(mu);
    if (keys.empty()) return d;
    auto hi = keys.lower_bound(t);
    if (hi == keys.begin()) return hi->second;
    if (hi == keys.end()) return std::prev(hi)->second;
    auto lo = std::prev(hi);
    return lo->second + (hi->second - lo->second) * (t - lo->first) / (hi->first - lo->first);
  }
  const char* string_at(double t) const {
    std::lock_guard<std::mutex> lock(mu);
    if (skeys.empty()) return s.c_str();
    auto it = skeys.upper_bound(t);
    return (it == skeys.begin() ? it : std::prev(it))->second.c_str();
  }
};

struct ParamSet {
  std::vector<std::unique_ptr<Param>> params;
  PropertySet props{"parameter set"};
  Param* find(const std::string& name) {
    for (auto& p : params)
      if (p->name == name) return p.get();
    return nullptr;
  }
};

struct Clip {
  std::string name;
  PropertySet props{"clip"};
  Effect* owner = nullptr;
};

// A frame as the host holds it, in OFX's layout: the bottom row first, each row padded, so
// source images point straight into it (no copy, as a host's cache hands out its buffers).
struct Frame {
  int width = 0, height = 0;
  int version = 0;  // bumped when the test replaces the frame: part of its unique identifier
  size_t packed = 0, row_bytes = 0;
  std::shared_ptr<std::vector<uint8_t>> ofx;

  void allocate(int w, int h, size_t pixel_size, std::vector<uint8_t> storage = {}) {
    width = w, height = h, packed = size_t(w) * pixel_size, row_bytes = packed + kRowPadding;
    storage.resize(row_bytes * h);
    ofx = std::make_shared<std::vector<uint8_t>>(std::move(storage));
  }
  uint8_t* row_from_top(int r) { return ofx->data() + (height - 1 - r) * row_bytes; }
  void fill(uint8_t byte) { std::memset(ofx->data(), byte, ofx->size()); }
  void load_top_down(const uint8_t* pixels) {
    fill(0xCD);
    for (int r = 0; r < height; ++r) std::memcpy(row_from_top(r), pixels + r * packed, packed);
  }
  // Top-down packed copy; false when a row's padding was written (a plugin overran a row).
  bool store_top_down(uint8_t* out) {
    bool padding_intact = true;
    for (int r = 0; r < height; ++r) {
      const uint8_t* row = row_from_top(r);
      std::memcpy(out + r * packed, row, packed);
      for (size_t i = packed; i < row_bytes && padding_intact; ++i) padding_intact = row[i] == 0xCD;
    }
    return padding_intact;
  }
};

// Output buffers are reused, as a host's image cache would: a fresh 8-33 MB allocation each
// render would mostly time the kernel zeroing pages.
extern std::mutex g_pool_mu;
extern std::vector<std::vector<uint8_t>> g_pool;

inline std::vector<uint8_t> pooled(size_t size) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  for (auto it = g_pool.begin(); it != g_pool.end(); ++it)
    if (it->size() == size) {
      std::vector<uint8_t> v = std::move(*it);
      g_pool.erase(it);
      return v;
    }
  return std::vector<uint8_t>(size);
}

inline void unpool(std::vector<uint8_t>&& v) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool.size() < 8) g_pool.push_back(std::move(v));
}

struct Image {
  PropertySet props{"image"};
  Effect* owner = nullptr;
  std::shared_ptr<std::vector<uint8_t>> pixels;  // the frame it points into, kept alive
  bool output = false;
};

struct Effect {
  PropertySet props{"effect"};
  ParamSet params;
  std::map<std::string, std::unique_ptr<Clip>> clips;
  bool instance = false;
  // instance only
  std::string depth, components;
  int width = 0, height = 0;
  double first = 0, last = 0;
  std::atomic<int> abort_flag{0};
  std::mutex mu;
  std::string persistent;  // "type: text" of the persistent message, or ""
  std::map<std::pair<long long, long long>, Frame> sources;  // (frame, scale * 1e6)
  std::atomic<long> source_fetches{0};
  std::atomic<int> sequential{0};
  std::atomic<bool> unique_ids{false};  // set kOfxImagePropUniqueIdentifier on source images
  std::mutex timing_mu;
  double last_action_s = 0, last_host_s = 0;  // of the latest render
};

struct Host {
  void* library = nullptr;
  OfxPlugin* plugin = nullptr;
  OfxHost ofx{};
  PropertySet props = ofxhost::host_properties();
  Effect descriptor, filter;
  std::mutex log_mu;
  std::string log;
  std::atomic<int> property_errors{0};
  std::mutex images_mu;
  std::set<Image*> images;
  std::atomic<long> memory_blocks{0};
  std::string json;  // last th_describe_json answer
};
extern Host* g_host;  // one plugin per process

// What the current thread is rendering: the instance, its render scale, its output buffer.
struct RenderContext {
  Effect* effect = nullptr;
  double sx = 1, sy = 1;
  Frame* output = nullptr;  // the frame the output image writes to
};
extern thread_local RenderContext t_render;
// Seconds this thread spent inside the host's image calls during the current action: the
// benchmark subtracts them to tell the plugin's share of a render.
extern thread_local double t_host_seconds;

struct HostTimer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~HostTimer() { t_host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};
extern thread_local unsigned t_thread_index;
extern thread_local bool t_spawned;

inline void log_line(const std::string& line) {
  if (!g_host) return;
  std::lock_guard<std::mutex> lock(g_host->log_mu);
  g_host->log += line + "\n";
}

inline size_t pixel_bytes(const std::string& depth, const std::string& comps) {
  size_t sample = depth == kOfxBitDepthByte ? 1 : depth == kOfxBitDepthShort ? 2 : 4;
  size_t n = comps == kOfxImageComponentRGBA ? 4 : comps == kOfxImageComponentRGB ? 3 : 1;
  return sample * n;
}

inline long long scale_key(double s) { return std::llround(s * 1e6); }

inline OfxStatus call(const char* action, const void* handle, PropertySet* in, PropertySet* out) {
  return g_host->plugin->mainEntry(action, handle, in ? in->handle() : nullptr, out ? out->handle() : nullptr);
}

inline Effect* effect_of(OfxImageEffectHandle h) { return reinterpret_cast<Effect*>(h); }
inline OfxImageEffectHandle handle_of(Effect* e) { return reinterpret_cast<OfxImageEffectHandle>(e); }

const void* fetch_suite(OfxPropertySetHandle host, const char* name, int version);

}  // namespace ofxhost
