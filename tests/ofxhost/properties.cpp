#include "properties.h"

#include <climits>
#include <cstdio>
#include <sstream>

using namespace ofx;

namespace ofxhost {

std::function<void(const std::string&)> g_report = [](const std::string&) {};

size_t Property::size() const {
  switch (type) {
    case Type::Int: return ints.size();
    case Type::Double: return doubles.size();
    case Type::String: return strings.size();
    case Type::Pointer: return pointers.size();
  }
  return 0;
}

PropertySet::PropertySet(const PropertySet& other) : kind_(other.kind_) {
  std::lock_guard<std::mutex> lock(other.mu_);
  props_ = other.props_;
  defaults_ = other.defaults_;
}

PropertySet& PropertySet::operator=(const PropertySet& other) {
  if (this == &other) return *this;
  std::scoped_lock lock(mu_, other.mu_);
  kind_ = other.kind_;
  props_ = other.props_;
  defaults_ = other.defaults_;
  return *this;
}

PropertySet& PropertySet::add_int(const char* name, std::vector<int> v, int dim, bool ro) {
  std::lock_guard<std::mutex> lock(mu_);
  Property p;
  p.type = Type::Int, p.dimension = dim, p.read_only = ro, p.ints = std::move(v);
  props_[name] = defaults_[name] = p;
  return *this;
}
PropertySet& PropertySet::add_double(const char* name, std::vector<double> v, int dim, bool ro) {
  std::lock_guard<std::mutex> lock(mu_);
  Property p;
  p.type = Type::Double, p.dimension = dim, p.read_only = ro, p.doubles = std::move(v);
  props_[name] = defaults_[name] = p;
  return *this;
}
PropertySet& PropertySet::add_string(const char* name, std::vector<std::string> v, int dim, bool ro) {
  std::lock_guard<std::mutex> lock(mu_);
  Property p;
  p.type = Type::String, p.dimension = dim, p.read_only = ro, p.strings = std::move(v);
  props_[name] = defaults_[name] = p;
  return *this;
}
PropertySet& PropertySet::add_pointer(const char* name, void* value, bool ro) {
  std::lock_guard<std::mutex> lock(mu_);
  Property p;
  p.type = Type::Pointer, p.read_only = ro, p.pointers = {value};
  props_[name] = defaults_[name] = p;
  return *this;
}

int PropertySet::int_at(const char* name, int index, int fallback) const {
  int v = fallback;
  return get(name, index, Type::Int, &v) == kOfxStatOK ? v : fallback;
}
double PropertySet::double_at(const char* name, int index, double fallback) const {
  double v = fallback;
  return get(name, index, Type::Double, &v) == kOfxStatOK ? v : fallback;
}
std::string PropertySet::string_at(const char* name, int index, const std::string& fallback) const {
  char* v = nullptr;
  return get(name, index, Type::String, &v) == kOfxStatOK && v ? std::string(v) : fallback;
}
void* PropertySet::pointer_at(const char* name, int index) const {
  void* v = nullptr;
  return get(name, index, Type::Pointer, &v) == kOfxStatOK ? v : nullptr;
}
std::vector<std::string> PropertySet::strings(const char* name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = props_.find(name);
  return it == props_.end() ? std::vector<std::string>() : it->second.strings;
}
std::vector<double> PropertySet::doubles(const char* name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = props_.find(name);
  return it == props_.end() ? std::vector<double>() : it->second.doubles;
}
bool PropertySet::has(const char* name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return props_.count(name) != 0;
}

static std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

std::string PropertySet::json() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  out.precision(17);
  out << "{";
  bool first = true;
  for (const auto& [name, p] : props_) {
    if (p.type == Type::Pointer) continue;
    out << (first ? "" : ",") << quoted(name) << ":[";
    first = false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (i) out << ",";
      if (p.type == Type::Int) out << p.ints[i];
      else if (p.type == Type::Double) out << p.doubles[i];
      else out << quoted(p.strings[i]);
    }
    out << "]";
  }
  out << "}";
  return out.str();
}

static const char* type_name(Type t) {
  return t == Type::Int ? "int" : t == Type::Double ? "double" : t == Type::String ? "string" : "pointer";
}

