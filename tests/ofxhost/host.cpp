// frameloom's minimal OpenFX host, for the tests: loads a bundle's binary the way a host does
// (OfxGetNumberOfPlugins / OfxGetPlugin, setHost, Load, Describe, DescribeInContext), provides
// the property, parameter, image-effect, memory, multithread and message suites, and drives one
// filter-context instance. Python drives it through the flat C API at the end (ctypes).
//
// Images are laid out as OFX says: the data pointer is the bottom-left pixel, rows go up, and
// rows are padded (rowBytes > width * pixel size) so a plugin that ignores either is caught.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "ofx_api.h"
#include "properties.h"

using namespace ofx;
using ofxhost::PropertySet;
using ofxhost::Type;

namespace {

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

struct Frame {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // top row first, packed, in the instance's depth and components
};

// Image buffers are reused, as a host's image cache would: fresh 8-33 MB allocations each
// render would time the kernel's page zeroing, not the plugin.
std::mutex g_pool_mu;
std::vector<std::vector<uint8_t>> g_pool;

std::vector<uint8_t> pooled(size_t size) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  for (auto it = g_pool.begin(); it != g_pool.end(); ++it)
    if (it->size() == size) {
      std::vector<uint8_t> v = std::move(*it);
      g_pool.erase(it);
      return v;
    }
  return std::vector<uint8_t>(size);
}

void unpool(std::vector<uint8_t>&& v) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool.size() < 8) g_pool.push_back(std::move(v));
}

