// The test host's property sets: typed, with the properties the OFX spec defines for each kind
// of object, so that a plugin setting an unknown property, or one of the wrong type, is caught
// (as strict hosts do) and logged for the tests to see.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ofx_api.h"

namespace ofxhost {

enum class Type { Int, Double, String, Pointer };

struct Property {
  Type type = Type::Int;
  int dimension = 1;  // 0: variable length
  bool read_only = false;
  std::vector<int> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  std::vector<void*> pointers;
  size_t size() const;
};

class PropertySet {
 public:
  explicit PropertySet(std::string kind) : kind_(std::move(kind)) {}
  PropertySet(const PropertySet& other);
  PropertySet& operator=(const PropertySet& other);
  const std::string& kind() const { return kind_; }

  // What the host declares (and may change later, bypassing read-only and strictness).
  PropertySet& add_int(const char* name, std::vector<int> values, int dimension = 1, bool ro = false);
  PropertySet& add_double(const char* name, std::vector<double> values, int dimension = 1, bool ro = false);
  PropertySet& add_string(const char* name, std::vector<std::string> values, int dimension = 1, bool ro = false);
  PropertySet& add_pointer(const char* name, void* value, bool ro = false);

  // Host-side access (no strictness).
  int int_at(const char* name, int index = 0, int fallback = 0) const;
  double double_at(const char* name, int index = 0, double fallback = 0) const;
  std::string string_at(const char* name, int index = 0, const std::string& fallback = "") const;
  void* pointer_at(const char* name, int index = 0) const;
  std::vector<std::string> strings(const char* name) const;
  std::vector<double> doubles(const char* name) const;
  bool has(const char* name) const;
  std::string json() const;

  // The suite's access, as the plugin sees it.
  OfxStatus set(const char* name, int index, Type type, const void* value, bool by_plugin);
  OfxStatus get(const char* name, int index, Type type, void* value) const;
  OfxStatus dimension(const char* name, int* count) const;
  OfxStatus reset(const char* name);

  OfxPropertySetHandle handle() { return reinterpret_cast<OfxPropertySetHandle>(this); }
  static PropertySet* from(OfxPropertySetHandle h) { return reinterpret_cast<PropertySet*>(h); }

 private:
  std::string kind_;
  mutable std::mutex mu_;
  std::map<std::string, Property> props_;
  std::map<std::string, Property> defaults_;
};

// Where property mistakes go (the host's log).
extern std::function<void(const std::string&)> g_report;

const OfxPropertySuiteV1* property_suite();

// Property sets the spec defines, pre-filled with its defaults.
PropertySet host_properties();
PropertySet effect_descriptor_properties();
PropertySet clip_descriptor_properties(const std::string& name);
PropertySet param_descriptor_properties(const std::string& type, const std::string& name);

}  // namespace ofxhost