OfxStatus PropertySet::set(const char* name, int index, Type type, const void* value, bool by_plugin) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = props_.find(name ? name : "");
  if (it == props_.end()) {
    g_report(std::string("property error: set of unknown property ") + (name ? name : "(null)") +
             " on " + kind_);
    return kOfxStatErrUnknown;
  }
  Property& p = it->second;
  if (p.type != type) {
    g_report(std::string("property error: ") + name + " on " + kind_ + " is " + type_name(p.type) +
             ", set as " + type_name(type));
    return kOfxStatErrValue;
  }
  if (by_plugin && p.read_only) {
    g_report(std::string("property error: ") + name + " on " + kind_ + " is read only");
    return kOfxStatErrValue;
  }
  const int n = static_cast<int>(p.size());
  if (index < 0 || (p.dimension > 0 && index >= p.dimension) || index > n) {
    g_report(std::string("property error: index ") + std::to_string(index) + " of " + name + " on " + kind_);
    return kOfxStatErrBadIndex;
  }
  auto put = [&](auto& vec, auto v) {
    if (index == n) vec.push_back(v);
    else vec[index] = v;
  };
  switch (type) {
    case Type::Int: put(p.ints, *static_cast<const int*>(value)); break;
    case Type::Double: put(p.doubles, *static_cast<const double*>(value)); break;
    case Type::String: {
      const char* s = *static_cast<const char* const*>(value);
      put(p.strings, std::string(s ? s : ""));
      break;
    }
    case Type::Pointer: put(p.pointers, *static_cast<void* const*>(value)); break;
  }
  return kOfxStatOK;
}

OfxStatus PropertySet::get(const char* name, int index, Type type, void* value) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = props_.find(name ? name : "");
  if (it == props_.end()) return kOfxStatErrUnknown;
  const Property& p = it->second;
  if (p.type != type) {
    g_report(std::string("property error: ") + name + " on " + kind_ + " is " + type_name(p.type) +
             ", read as " + type_name(type));
    return kOfxStatErrValue;
  }
  if (index < 0 || index >= static_cast<int>(p.size())) return kOfxStatErrBadIndex;
  switch (type) {
    case Type::Int: *static_cast<int*>(value) = p.ints[index]; break;
    case Type::Double: *static_cast<double*>(value) = p.doubles[index]; break;
    case Type::String: *static_cast<const char**>(value) = p.strings[index].c_str(); break;
    case Type::Pointer: *static_cast<void**>(value) = p.pointers[index]; break;
  }
  return kOfxStatOK;
}

OfxStatus PropertySet::dimension(const char* name, int* count) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = props_.find(name ? name : "");
  if (it == props_.end()) return kOfxStatErrUnknown;
  *count = static_cast<int>(it->second.size());
  return kOfxStatOK;
}

OfxStatus PropertySet::reset(const char* name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = defaults_.find(name ? name : "");
  if (it == defaults_.end()) return kOfxStatErrUnknown;
  props_[name] = it->second;
  return kOfxStatOK;
}

// ---- the suite -------------------------------------------------------------------------------