struct Image {
  PropertySet props{"image"};
  std::vector<uint8_t> buffer;
  ~Image() { unpool(std::move(buffer)); }
  Effect* owner = nullptr;
  Frame* writeback = nullptr;  // the output: copied back (top row first) when released
  size_t packed = 0, row_bytes = 0;
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
Host* g_host = nullptr;

// What the current thread is rendering: the instance, its render scale, its output buffer.
struct RenderContext {
  Effect* effect = nullptr;
  double sx = 1, sy = 1;
  Frame* output = nullptr;  // the frame the output image writes to
  bool written = false;     // an output image came back
};
thread_local RenderContext t_render;
// Seconds this thread spent inside the host's image calls during the current action: the
// benchmark subtracts them to tell the plugin's share of a render.
thread_local double t_host_seconds = 0;

struct HostTimer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~HostTimer() { t_host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};
thread_local unsigned t_thread_index = 0;
thread_local bool t_spawned = false;

void log_line(const std::string& line) {
  if (!g_host) return;
  std::lock_guard<std::mutex> lock(g_host->log_mu);
  g_host->log += line + "\n";
}

size_t pixel_bytes(const std::string& depth, const std::string& comps) {
  size_t sample = depth == kOfxBitDepthByte ? 1 : depth == kOfxBitDepthShort ? 2 : 4;
  size_t n = comps == kOfxImageComponentRGBA ? 4 : comps == kOfxImageComponentRGB ? 3 : 1;
  return sample * n;
}

long long scale_key(double s) { return std::llround(s * 1e6); }

OfxStatus call(const char* action, const void* handle, PropertySet* in, PropertySet* out) {
  return g_host->plugin->mainEntry(action, handle, in ? in->handle() : nullptr, out ? out->handle() : nullptr);
}

Effect* effect_of(OfxImageEffectHandle h) { return reinterpret_cast<Effect*>(h); }
OfxImageEffectHandle handle_of(Effect* e) { return reinterpret_cast<OfxImageEffectHandle>(e); }

// ---- parameter suite ---------------------------------------------------------------------------

OfxStatus paramDefine(OfxParamSetHandle set, const char* type, const char* name, OfxPropertySetHandle* props) {
  auto* ps = reinterpret_cast<ParamSet*>(set);
  if (!ps || !name || !type) return kOfxStatErrBadHandle;
  if (ps->find(name)) return kOfxStatErrExists;
  auto p = std::make_unique<Param>();
  p->type = type, p->name = name;
  p->props = ofxhost::param_descriptor_properties(type, name);
  if (props) *props = p->props.handle();
  ps->params.push_back(std::move(p));
  return kOfxStatOK;
}

OfxStatus paramGetHandle(OfxParamSetHandle set, const char* name, OfxParamHandle* param, OfxPropertySetHandle* props) {
  auto* ps = reinterpret_cast<ParamSet*>(set);
  Param* p = ps && name ? ps->find(name) : nullptr;
  if (!p) return kOfxStatErrUnknown;
  if (param) *param = reinterpret_cast<OfxParamHandle>(p);
  if (props) *props = p->props.handle();
  return kOfxStatOK;
}

OfxStatus paramSetGetPropertySet(OfxParamSetHandle set, OfxPropertySetHandle* props) {
  if (!set) return kOfxStatErrBadHandle;
  *props = reinterpret_cast<ParamSet*>(set)->props.handle();
  return kOfxStatOK;
}

OfxStatus paramGetPropertySet(OfxParamHandle param, OfxPropertySetHandle* props) {
  if (!param) return kOfxStatErrBadHandle;
  *props = reinterpret_cast<Param*>(param)->props.handle();
  return kOfxStatOK;
}

OfxStatus get_value(Param* p, double t, va_list ap) {
  if (p->type == kOfxParamTypeDouble) {
    *va_arg(ap, double*) = p->double_at(t);
  } else if (p->type == kOfxParamTypeInteger || p->type == kOfxParamTypeChoice || p->type == kOfxParamTypeBoolean) {
    std::lock_guard<std::mutex> lock(p->mu);
    *va_arg(ap, int*) = p->i;
  } else if (p->type == kOfxParamTypeString) {
    *va_arg(ap, const char**) = p->string_at(t);
  } else {
    return kOfxStatErrUnsupported;
  }
  return kOfxStatOK;
}

OfxStatus paramGetValue(OfxParamHandle param, ...) {
  if (!param) return kOfxStatErrBadHandle;
  va_list ap;
  va_start(ap, param);
  OfxStatus st = get_value(reinterpret_cast<Param*>(param), 0.0, ap);
  va_end(ap);
  return st;
}

OfxStatus paramGetValueAtTime(OfxParamHandle param, OfxTime time, ...) {
  if (!param) return kOfxStatErrBadHandle;
  va_list ap;
  va_start(ap, time);
  OfxStatus st = get_value(reinterpret_cast<Param*>(param), time, ap);
  va_end(ap);
  return st;
}

OfxStatus paramUnsupported3(OfxParamHandle, OfxTime, ...) { return kOfxStatErrUnsupported; }
OfxStatus paramUnsupported4(OfxParamHandle, OfxTime, OfxTime, ...) { return kOfxStatErrUnsupported; }

OfxStatus set_value(Param* p, double t, bool keyed, va_list ap) {
  std::lock_guard<std::mutex> lock(p->mu);
  if (p->type == kOfxParamTypeDouble) {
    double v = va_arg(ap, double);
    keyed ? void(p->keys[t] = v) : void(p->d = v);
  } else if (p->type == kOfxParamTypeInteger || p->type == kOfxParamTypeChoice || p->type == kOfxParamTypeBoolean) {
    p->i = va_arg(ap, int);
  } else if (p->type == kOfxParamTypeString) {
    const char* v = va_arg(ap, const char*);
    keyed ? void(p->skeys[t] = v ? v : "") : void(p->s = v ? v : "");
  } else {
    return kOfxStatErrUnsupported;
  }
  return kOfxStatOK;
}

OfxStatus paramSetValue(OfxParamHandle param, ...) {
  if (!param) return kOfxStatErrBadHandle;
  va_list ap;
  va_start(ap, param);
  OfxStatus st = set_value(reinterpret_cast<Param*>(param), 0.0, false, ap);
  va_end(ap);
  return st;
}

OfxStatus paramSetValueAtTime(OfxParamHandle param, OfxTime time, ...) {
  if (!param) return kOfxStatErrBadHandle;
  va_list ap;
  va_start(ap, time);
  OfxStatus st = set_value(reinterpret_cast<Param*>(param), time, true, ap);
  va_end(ap);
  return st;
}

std::vector<double> key_times(Param* p) {
  std::lock_guard<std::mutex> lock(p->mu);
  std::vector<double> times;
  for (auto& k : p->keys) times.push_back(k.first);
  for (auto& k : p->skeys) times.push_back(k.first);
  return times;
}

OfxStatus paramGetNumKeys(OfxParamHandle param, unsigned int* n) {
  if (!param) return kOfxStatErrBadHandle;
  *n = static_cast<unsigned>(key_times(reinterpret_cast<Param*>(param)).size());
  return kOfxStatOK;
}

OfxStatus paramGetKeyTime(OfxParamHandle param, unsigned int nth, OfxTime* time) {
  if (!param) return kOfxStatErrBadHandle;
  auto times = key_times(reinterpret_cast<Param*>(param));
  if (nth >= times.size()) return kOfxStatErrBadIndex;
  *time = times[nth];
  return kOfxStatOK;
}

OfxStatus paramGetKeyIndex(OfxParamHandle param, OfxTime time, int direction, int* index) {
  if (!param) return kOfxStatErrBadHandle;
  auto times = key_times(reinterpret_cast<Param*>(param));
  for (int i = 0; i < static_cast<int>(times.size()); ++i) {
    if ((direction == 0 && std::fabs(times[i] - time) < 1e-6) || (direction > 0 && times[i] > time)) {
      *index = i;
      return kOfxStatOK;
    }
  }
  if (direction < 0)
    for (int i = static_cast<int>(times.size()) - 1; i >= 0; --i)
      if (times[i] < time) return *index = i, kOfxStatOK;
  return kOfxStatFailed;
}

OfxStatus paramDeleteKey(OfxParamHandle param, OfxTime time) {
  if (!param) return kOfxStatErrBadHandle;
  auto* p = reinterpret_cast<Param*>(param);
  std::lock_guard<std::mutex> lock(p->mu);
  return p->keys.erase(time) + p->skeys.erase(time) ? kOfxStatOK : kOfxStatErrBadIndex;
}

OfxStatus paramDeleteAllKeys(OfxParamHandle param) {
  if (!param) return kOfxStatErrBadHandle;
  auto* p = reinterpret_cast<Param*>(param);
  std::lock_guard<std::mutex> lock(p->mu);
  p->keys.clear(), p->skeys.clear();
  return kOfxStatOK;
}

OfxStatus paramCopy(OfxParamHandle, OfxParamHandle, OfxTime, const OfxRangeD*) { return kOfxStatErrUnsupported; }
OfxStatus paramEditBegin(OfxParamSetHandle, const char*) { return kOfxStatOK; }
OfxStatus paramEditEnd(OfxParamSetHandle) { return kOfxStatOK; }

const OfxParameterSuiteV1 kParameterSuite = {
    paramDefine, paramGetHandle, paramSetGetPropertySet, paramGetPropertySet, paramGetValue,
    paramGetValueAtTime, paramUnsupported3, paramUnsupported4, paramSetValue, paramSetValueAtTime,
    paramGetNumKeys, paramGetKeyTime, paramGetKeyIndex, paramDeleteKey, paramDeleteAllKeys,
    paramCopy, paramEditBegin, paramEditEnd};

// ---- image effect suite ------------------------------------------------------------------------

OfxStatus getPropertySet(OfxImageEffectHandle h, OfxPropertySetHandle* props) {
  if (!h) return kOfxStatErrBadHandle;
  *props = effect_of(h)->props.handle();
  return kOfxStatOK;
}

OfxStatus getParamSet(OfxImageEffectHandle h, OfxParamSetHandle* set) {
  if (!h) return kOfxStatErrBadHandle;
  *set = reinterpret_cast<OfxParamSetHandle>(&effect_of(h)->params);
  return kOfxStatOK;
}

OfxStatus clipDefine(OfxImageEffectHandle h, const char* name, OfxPropertySetHandle* props) {
  Effect* e = effect_of(h);
  if (!e || !name || e->instance) return kOfxStatErrBadHandle;
  auto clip = std::make_unique<Clip>();
  clip->name = name;
  clip->props = ofxhost::clip_descriptor_properties(name);
  clip->owner = e;
  if (props) *props = clip->props.handle();
  e->clips[name] = std::move(clip);
  return kOfxStatOK;
}

OfxStatus clipGetHandle(OfxImageEffectHandle h, const char* name, OfxImageClipHandle* clip, OfxPropertySetHandle* props) {
  Effect* e = effect_of(h);
  if (!e || !name || !e->instance) return kOfxStatErrBadHandle;
  auto it = e->clips.find(name);
  if (it == e->clips.end()) return kOfxStatErrUnknown;
  if (clip) *clip = reinterpret_cast<OfxImageClipHandle>(it->second.get());
  if (props) *props = it->second->props.handle();
  return kOfxStatOK;
}

OfxStatus clipGetPropertySet(OfxImageClipHandle clip, OfxPropertySetHandle* props) {
  if (!clip) return kOfxStatErrBadHandle;
  *props = reinterpret_cast<Clip*>(clip)->props.handle();
  return kOfxStatOK;
}

// An OFX image over `frame`: bottom row first, padded rows. Writes go back to `frame` when the
// image is the output (copied back in th_render).
Image* make_image(Effect* e, Frame& frame, double sx, double sy, bool output) {
  auto* img = new Image();
  img->owner = e;
  img->writeback = output ? &frame : nullptr;
  const size_t packed = size_t(frame.width) * pixel_bytes(e->depth, e->components);
  const size_t row_bytes = packed + kRowPadding;
  img->packed = packed, img->row_bytes = row_bytes;
  img->buffer = pooled(row_bytes * frame.height);
  if (output) {  // starts as a pattern no correct render leaves behind
    std::memset(img->buffer.data(), 0xCD, img->buffer.size());
  } else {
    for (int r = 0; r < frame.height; ++r) {  // memory row 0 is the picture's bottom row
      uint8_t* row = img->buffer.data() + (frame.height - 1 - r) * row_bytes;
      std::memcpy(row, frame.pixels.data() + r * packed, packed);
      std::memset(row + packed, 0xCD, row_bytes - packed);
    }
  }
  img->props.add_string(kOfxPropType, {kOfxTypeImage}, 1, true)
      .add_pointer(kOfxImagePropData, img->buffer.data(), true)
      .add_int(kOfxImagePropBounds, {0, 0, frame.width, frame.height}, 4, true)
      .add_int(kOfxImagePropRegionOfDefinition, {0, 0, frame.width, frame.height}, 4, true)
      .add_int(kOfxImagePropRowBytes, {static_cast<int>(row_bytes)}, 1, true)
      .add_string(kOfxImageEffectPropComponents, {e->components}, 1, true)
      .add_string(kOfxImageEffectPropPixelDepth, {e->depth}, 1, true)
      .add_string(kOfxImageEffectPropPreMultiplication,
                  {e->components == kOfxImageComponentRGBA ? kOfxImageUnPreMultiplied : kOfxImageOpaque}, 1, true)
      .add_double(kOfxImageEffectPropRenderScale, {sx, sy}, 2, true)
      .add_double(kOfxImagePropPixelAspectRatio, {1.0}, 1, true)
      .add_string(kOfxImagePropField, {kOfxImageFieldNone}, 1, true)
      .add_string(kOfxImagePropUniqueIdentifier, {""}, 1, true);
  std::lock_guard<std::mutex> lock(g_host->images_mu);
  g_host->images.insert(img);
  return img;
}

OfxStatus clipGetImage(OfxImageClipHandle h, OfxTime time, const OfxRectD*, OfxPropertySetHandle* out) {
  HostTimer timer;
  auto* clip = reinterpret_cast<Clip*>(h);
  if (!clip || !out) return kOfxStatErrBadHandle;
  Effect* e = clip->owner;
  if (t_render.effect != e) {
    log_line("host error: clipGetImage outside a render of this instance");
    return kOfxStatFailed;
  }
  if (clip->name == kOfxImageEffectOutputClipName) {
    *out = make_image(e, *t_render.output, t_render.sx, t_render.sy, true)->props.handle();
    return kOfxStatOK;
  }
  const double frame = std::round(time);
  if (std::fabs(frame - time) > 1e-6 || frame < e->first || frame > e->last) return kOfxStatFailed;
  Frame* src = nullptr;
  {
    std::lock_guard<std::mutex> lock(e->mu);
    auto it = e->sources.find({static_cast<long long>(frame), scale_key(t_render.sx)});
    if (it != e->sources.end()) src = &it->second;
  }
  if (!src) return kOfxStatFailed;
  ++e->source_fetches;
  *out = make_image(e, *src, t_render.sx, t_render.sy, false)->props.handle();
  return kOfxStatOK;
}

OfxStatus clipReleaseImage(OfxPropertySetHandle h) {
  HostTimer timer;
  Image* img = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_host->images_mu);
    for (Image* i : g_host->images)
      if (i->props.handle() == h) img = i;
    if (!img) {
      log_line("host error: clipReleaseImage of an unknown image");
      return kOfxStatErrBadHandle;
    }
    g_host->images.erase(img);
  }
  if (img->writeback) {
    t_render.written = true;
    Frame& f = *img->writeback;
    for (int r = 0; r < f.height; ++r) {
      const uint8_t* row = img->buffer.data() + (f.height - 1 - r) * img->row_bytes;
      std::memcpy(f.pixels.data() + r * img->packed, row, img->packed);
      for (size_t i = img->packed; i < img->row_bytes; ++i)
        if (row[i] != 0xCD) {
          log_line("host error: the plugin wrote past the end of an output row");
          break;
        }
    }
  }
  delete img;
  return kOfxStatOK;
}

