// frameloom Stylize: the OFX entry points, the effect's description, and the action dispatch.
// Nothing thrown in here may reach the host: every action is fenced by a catch-all.
#include <climits>
#include <exception>
#include <new>
#include <string>

#include "client.h"
#include "host.h"
#include "instance.h"
#include "memory.h"
#include "settings.h"

namespace frameloom {
namespace {

constexpr const char kPluginId[] = "org.frameloom.Stylize";
constexpr unsigned kVersionMajor = 0, kVersionMinor = 1;

Instance* instance_of(OfxImageEffectHandle effect) {
  OfxPropertySetHandle h = nullptr;
  if (g_suites.effects->getPropertySet(effect, &h) != ofx::kOfxStatOK) return nullptr;
  return static_cast<Instance*>(Props(h).get_pointer(ofx::kOfxPropInstanceData));
}

OfxStatus describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle h = nullptr;
  g_suites.effects->getPropertySet(effect, &h);
  Props p(h);
  p.set(ofx::kOfxPropLabel, "frameloom Stylize");
  p.set(ofx::kOfxPropShortLabel, "frameloom");
  p.set(ofx::kOfxImageEffectPluginPropGrouping, "frameloom");
  p.set(ofx::kOfxPropPluginDescription,
        "Temporally consistent stylization (DiffSynth) on a frameloom server. The first frame "
        "rendered streams the clip's frames to the server once; later frames come from its cache.");
  p.set_strings(ofx::kOfxImageEffectPropSupportedContexts, {ofx::kOfxImageEffectContextFilter});
  p.set_strings(ofx::kOfxImageEffectPropSupportedPixelDepths,
                {ofx::kOfxBitDepthByte, ofx::kOfxBitDepthShort, ofx::kOfxBitDepthFloat});
  p.set(ofx::kOfxImageEffectPluginPropSingleInstance, 0);
  // Any number of render threads at once, on one instance too: its state is locked.
  p.set(ofx::kOfxImageEffectPluginRenderThreadSafety, ofx::kOfxImageEffectRenderFullySafe);
  // Whole frames only: the server stylizes whole frames, so tiles or host slicing would only
  // make the same request several times.
  p.set(ofx::kOfxImageEffectPluginPropHostFrameThreading, 0);
  p.set(ofx::kOfxImageEffectPropSupportsTiles, 0);
  p.set(ofx::kOfxImageEffectPropSupportsMultipleClipDepths, 0);
  p.set(ofx::kOfxImageEffectPropTemporalClipAccess, 1);
  // 2: best rendered in order (each frame then waits only for its own), correct in any order.
  p.set(ofx::kOfxImageEffectInstancePropSequentialRender, 2);
  return ofx::kOfxStatOK;
}

struct ParamDefiner {
  OfxParamSetHandle set;
  Props define(const char* type, const char* name, const char* label, const char* hint) const {
    OfxPropertySetHandle h = nullptr;
    g_suites.params->paramDefine(set, type, name, &h);
    Props p(h);
    p.set(ofx::kOfxPropLabel, label);
    p.set(ofx::kOfxParamPropHint, hint);
    p.set(ofx::kOfxParamPropScriptName, name);
    return p;
  }
  Props string(const char* name, const char* label, const char* hint, const char* value,
               bool animates, const char* mode = ofx::kOfxParamStringIsSingleLine) const {
    Props p = define(ofx::kOfxParamTypeString, name, label, hint);
    p.set(ofx::kOfxParamPropDefault, value);
    p.set(ofx::kOfxParamPropStringMode, mode);
    p.set(ofx::kOfxParamPropAnimates, animates ? 1 : 0);
    if (animates) p.set(ofx::kOfxParamPropCacheInvalidation, ofx::kOfxParamInvalidateAll);
    return p;
  }
  Props choice(const char* name, const char* label, const char* hint,
               const std::vector<std::string>& options, int value) const {
    Props p = define(ofx::kOfxParamTypeChoice, name, label, hint);
    p.set_strings(ofx::kOfxParamPropChoiceOption, options);
    p.set(ofx::kOfxParamPropDefault, value);
    p.set(ofx::kOfxParamPropAnimates, 0);
    return p;
  }
  Props number(const char* name, const char* label, const char* hint, double value, double lo,
               double hi, double display_hi) const {
    Props p = define(ofx::kOfxParamTypeDouble, name, label, hint);
    p.set(ofx::kOfxParamPropDefault, value);
    p.set(ofx::kOfxParamPropMin, lo);
    p.set(ofx::kOfxParamPropMax, hi);
    p.set(ofx::kOfxParamPropDisplayMin, lo);
    p.set(ofx::kOfxParamPropDisplayMax, display_hi);
    p.set(ofx::kOfxParamPropAnimates, 1);
    // A keyframe anywhere changes every frame (they are stylized together).
    p.set(ofx::kOfxParamPropCacheInvalidation, ofx::kOfxParamInvalidateAll);
    return p;
  }
  Props integer(const char* name, const char* label, const char* hint, int value, int lo, int hi,
                int display_hi) const {
    Props p = define(ofx::kOfxParamTypeInteger, name, label, hint);
    p.set(ofx::kOfxParamPropDefault, value);
    p.set(ofx::kOfxParamPropMin, lo);
    p.set(ofx::kOfxParamPropMax, hi);
    p.set(ofx::kOfxParamPropDisplayMin, lo);
    p.set(ofx::kOfxParamPropDisplayMax, display_hi);
    p.set(ofx::kOfxParamPropAnimates, 0);
    return p;
  }
};

OfxStatus describe_in_context(OfxImageEffectHandle effect) {
  for (const char* name : {ofx::kOfxImageEffectSimpleSourceClipName, ofx::kOfxImageEffectOutputClipName}) {
    OfxPropertySetHandle h = nullptr;
    g_suites.effects->clipDefine(effect, name, &h);
    Props clip(h);
    clip.set_strings(ofx::kOfxImageEffectPropSupportedComponents,
                     {ofx::kOfxImageComponentRGBA, ofx::kOfxImageComponentRGB});
    clip.set(ofx::kOfxImageEffectPropSupportsTiles, 0);
    if (std::string(name) == ofx::kOfxImageEffectSimpleSourceClipName)
      clip.set(ofx::kOfxImageEffectPropTemporalClipAccess, 1);
  }
  OfxParamSetHandle set = nullptr;
  g_suites.effects->getParamSet(effect, &set);
  ParamDefiner d{set};
  d.string(param::kServer, "Server", "HOST:PORT of a running `frameloom serve`", "127.0.0.1:50051", false);
  d.string(param::kTokenFile, "Token file", "file holding the server's bearer token (empty: none)", "",
           false, ofx::kOfxParamStringIsFilePath);
  d.choice(param::kStyle, "Style", "the stylizer: a filter (no model) or diffusion", kStyles, 1);
  d.string(param::kModel, "Model",
           "diffusion checkpoint as the server names it (empty: the server's first one)", "", false);
  d.string(param::kPrompt, "Prompt", "what the frames should look like (diffusion)", "", true);
  d.string(param::kNegativePrompt, "Negative prompt", "what to avoid (diffusion)", "", true);
  d.number(param::kStrength, "Strength", "how far diffusion departs from the source (img2img)", 0.75, 0, 1, 1);
  d.number(param::kGuidance, "Guidance", "classifier-free guidance scale", 7.5, 0, 30, 15);
  d.integer(param::kSteps, "Steps", "denoising steps", 20, 1, 1000, 50);
  d.integer(param::kSeed, "Seed", "noise seed, the same for every frame", 0, 0, INT_MAX, 9999);
  d.choice(param::kDeflicker, "Deflicker", "temporal deflicker of the stylized frames",
           kDeflickerModes, 1);
  d.integer(param::kWindow, "Window", "deflicker window, +- frames (0: the server's default)", 0, 0, 64, 16);
  Props button = d.define(ofx::kOfxParamTypePushButton, param::kClearCache, "Clear cache",
                          "forget this effect's frames: the clip is read and checked again");
  (void)button;
  return ofx::kOfxStatOK;
}

OfxStatus dispatch(const char* action, const void* handle, OfxPropertySetHandle in_args,
                   OfxPropertySetHandle out_args) {
  const std::string a = action ? action : "";
  auto effect = static_cast<OfxImageEffectHandle>(const_cast<void*>(handle));
  Props in(in_args), out(out_args);
  if (a == ofx::kOfxActionLoad) {
    return g_suites.fetch(g_suites.host) ? ofx::kOfxStatOK : ofx::kOfxStatErrMissingHostFeature;
  }
  if (!g_suites.props) return ofx::kOfxStatErrFatal;  // no Load yet
  if (a == ofx::kOfxActionUnload) {
    Server::forget_all();
    ResultMemory::get().clear();
    return ofx::kOfxStatOK;
  }
  if (a == ofx::kOfxActionDescribe) return describe(effect);
  if (a == ofx::kOfxImageEffectActionDescribeInContext) return describe_in_context(effect);
  if (a == ofx::kOfxActionCreateInstance) {
    auto* inst = new Instance(effect);
    OfxPropertySetHandle h = nullptr;
    g_suites.effects->getPropertySet(effect, &h);
    Props(h).set_pointer(ofx::kOfxPropInstanceData, inst);
    return ofx::kOfxStatOK;
  }
  Instance* inst = instance_of(effect);
  if (a == ofx::kOfxActionDestroyInstance) {
    delete inst;
    return ofx::kOfxStatOK;
  }
  if (!inst) return ofx::kOfxStatReplyDefault;
  if (a == ofx::kOfxImageEffectActionRender) return inst->render(in);
  if (a == ofx::kOfxImageEffectActionBeginSequenceRender) return inst->begin_sequence(in);
  if (a == ofx::kOfxImageEffectActionEndSequenceRender) return inst->end_sequence(in);
  if (a == ofx::kOfxImageEffectActionGetFramesNeeded) return inst->frames_needed(in, out);
  if (a == ofx::kOfxImageEffectActionGetClipPreferences) return inst->clip_preferences(out);
  if (a == ofx::kOfxActionInstanceChanged) return inst->instance_changed(in);
  if (a == ofx::kOfxActionPurgeCaches) {
    inst->purge_caches();
    return ofx::kOfxStatOK;
  }
  return ofx::kOfxStatReplyDefault;
}

OfxStatus main_entry(const char* action, const void* handle, OfxPropertySetHandle in_args,
                     OfxPropertySetHandle out_args) {
  try {
    return dispatch(action, handle, in_args, out_args);
  } catch (const std::bad_alloc&) {
    return ofx::kOfxStatErrMemory;
  } catch (...) {
    return ofx::kOfxStatFailed;
  }
}

void set_host(OfxHost* host) { g_suites.host = host; }

OfxPlugin g_plugin = {ofx::kOfxImageEffectPluginApi, ofx::kOfxImageEffectPluginApiVersion, kPluginId,
                      kVersionMajor, kVersionMinor, set_host, main_entry};

}  // namespace
}  // namespace frameloom

FRAMELOOM_OFX_EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

FRAMELOOM_OFX_EXPORT OfxPlugin* OfxGetPlugin(int nth) { return nth == 0 ? &frameloom::g_plugin : nullptr; }