namespace {

PropertySet* ps(OfxPropertySetHandle h) { return PropertySet::from(h); }

template <Type T, typename V>
OfxStatus set_one(OfxPropertySetHandle h, const char* name, int index, V value) {
  if (!h) return kOfxStatErrBadHandle;
  return ps(h)->set(name, index, T, &value, true);
}
template <Type T, typename V>
OfxStatus set_many(OfxPropertySetHandle h, const char* name, int count, const V* values) {
  if (!h) return kOfxStatErrBadHandle;
  for (int i = 0; i < count; ++i) {
    OfxStatus st = ps(h)->set(name, i, T, &values[i], true);
    if (st != kOfxStatOK) return st;
  }
  return kOfxStatOK;
}
template <Type T, typename V>
OfxStatus get_one(OfxPropertySetHandle h, const char* name, int index, V* value) {
  if (!h) return kOfxStatErrBadHandle;
  return ps(h)->get(name, index, T, value);
}
template <Type T, typename V>
OfxStatus get_many(OfxPropertySetHandle h, const char* name, int count, V* values) {
  if (!h) return kOfxStatErrBadHandle;
  for (int i = 0; i < count; ++i) {
    OfxStatus st = ps(h)->get(name, i, T, &values[i]);
    if (st != kOfxStatOK) return st;
  }
  return kOfxStatOK;
}

OfxStatus set_pointer(OfxPropertySetHandle h, const char* n, int i, void* v) { return set_one<Type::Pointer>(h, n, i, v); }
OfxStatus set_string(OfxPropertySetHandle h, const char* n, int i, const char* v) { return set_one<Type::String>(h, n, i, v); }
OfxStatus set_double(OfxPropertySetHandle h, const char* n, int i, double v) { return set_one<Type::Double>(h, n, i, v); }
OfxStatus set_int(OfxPropertySetHandle h, const char* n, int i, int v) { return set_one<Type::Int>(h, n, i, v); }
OfxStatus set_pointers(OfxPropertySetHandle h, const char* n, int c, void* const* v) { return set_many<Type::Pointer>(h, n, c, v); }
OfxStatus set_strings(OfxPropertySetHandle h, const char* n, int c, const char* const* v) { return set_many<Type::String>(h, n, c, v); }
OfxStatus set_doubles(OfxPropertySetHandle h, const char* n, int c, const double* v) { return set_many<Type::Double>(h, n, c, v); }
OfxStatus set_ints(OfxPropertySetHandle h, const char* n, int c, const int* v) { return set_many<Type::Int>(h, n, c, v); }
OfxStatus get_pointer(OfxPropertySetHandle h, const char* n, int i, void** v) { return get_one<Type::Pointer>(h, n, i, v); }
OfxStatus get_string(OfxPropertySetHandle h, const char* n, int i, char** v) { return get_one<Type::String>(h, n, i, v); }
OfxStatus get_double(OfxPropertySetHandle h, const char* n, int i, double* v) { return get_one<Type::Double>(h, n, i, v); }
OfxStatus get_int(OfxPropertySetHandle h, const char* n, int i, int* v) { return get_one<Type::Int>(h, n, i, v); }
OfxStatus get_pointers(OfxPropertySetHandle h, const char* n, int c, void** v) { return get_many<Type::Pointer>(h, n, c, v); }
OfxStatus get_strings(OfxPropertySetHandle h, const char* n, int c, char** v) { return get_many<Type::String>(h, n, c, v); }
OfxStatus get_doubles(OfxPropertySetHandle h, const char* n, int c, double* v) { return get_many<Type::Double>(h, n, c, v); }
OfxStatus get_ints(OfxPropertySetHandle h, const char* n, int c, int* v) { return get_many<Type::Int>(h, n, c, v); }
OfxStatus reset(OfxPropertySetHandle h, const char* n) { return h ? ps(h)->reset(n) : kOfxStatErrBadHandle; }
OfxStatus dimension(OfxPropertySetHandle h, const char* n, int* c) { return h ? ps(h)->dimension(n, c) : kOfxStatErrBadHandle; }

const OfxPropertySuiteV1 kSuite = {set_pointer, set_string, set_double, set_int, set_pointers,
                                   set_strings, set_doubles, set_ints, get_pointer, get_string,
                                   get_double, get_int, get_pointers, get_strings, get_doubles,
                                   get_ints, reset, dimension};

}  // namespace

const OfxPropertySuiteV1* property_suite() { return &kSuite; }

// ---- what each kind of object carries ----------------------------------------------------------