OfxStatus clipGetRegionOfDefinition(OfxImageClipHandle h, OfxTime, OfxRectD* bounds) {
  auto* clip = reinterpret_cast<Clip*>(h);
  if (!clip || !bounds) return kOfxStatErrBadHandle;
  *bounds = OfxRectD{0, 0, double(clip->owner->width), double(clip->owner->height)};
  return kOfxStatOK;
}

int abortRender(OfxImageEffectHandle h) { return h && effect_of(h)->abort_flag.load() ? 1 : 0; }

struct MemoryBlock {
  std::vector<uint8_t> bytes;
};

OfxStatus imageMemoryAlloc(OfxImageEffectHandle, size_t n, OfxImageMemoryHandle* out) {
  auto* block = new MemoryBlock{std::vector<uint8_t>(n)};
  ++g_host->memory_blocks;
  *out = reinterpret_cast<OfxImageMemoryHandle>(block);
  return kOfxStatOK;
}
OfxStatus imageMemoryFree(OfxImageMemoryHandle h) {
  if (!h) return kOfxStatErrBadHandle;
  delete reinterpret_cast<MemoryBlock*>(h);
  --g_host->memory_blocks;
  return kOfxStatOK;
}
OfxStatus imageMemoryLock(OfxImageMemoryHandle h, void** ptr) {
  if (!h) return kOfxStatErrBadHandle;
  *ptr = reinterpret_cast<MemoryBlock*>(h)->bytes.data();
  return kOfxStatOK;
}
OfxStatus imageMemoryUnlock(OfxImageMemoryHandle h) { return h ? kOfxStatOK : kOfxStatErrBadHandle; }

