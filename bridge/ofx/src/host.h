// The host adapter's toolbox: the suites the host gave us and small wrappers that never throw
// and fall back to a default when a host lacks a property (hosts differ in what they set).
#pragma once

#include <cstdarg>
#include <functional>
#include <string>
#include <vector>

#include "ofx_api.h"

namespace frameloom {

struct Suites {
  OfxHost* host = nullptr;
  const OfxPropertySuiteV1* props = nullptr;
  const OfxParameterSuiteV1* params = nullptr;
  const OfxImageEffectSuiteV1* effects = nullptr;
  const OfxMemorySuiteV1* memory = nullptr;           // optional
  const OfxMultiThreadSuiteV1* threads = nullptr;     // optional
  const OfxMessageSuiteV1* message_v1 = nullptr;      // optional
  const OfxMessageSuiteV2* message_v2 = nullptr;      // optional: persistent messages
  bool fetch(OfxHost* host);                          // false: a required suite is missing
};
extern Suites g_suites;

class Props {
 public:
  explicit Props(OfxPropertySetHandle h) : h_(h) {}
  OfxPropertySetHandle handle() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }

  int get_int(const char* name, int fallback = 0, int index = 0) const;
  double get_double(const char* name, double fallback = 0, int index = 0) const;
  std::string get_string(const char* name, const std::string& fallback = "", int index = 0) const;
  void* get_pointer(const char* name, int index = 0) const;
  int dimension(const char* name) const;

  void set(const char* name, int value, int index = 0) const;
  void set(const char* name, double value, int index = 0) const;
  void set(const char* name, const char* value, int index = 0) const;
  void set(const char* name, const std::string& value, int index = 0) const { set(name, value.c_str(), index); }
  void set_pointer(const char* name, void* value) const;
  void set_strings(const char* name, const std::vector<std::string>& values) const;

 private:
  OfxPropertySetHandle h_;
};

// Splits work over the host's threads (its multithread suite), or runs it here when the host
// has none, we are already on one of its spawned threads, or the work is small.
void host_parallel_for(int n, const std::function<void(int begin, int end)>& body);

// printf into a std::string.
std::string format(const char* fmt, ...);

}  // namespace frameloom