PropertySet host_properties() {
  PropertySet p("host");
  p.add_string(kOfxPropType, {kOfxTypeImageEffectHost}, 1, true)
      .add_string(kOfxPropName, {"org.frameloom.testhost"}, 1, true)
      .add_string(kOfxPropLabel, {"frameloom test host"}, 1, true)
      .add_int(kOfxPropAPIVersion, {1, 4}, 0, true)
      .add_int(kOfxPropVersion, {1, 0}, 0, true)
      .add_string(kOfxPropVersionLabel, {"1.0"}, 1, true)
      .add_int(kOfxImageEffectHostPropIsBackground, {0}, 1, true)
      .add_int("OfxImageEffectPropSupportsOverlays", {0}, 1, true)
      .add_int(kOfxImageEffectPropSupportsMultiResolution, {1}, 1, true)
      .add_int(kOfxImageEffectPropSupportsTiles, {1}, 1, true)
      .add_int(kOfxImageEffectPropTemporalClipAccess, {1}, 1, true)
      .add_string(kOfxImageEffectPropSupportedComponents,
                  {kOfxImageComponentRGBA, kOfxImageComponentRGB, kOfxImageComponentAlpha}, 0, true)
      .add_string(kOfxImageEffectPropSupportedContexts,
                  {kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral}, 0, true)
      .add_string(kOfxImageEffectPropSupportedPixelDepths,
                  {kOfxBitDepthByte, kOfxBitDepthShort, kOfxBitDepthFloat}, 0, true)
      .add_int(kOfxImageEffectPropSupportsMultipleClipDepths, {0}, 1, true)
      .add_int(kOfxImageEffectPropSupportsMultipleClipPARs, {0}, 1, true)
      .add_int("OfxImageEffectPropSetableFrameRate", {0}, 1, true)
      .add_int("OfxImageEffectPropSetableFielding", {0}, 1, true)
      .add_int(kOfxParamHostPropSupportsStringAnimation, {1}, 1, true)
      .add_int("OfxParamHostPropSupportsCustomInteract", {0}, 1, true)
      .add_int("OfxParamHostPropSupportsChoiceAnimation", {0}, 1, true)
      .add_int("OfxParamHostPropSupportsBooleanAnimation", {0}, 1, true)
      .add_int("OfxParamHostPropSupportsCustomAnimation", {0}, 1, true)
      .add_int("OfxParamHostPropMaxParameters", {-1}, 1, true)
      .add_int("OfxParamHostPropMaxPages", {0}, 1, true)
      .add_int("OfxParamHostPropPageRowColumnCount", {0, 0}, 2, true)
      .add_int(kOfxImageEffectInstancePropSequentialRender, {2}, 1, true)
      .add_string(kOfxImageEffectHostPropNativeOrigin, {"kOfxImageEffectHostPropNativeOriginBottomLeft"}, 1, true);
  return p;
}

PropertySet effect_descriptor_properties() {
  PropertySet p("effect descriptor");
  p.add_string(kOfxPropType, {kOfxTypeImageEffect}, 1, true)
      .add_string(kOfxPropLabel, {""})
      .add_string(kOfxPropShortLabel, {""})
      .add_string(kOfxPropLongLabel, {""})
      .add_int(kOfxPropVersion, {}, 0)
      .add_string(kOfxPropVersionLabel, {""})
      .add_string(kOfxPropPluginDescription, {""})
      .add_string(kOfxImageEffectPropSupportedContexts, {}, 0)
      .add_string(kOfxImageEffectPluginPropGrouping, {""})
      .add_int(kOfxImageEffectPluginPropSingleInstance, {0})
      .add_string(kOfxImageEffectPluginRenderThreadSafety, {kOfxImageEffectRenderInstanceSafe})
      .add_int(kOfxImageEffectPluginPropHostFrameThreading, {1})
      .add_int("OfxImageEffectPropSupportsOverlays", {0})
      .add_int(kOfxImageEffectPropSupportsMultiResolution, {1})
      .add_int(kOfxImageEffectPropSupportsTiles, {1})
      .add_int(kOfxImageEffectPropTemporalClipAccess, {0})
      .add_string(kOfxImageEffectPropSupportedPixelDepths, {}, 0)
      .add_int(kOfxImageEffectPropSupportsMultipleClipDepths, {0})
      .add_int(kOfxImageEffectPropSupportsMultipleClipPARs, {0})
      .add_string("OfxImageEffectPropClipPreferencesSlaveParam", {}, 0)
      .add_int(kOfxImageEffectInstancePropSequentialRender, {0})
      .add_int("OfxImageEffectPluginPropFieldRenderTwiceAlways", {1})
      .add_pointer("OfxImageEffectPluginPropOverlayInteractV1", nullptr)
      .add_string(kOfxPluginPropFilePath, {""}, 1, true);
  return p;
}