const OfxImageEffectSuiteV1 kEffectSuite = {
    getPropertySet, getParamSet, clipDefine, clipGetHandle, clipGetPropertySet, clipGetImage,
    clipReleaseImage, clipGetRegionOfDefinition, abortRender, imageMemoryAlloc, imageMemoryFree,
    imageMemoryLock, imageMemoryUnlock};

// ---- memory, threads, messages ----------------------------------------------------------------

OfxStatus memoryAlloc(void*, size_t n, void** out) {
  *out = std::malloc(n ? n : 1);
  if (!*out) return kOfxStatErrMemory;
  ++g_host->memory_blocks;
  return kOfxStatOK;
}
OfxStatus memoryFree(void* p) {
  if (!p) return kOfxStatErrBadHandle;
  std::free(p);
  --g_host->memory_blocks;
  return kOfxStatOK;
}
const OfxMemorySuiteV1 kMemorySuite = {memoryAlloc, memoryFree};

OfxStatus multiThread(OfxThreadFunctionV1 fn, unsigned int n, void* arg) {
  if (!fn) return kOfxStatErrBadHandle;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i)
    threads.emplace_back([=] {
      t_thread_index = i, t_spawned = true;
      fn(i, n, arg);
    });
  for (auto& t : threads) t.join();
  return kOfxStatOK;
}
OfxStatus multiThreadNumCPUs(unsigned int* n) {
  *n = std::max(1u, std::thread::hardware_concurrency());
  return kOfxStatOK;
}
OfxStatus multiThreadIndex(unsigned int* i) {
  *i = t_thread_index;
  return kOfxStatOK;
}
int multiThreadIsSpawnedThread() { return t_spawned ? 1 : 0; }
struct Mutex {
  std::recursive_mutex mu;
};
OfxStatus mutexCreate(OfxMutexHandle* out, int locks) {
  auto* m = new Mutex();
  for (int i = 0; i < locks; ++i) m->mu.lock();
  *out = reinterpret_cast<OfxMutexHandle>(m);
  return kOfxStatOK;
}
OfxStatus mutexDestroy(const OfxMutexHandle m) {
  delete reinterpret_cast<Mutex*>(m);
  return kOfxStatOK;
}
OfxStatus mutexLock(const OfxMutexHandle m) {
  reinterpret_cast<Mutex*>(m)->mu.lock();
  return kOfxStatOK;
}
OfxStatus mutexUnLock(const OfxMutexHandle m) {
  reinterpret_cast<Mutex*>(m)->mu.unlock();
  return kOfxStatOK;
}
OfxStatus mutexTryLock(const OfxMutexHandle m) {
  return reinterpret_cast<Mutex*>(m)->mu.try_lock() ? kOfxStatOK : kOfxStatFailed;
}
const OfxMultiThreadSuiteV1 kThreadSuite = {multiThread, multiThreadNumCPUs, multiThreadIndex,
                                            multiThreadIsSpawnedThread, mutexCreate, mutexDestroy,
                                            mutexLock, mutexUnLock, mutexTryLock};

std::string vformat(const char* fmt, va_list ap) {
  char buf[4096];
  std::vsnprintf(buf, sizeof buf, fmt ? fmt : "", ap);
  return buf;
}

OfxStatus message(void*, const char* type, const char* id, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string text = vformat(fmt, ap);
  va_end(ap);
  log_line(std::string("message ") + (type ? type : "?") + ": " + text);
  return kOfxStatOK;
}

