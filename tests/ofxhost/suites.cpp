// The suites the test host gives the plugin: parameters, image effects, memory, threads and
// messages (properties are in properties.cpp).
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "model.h"

namespace ofxhost {

std::mutex g_pool_mu;
std::vector<std::vector<uint8_t>> g_pool;
Host* g_host = nullptr;
thread_local RenderContext t_render;
thread_local double t_host_seconds = 0;
thread_local unsigned t_thread_index = 0;
thread_local bool t_spawned = false;

namespace {

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

// An OFX image pointing into `frame` (no copy: the host's own buffer).
Image* make_image(Effect* e, Frame& frame, double sx, double sy, bool output,
                  const std::string& unique_id = "") {
  auto* img = new Image();
  img->owner = e;
  img->pixels = frame.ofx;
  img->output = output;
  img->props.add_string(kOfxPropType, {kOfxTypeImage}, 1, true)
      .add_pointer(kOfxImagePropData, frame.ofx->data(), true)
      .add_int(kOfxImagePropBounds, {0, 0, frame.width, frame.height}, 4, true)
      .add_int(kOfxImagePropRegionOfDefinition, {0, 0, frame.width, frame.height}, 4, true)
      .add_int(kOfxImagePropRowBytes, {static_cast<int>(frame.row_bytes)}, 1, true)
      .add_string(kOfxImageEffectPropComponents, {e->components}, 1, true)
      .add_string(kOfxImageEffectPropPixelDepth, {e->depth}, 1, true)
      .add_string(kOfxImageEffectPropPreMultiplication,
                  {e->components == kOfxImageComponentRGBA ? kOfxImageUnPreMultiplied : kOfxImageOpaque}, 1, true)
      .add_double(kOfxImageEffectPropRenderScale, {sx, sy}, 2, true)
      .add_double(kOfxImagePropPixelAspectRatio, {1.0}, 1, true)
      .add_string(kOfxImagePropField, {kOfxImageFieldNone}, 1, true)
      .add_string(kOfxImagePropUniqueIdentifier, {unique_id}, 1, true);
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
  Frame src;
  {
    std::lock_guard<std::mutex> lock(e->mu);
    auto it = e->sources.find({static_cast<long long>(frame), scale_key(t_render.sx)});
    if (it == e->sources.end()) return kOfxStatFailed;
    src = it->second;  // shares the pixels
  }
  ++e->source_fetches;
  std::string id;
  if (e->unique_ids)
    id = "source@" + std::to_string(static_cast<long long>(frame)) + "x" +
         std::to_string(scale_key(t_render.sx)) + "v" + std::to_string(src.version);
  *out = make_image(e, src, t_render.sx, t_render.sy, false, id)->props.handle();
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

}  // namespace

const void* fetch_suite(OfxPropertySetHandle host, const char* name, int version) {
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

}  // namespace ofxhost