PropertySet clip_descriptor_properties(const std::string& name) {
  PropertySet p("clip descriptor " + name);
  p.add_string(kOfxPropType, {kOfxTypeClip}, 1, true)
      .add_string(kOfxPropName, {name}, 1, true)
      .add_string(kOfxPropLabel, {name})
      .add_string(kOfxPropShortLabel, {name})
      .add_string(kOfxPropLongLabel, {name})
      .add_string(kOfxImageEffectPropSupportedComponents, {}, 0)
      .add_int(kOfxImageEffectPropTemporalClipAccess, {0})
      .add_int(kOfxImageClipPropOptional, {0})
      .add_string("OfxImageClipPropFieldExtraction", {"OfxImageFieldDoubled"})
      .add_int(kOfxImageClipPropIsMask, {0})
      .add_int(kOfxImageEffectPropSupportsTiles, {1});
  return p;
}

PropertySet param_descriptor_properties(const std::string& type, const std::string& name) {
  PropertySet p("parameter " + name);
  p.add_string(kOfxPropType, {kOfxTypeParameter}, 1, true)
      .add_string(kOfxPropName, {name}, 1, true)
      .add_string(kOfxParamPropType, {type}, 1, true)
      .add_string(kOfxPropLabel, {name})
      .add_string(kOfxPropShortLabel, {name})
      .add_string(kOfxPropLongLabel, {name})
      .add_string(kOfxParamPropHint, {""})
      .add_string(kOfxParamPropScriptName, {name})
      .add_string(kOfxParamPropParent, {""})
      .add_int("OfxParamPropEnabled", {1})
      .add_int("OfxParamPropSecret", {0})
      .add_pointer("OfxParamPropDataPtr", nullptr);
  const bool valued = type != kOfxParamTypePushButton && type != kOfxParamTypeGroup && type != kOfxParamTypePage;
  if (valued) {
    p.add_int(kOfxParamPropAnimates, {type == kOfxParamTypeDouble || type == kOfxParamTypeInteger ? 1 : 0})
        .add_int(kOfxParamPropIsAnimating, {0}, 1, true)
        .add_int(kOfxParamPropPersistant, {1})
        .add_int(kOfxParamPropEvaluateOnChange, {1})
        .add_int("OfxParamPropPluginMayWrite", {0})
        .add_int("OfxParamPropCanUndo", {1})
        .add_string(kOfxParamPropCacheInvalidation, {"OfxParamInvalidateValueChange"});
  }
  if (type == kOfxParamTypeDouble) {
    p.add_double(kOfxParamPropDefault, {0}).add_double(kOfxParamPropMin, {-1e300})
        .add_double(kOfxParamPropMax, {1e300}).add_double(kOfxParamPropDisplayMin, {-1e300})
        .add_double(kOfxParamPropDisplayMax, {1e300}).add_double(kOfxParamPropIncrement, {1})
        .add_int(kOfxParamPropDigits, {2}).add_string("OfxParamPropDoubleType", {"OfxParamDoubleTypePlain"});
  } else if (type == kOfxParamTypeInteger) {
    p.add_int(kOfxParamPropDefault, {0}).add_int(kOfxParamPropMin, {INT_MIN})
        .add_int(kOfxParamPropMax, {INT_MAX}).add_int(kOfxParamPropDisplayMin, {INT_MIN})
        .add_int(kOfxParamPropDisplayMax, {INT_MAX});
  } else if (type == kOfxParamTypeChoice) {
    p.add_int(kOfxParamPropDefault, {0}).add_string(kOfxParamPropChoiceOption, {}, 0);
  } else if (type == kOfxParamTypeBoolean) {
    p.add_int(kOfxParamPropDefault, {0});
  } else if (type == kOfxParamTypeString) {
    p.add_string(kOfxParamPropDefault, {""}).add_string(kOfxParamPropStringMode, {kOfxParamStringIsSingleLine})
        .add_int(kOfxParamPropStringFilePathExists, {1});
  }
  return p;
}

}  // namespace ofxhost