OfxStatus setPersistentMessage(void* handle, const char* type, const char* id, const char* fmt, ...) {
  if (!handle) return kOfxStatErrBadHandle;
  va_list ap;
  va_start(ap, fmt);
  std::string text = vformat(fmt, ap);
  va_end(ap);
  Effect* e = static_cast<Effect*>(handle);
  {
    std::lock_guard<std::mutex> lock(e->mu);
    e->persistent = std::string(type ? type : "?") + ": " + text;
  }
  log_line(std::string("persistent ") + (type ? type : "?") + ": " + text);
  return kOfxStatOK;
}

OfxStatus clearPersistentMessage(void* handle) {
  if (!handle) return kOfxStatErrBadHandle;
  Effect* e = static_cast<Effect*>(handle);
  std::lock_guard<std::mutex> lock(e->mu);
  e->persistent.clear();
  return kOfxStatOK;
}

const OfxMessageSuiteV2 kMessageSuite = {message, setPersistentMessage, clearPersistentMessage};

const void* fetchSuite(OfxPropertySetHandle host, const char* name, int version) {
  if (!g_host || host != g_host->props.handle() || !name) return nullptr;
  const std::string n = name;
  if (n == kOfxPropertySuite && version == 1) return ofxhost::property_suite();
  if (n == kOfxParameterSuite && version == 1) return &kParameterSuite;
  if (n == kOfxImageEffectSuite && version == 1) return &kEffectSuite;
  if (n == kOfxMemorySuite && version == 1) return &kMemorySuite;
  if (n == kOfxMultiThreadSuite && version == 1) return &kThreadSuite;
  if (n == kOfxMessageSuite && (version == 1 || version == 2)) return &kMessageSuite;
  return nullptr;
}

// ---- instances -------------------------------------------------------------------------------

PropertySet instance_properties(Effect* e, double fps) {
  PropertySet p("effect instance");
  p.add_string(kOfxPropType, {kOfxTypeImageEffectInstance}, 1, true)
      .add_string(kOfxImageEffectPropContext, {kOfxImageEffectContextFilter}, 1, true)
      .add_pointer(kOfxPropInstanceData, nullptr)
      .add_double(kOfxImageEffectPropProjectSize, {double(e->width), double(e->height)}, 2, true)
      .add_double(kOfxImageEffectPropProjectOffset, {0, 0}, 2, true)
      .add_double(kOfxImageEffectPropProjectExtent, {double(e->width), double(e->height)}, 2, true)
      .add_double(kOfxImageEffectPropProjectPixelAspectRatio, {1.0}, 1, true)
      .add_double(kOfxImageEffectPropFrameRate, {fps}, 1, true)
      .add_double(kOfxImageEffectPropFrameStep, {1.0}, 1, true)
      .add_double(kOfxImageEffectInstancePropEffectDuration, {e->last - e->first + 1}, 1, true)
      .add_int(kOfxPropIsInteractive, {0}, 1, true)
      .add_int(kOfxImageEffectInstancePropSequentialRender, {2})
      .add_int(kOfxImageEffectPropSupportsTiles, {1})
      .add_int(kOfxImageEffectPropSupportsMultiResolution, {1})
      .add_string(kOfxImageEffectPluginRenderThreadSafety, {kOfxImageEffectRenderInstanceSafe});
  return p;
}

PropertySet clip_properties(Effect* e, const Clip& desc, double fps) {
  PropertySet p("clip instance " + desc.name);
  const char* premult = e->components == kOfxImageComponentRGBA ? kOfxImageUnPreMultiplied : kOfxImageOpaque;
  p.add_string(kOfxPropType, {kOfxTypeClip}, 1, true)
      .add_string(kOfxPropName, {desc.name}, 1, true)
      .add_string(kOfxPropLabel, {desc.props.string_at(kOfxPropLabel)}, 1, true)
      .add_string(kOfxImageEffectPropSupportedComponents, desc.props.strings(kOfxImageEffectPropSupportedComponents), 0, true)
      .add_int(kOfxImageEffectPropTemporalClipAccess, {desc.props.int_at(kOfxImageEffectPropTemporalClipAccess)}, 1, true)
      .add_int(kOfxImageClipPropOptional, {0}, 1, true)
      .add_int(kOfxImageClipPropIsMask, {0}, 1, true)
      .add_int(kOfxImageEffectPropSupportsTiles, {desc.props.int_at(kOfxImageEffectPropSupportsTiles)}, 1, true)
      .add_string(kOfxImageEffectPropPixelDepth, {e->depth}, 1, true)
      .add_string(kOfxImageEffectPropComponents, {e->components}, 1, true)
      .add_string(kOfxImageClipPropUnmappedPixelDepth, {e->depth}, 1, true)
      .add_string(kOfxImageClipPropUnmappedComponents, {e->components}, 1, true)
      .add_string(kOfxImageEffectPropPreMultiplication, {premult}, 1, true)
      .add_double(kOfxImagePropPixelAspectRatio, {1.0}, 1, true)
      .add_double(kOfxImageEffectPropFrameRate, {fps}, 1, true)
      .add_double(kOfxImageEffectPropFrameRange, {e->first, e->last}, 2, true)
      .add_double("OfxImageEffectPropUnmappedFrameRate", {fps}, 1, true)
      .add_double("OfxImageEffectPropUnmappedFrameRange", {e->first, e->last}, 2, true)
      .add_string(kOfxImageClipPropFieldOrder, {kOfxImageFieldNone}, 1, true)
      .add_int(kOfxImageClipPropConnected, {1}, 1, true)
      .add_int(kOfxImageClipPropContinuousSamples, {0}, 1, true);
  return p;
}

