// frameloom's minimal OpenFX host, for the tests: loads a bundle's binary the way a host does
// (OfxGetNumberOfPlugins / OfxGetPlugin, setHost, Load, Describe, DescribeInContext), provides
// the property, parameter, image-effect, memory, multithread and message suites, and drives one
// filter-context instance. Python drives it through the flat C API at the end (ctypes).
//
// Images are laid out as OFX says: the data pointer is the bottom-left pixel, rows go up, and
// rows are padded (rowBytes > width * pixel size) so a plugin that ignores either is caught.
#include <dlfcn.h>

#include <cstdio>
#include <sstream>

#include "model.h"

using namespace ofxhost;

namespace {

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
  g_host->ofx.fetchSuite = fetch_suite;
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
  f.allocate(width, height, pixel_bytes(e->depth, e->components));
  f.load_top_down(static_cast<const uint8_t*>(pixels));
  std::lock_guard<std::mutex> lock(e->mu);
  Frame& slot = e->sources[{std::llround(time), scale_key(scale)}];
  f.version = slot.version + 1;
  slot = std::move(f);
  return 0;
}

void th_set_unique_ids(void* inst, int on) { static_cast<Effect*>(inst)->unique_ids = on != 0; }

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
  // The output image points into this buffer, filled first with a pattern no correct render
  // leaves behind.
  target.allocate(target.width, target.height, pixel_bytes(e->depth, e->components),
                  pooled((packed + kRowPadding) * target.height));
  target.fill(0xCD);
  t_render = RenderContext{e, scale, scale, &target};
  t_host_seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  OfxStatus st = call(kOfxImageEffectActionRender, handle_of(e), &in, nullptr);
  const double action_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t_render = RenderContext{};
  {
    std::lock_guard<std::mutex> lock(e->timing_mu);
    e->last_action_s = action_s, e->last_host_s = t_host_seconds;
  }
  {
    std::lock_guard<std::mutex> lock(g_host->images_mu);
    for (Image* img : g_host->images)
      if (img->owner == e && img->pixels == target.ofx)
        log_line("host error: the plugin did not release an image before the render returned");
  }
  if (!target.store_top_down(static_cast<uint8_t*>(out)))
    log_line("host error: the plugin wrote past the end of an output row");
  unpool(std::move(*target.ofx));
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