PropertySet change_args(const char* type, const std::string& name, const char* reason) {
  PropertySet in("instance changed arguments");
  in.add_string(kOfxPropType, {type}, 1, true)
      .add_string(kOfxPropName, {name}, 1, true)
      .add_string(kOfxPropChangeReason, {reason}, 1, true)
      .add_double(kOfxPropTime, {0.0}, 1, true)
      .add_double(kOfxImageEffectPropRenderScale, {1.0, 1.0}, 2, true);
  return in;
}

void instance_changed(Effect* e, const std::string& name) {
  PropertySet reason("begin instance changed arguments");
  reason.add_string(kOfxPropChangeReason, {kOfxChangeUserEdited}, 1, true);
  call(kOfxActionBeginInstanceChanged, handle_of(e), &reason, nullptr);
  PropertySet in = change_args(kOfxTypeParameter, name, kOfxChangeUserEdited);
  call(kOfxActionInstanceChanged, handle_of(e), &in, nullptr);
  call(kOfxActionEndInstanceChanged, handle_of(e), &reason, nullptr);
}

void copy_out(const char* text, char* out, int len) {
  if (!out || len <= 0) return;
  std::snprintf(out, len, "%s", text);
}

}  // namespace

// ---- the C API Python drives ------------------------------------------------------------------

extern "C" {

void* th_load(const char* binary, char* err, int errlen) {
  if (g_host) return copy_out("a plugin is already loaded", err, errlen), nullptr;
  auto host = std::make_unique<Host>();
  host->library = dlopen(binary, RTLD_NOW | RTLD_LOCAL);
  if (!host->library) return copy_out(dlerror(), err, errlen), nullptr;
  auto count = reinterpret_cast<int (*)()>(dlsym(host->library, "OfxGetNumberOfPlugins"));
  auto get = reinterpret_cast<OfxPlugin* (*)(int)>(dlsym(host->library, "OfxGetPlugin"));
  if (!count || !get) return copy_out("no OfxGetNumberOfPlugins/OfxGetPlugin", err, errlen), nullptr;
  if (count() < 1 || !(host->plugin = get(0))) return copy_out("the binary holds no plugin", err, errlen), nullptr;
  if (std::string(host->plugin->pluginApi ? host->plugin->pluginApi : "") != kOfxImageEffectPluginApi ||
      host->plugin->apiVersion != kOfxImageEffectPluginApiVersion)
    return copy_out("not an image effect plugin (API 1)", err, errlen), nullptr;
  g_host = host.release();
  ofxhost::g_report = [](const std::string& line) {
    ++g_host->property_errors;
    log_line(line);
  };
  g_host->ofx.host = g_host->props.handle();
  g_host->ofx.fetchSuite = fetchSuite;
  g_host->plugin->setHost(&g_host->ofx);
  g_host->descriptor.props = ofxhost::effect_descriptor_properties();
  g_host->descriptor.props.add_string(kOfxPluginPropFilePath, {binary}, 1, true);
  OfxStatus st = call(kOfxActionLoad, nullptr, nullptr, nullptr);
  if (st != kOfxStatOK && st != kOfxStatReplyDefault) return copy_out("Load failed", err, errlen), g_host;
  st = call(kOfxActionDescribe, handle_of(&g_host->descriptor), nullptr, nullptr);
  if (st != kOfxStatOK) return copy_out("Describe failed", err, errlen), g_host;
  auto contexts = g_host->descriptor.props.strings(kOfxImageEffectPropSupportedContexts);
  bool filter = false;
  for (auto& c : contexts) filter = filter || c == kOfxImageEffectContextFilter;
  if (!filter) return copy_out("the effect has no filter context", err, errlen), g_host;
  g_host->filter.props = g_host->descriptor.props;  // a per-context copy of the description
  PropertySet in("describe in context arguments");
  in.add_string(kOfxImageEffectPropContext, {kOfxImageEffectContextFilter}, 1, true);
  st = call(kOfxImageEffectActionDescribeInContext, handle_of(&g_host->filter), &in, nullptr);
  if (st != kOfxStatOK) return copy_out("DescribeInContext failed", err, errlen), g_host;
  copy_out("", err, errlen);
  return g_host;
}

const char* th_describe_json(void*) {
  std::ostringstream out;
  out << "{\"plugin\":{\"id\":\"" << g_host->plugin->pluginIdentifier << "\",\"version\":["
      << g_host->plugin->pluginVersionMajor << "," << g_host->plugin->pluginVersionMinor << "]},";
  out << "\"effect\":" << g_host->filter.props.json() << ",\"clips\":{";
  bool first = true;
  for (auto& [name, clip] : g_host->filter.clips) out << (first ? "" : ",") << "\"" << name << "\":" << clip->props.json(), first = false;
  out << "},\"params\":[";
  first = true;
  for (auto& p : g_host->filter.params.params) out << (first ? "" : ",") << p->props.json(), first = false;
  out << "]}";
  g_host->json = out.str();
  return g_host->json.c_str();
}

int th_unload(void*) {
  if (!g_host) return kOfxStatErrBadHandle;
  OfxStatus st = call(kOfxActionUnload, nullptr, nullptr, nullptr);
  dlclose(g_host->library);
  // The host outlives the plugin's code: keep it (its log) for the last questions.
  g_host->plugin = nullptr;
  return st;
}

const char* th_log(void*) {
  static thread_local std::string copy;
  std::lock_guard<std::mutex> lock(g_host->log_mu);
  copy = g_host->log;
  return copy.c_str();
}

int th_property_errors(void*) { return g_host->property_errors.load(); }
long th_memory_blocks(void*) { return g_host->memory_blocks.load(); }
long th_images_outstanding(void*) {
  std::lock_guard<std::mutex> lock(g_host->images_mu);
  return static_cast<long>(g_host->images.size());
}

void* th_create(void*, const char* depth, const char* components, int width, int height,
                double first, double last, double fps, char* err, int errlen) {
  auto* e = new Effect();
  e->instance = true;
  e->depth = depth, e->components = components;
  e->width = width, e->height = height, e->first = first, e->last = last;
  e->props = instance_properties(e, fps);
  for (auto& desc : g_host->filter.params.params) {
    auto p = std::make_unique<Param>();
    p->type = desc->type, p->name = desc->name;
    p->props = desc->props;
    if (p->type == kOfxParamTypeDouble) p->d = desc->props.double_at(kOfxParamPropDefault);
    else if (p->type == kOfxParamTypeString) p->s = desc->props.string_at(kOfxParamPropDefault);
    else if (desc->props.has(kOfxParamPropDefault)) p->i = desc->props.int_at(kOfxParamPropDefault);
    e->params.params.push_back(std::move(p));
  }
  for (auto& [name, desc] : g_host->filter.clips) {
    auto clip = std::make_unique<Clip>();
    clip->name = name, clip->owner = e;
    clip->props = clip_properties(e, *desc, fps);
    e->clips[name] = std::move(clip);
  }
  if (call(kOfxActionCreateInstance, handle_of(e), nullptr, nullptr) != kOfxStatOK) {
    copy_out("CreateInstance failed", err, errlen);
    delete e;
    return nullptr;
  }
  // What a host asks next: the plugin's clip preferences. Ours cannot map depths, so the answer
  // must keep the source's.
  PropertySet out("clip preferences");
  for (const char* clip : {kOfxImageEffectSimpleSourceClipName, kOfxImageEffectOutputClipName}) {
    out.add_string((std::string(kOfxClipPropComponentsPrefix) + clip).c_str(), {e->components});
    out.add_string((std::string(kOfxClipPropDepthPrefix) + clip).c_str(), {e->depth});
    out.add_double((std::string("OfxImageClipPropPAR_") + clip).c_str(), {1.0});
  }
  out.add_double(kOfxImageEffectPropFrameRate, {fps})
      .add_string(kOfxImageEffectPropPreMultiplication, {e->components == kOfxImageComponentRGBA ? kOfxImageUnPreMultiplied : kOfxImageOpaque})
      .add_int(kOfxImageClipPropContinuousSamples, {0})
      .add_int(kOfxImageEffectFrameVarying, {0})
      .add_string(kOfxImageClipPropFieldOrder, {kOfxImageFieldNone});
  OfxStatus st = call(kOfxImageEffectActionGetClipPreferences, handle_of(e), nullptr, &out);
  const std::string out_depth = out.string_at((std::string(kOfxClipPropDepthPrefix) + kOfxImageEffectOutputClipName).c_str());
  if ((st == kOfxStatOK || st == kOfxStatReplyDefault) && out_depth != e->depth)
    log_line("host error: the plugin asked for output depth " + out_depth + " from " + e->depth);
  copy_out("", err, errlen);
  return e;
}

int th_destroy(void* inst) {
  auto* e = static_cast<Effect*>(inst);
  OfxStatus st = call(kOfxActionDestroyInstance, handle_of(e), nullptr, nullptr);
  delete e;
  return st;
}

int th_set_source(void* inst, double time, double scale, const void* pixels, int width, int height) {
  auto* e = static_cast<Effect*>(inst);
  Frame f;
  f.width = width, f.height = height;
  const size_t n = size_t(width) * height * pixel_bytes(e->depth, e->components);
  f.pixels.assign(static_cast<const uint8_t*>(pixels), static_cast<const uint8_t*>(pixels) + n);
  std::lock_guard<std::mutex> lock(e->mu);
  e->sources[{std::llround(time), scale_key(scale)}] = std::move(f);
  return 0;
}

static Param* param_of(void* inst, const char* name) {
  return static_cast<Effect*>(inst)->params.find(name);
}

int th_set_string(void* inst, const char* name, const char* value) {
  Param* p = param_of(inst, name);
  if (!p || p->type != kOfxParamTypeString) return kOfxStatErrUnknown;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->s = value;
    p->skeys.clear();
  }
  instance_changed(static_cast<Effect*>(inst), name);
  return kOfxStatOK;
}

int th_set_string_key(void* inst, const char* name, double time, const char* value) {
  Param* p = param_of(inst, name);
  if (!p || p->type != kOfxParamTypeString) return kOfxStatErrUnknown;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->skeys[time] = value;
  }
  instance_changed(static_cast<Effect*>(inst), name);
  return kOfxStatOK;
}

int th_set_int(void* inst, const char* name, int value) {
  Param* p = param_of(inst, name);
  if (!p || (p->type != kOfxParamTypeInteger && p->type != kOfxParamTypeChoice && p->type != kOfxParamTypeBoolean))
    return kOfxStatErrUnknown;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->i = value;
  }
  instance_changed(static_cast<Effect*>(inst), name);
  return kOfxStatOK;
}

int th_set_double(void* inst, const char* name, double value) {
  Param* p = param_of(inst, name);
  if (!p || p->type != kOfxParamTypeDouble) return kOfxStatErrUnknown;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->d = value;
    p->keys.clear();
  }
  instance_changed(static_cast<Effect*>(inst), name);
  return kOfxStatOK;
}

int th_set_double_key(void* inst, const char* name, double time, double value) {
  Param* p = param_of(inst, name);
  if (!p || p->type != kOfxParamTypeDouble) return kOfxStatErrUnknown;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->keys[time] = value;
  }
  instance_changed(static_cast<Effect*>(inst), name);
  return kOfxStatOK;
}

int th_press(void* inst, const char* name) {
  Param* p = param_of(inst, name);
  if (!p || p->type != kOfxParamTypePushButton) return kOfxStatErrUnknown;
  instance_changed(static_cast<Effect*>(inst), name);
  return kOfxStatOK;
}

static PropertySet sequence_args(double first, double last, double scale, int interactive) {
  PropertySet in("sequence render arguments");
  in.add_double(kOfxImageEffectPropFrameRange, {first, last}, 2, true)
      .add_double(kOfxImageEffectPropFrameStep, {1.0}, 1, true)
      .add_int(kOfxPropIsInteractive, {interactive}, 1, true)
      .add_double(kOfxImageEffectPropRenderScale, {scale, scale}, 2, true)
      .add_int(kOfxImageEffectPropSequentialRenderStatus, {interactive ? 0 : 1}, 1, true)
      .add_int(kOfxImageEffectPropInteractiveRenderStatus, {interactive}, 1, true);
  return in;
}

int th_begin_sequence(void* inst, double first, double last, double scale, int interactive) {
  auto* e = static_cast<Effect*>(inst);
  PropertySet in = sequence_args(first, last, scale, interactive);
  if (!interactive) ++e->sequential;
  return call(kOfxImageEffectActionBeginSequenceRender, handle_of(e), &in, nullptr);
}

int th_end_sequence(void* inst, double first, double last, double scale, int interactive) {
  auto* e = static_cast<Effect*>(inst);
  PropertySet in = sequence_args(first, last, scale, interactive);
  if (!interactive) --e->sequential;
  return call(kOfxImageEffectActionEndSequenceRender, handle_of(e), &in, nullptr);
}

// Renders frame `time` at `scale` (the source frame set for that scale gives the size) into
// `out`: top row first, packed, `out_bytes` long.
int th_render(void* inst, double time, double scale, void* out, long out_bytes) {
  auto* e = static_cast<Effect*>(inst);
  Frame target;
  {
    std::lock_guard<std::mutex> lock(e->mu);
    auto it = e->sources.find({std::llround(time), scale_key(scale)});
    if (it == e->sources.end()) return -1;
    target.width = it->second.width, target.height = it->second.height;
  }
  const size_t packed = size_t(target.width) * pixel_bytes(e->depth, e->components);
  if (out_bytes != static_cast<long>(packed * target.height)) return -2;
  PropertySet in("render arguments");
  in.add_double(kOfxPropTime, {time}, 1, true)
      .add_string(kOfxImageEffectPropFieldToRender, {kOfxImageFieldNone}, 1, true)
      .add_int(kOfxImageEffectPropRenderWindow, {0, 0, target.width, target.height}, 4, true)
      .add_double(kOfxImageEffectPropRenderScale, {scale, scale}, 2, true)
      .add_int(kOfxImageEffectPropSequentialRenderStatus, {e->sequential.load() > 0 ? 1 : 0}, 1, true)
      .add_int(kOfxImageEffectPropInteractiveRenderStatus, {0}, 1, true)
      .add_int("OfxImageEffectPropRenderQualityDraft", {0}, 1, true);
  // The output image the plugin fetches is made over this buffer; it starts as a pattern no
  // correct render leaves behind.
  target.pixels = pooled(packed * target.height);
  t_render = RenderContext{e, scale, scale, &target, false};
  t_host_seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  OfxStatus st = call(kOfxImageEffectActionRender, handle_of(e), &in, nullptr);
  const double action_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!t_render.written) std::memset(target.pixels.data(), 0xCD, target.pixels.size());
  t_render = RenderContext{};
  {
    std::lock_guard<std::mutex> lock(e->timing_mu);
    e->last_action_s = action_s, e->last_host_s = t_host_seconds;
  }
  {
    std::lock_guard<std::mutex> lock(g_host->images_mu);
    for (Image* img : g_host->images)
      if (img->writeback == &target) {  // not released: its pixels never came back
        log_line("host error: the plugin did not release an image before the render returned");
        img->writeback = nullptr;
      }
  }
  std::memcpy(out, target.pixels.data(), target.pixels.size());
  unpool(std::move(target.pixels));
  return st;
}

// The latest render's time in the render action, and the part of it spent in host image calls.
void th_render_timing(void* inst, double* out) {
  auto* e = static_cast<Effect*>(inst);
  std::lock_guard<std::mutex> lock(e->timing_mu);
  out[0] = e->last_action_s, out[1] = e->last_host_s;
}

void th_set_abort(void* inst, int value) { static_cast<Effect*>(inst)->abort_flag = value; }

const char* th_persistent_message(void* inst) {
  static thread_local std::string copy;
  auto* e = static_cast<Effect*>(inst);
  std::lock_guard<std::mutex> lock(e->mu);
  copy = e->persistent;
  return copy.c_str();
}

long th_source_fetches(void* inst) { return static_cast<Effect*>(inst)->source_fetches.load(); }

int th_frames_needed(void* inst, double time, double* range) {
  auto* e = static_cast<Effect*>(inst);
  PropertySet in("frames needed arguments");
  in.add_double(kOfxPropTime, {time}, 1, true);
  PropertySet out("frames needed");
  const std::string name = std::string(kOfxClipPropFrameRangePrefix) + kOfxImageEffectSimpleSourceClipName;
  out.add_double(name.c_str(), {time, time}, 0);
  OfxStatus st = call(kOfxImageEffectActionGetFramesNeeded, handle_of(e), &in, &out);
  range[0] = out.double_at(name.c_str(), 0), range[1] = out.double_at(name.c_str(), 1);
  return st;
}

int th_purge(void* inst) { return call(kOfxActionPurgeCaches, handle_of(static_cast<Effect*>(inst)), nullptr, nullptr); }

}  // extern "C"
