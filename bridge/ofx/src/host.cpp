#include "host.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace frameloom {

Suites g_suites;

bool Suites::fetch(OfxHost* h) {
  host = h;
  if (!h || !h->fetchSuite) return false;
  auto get = [h](const char* name, int version) { return h->fetchSuite(h->host, name, version); };
  props = static_cast<const OfxPropertySuiteV1*>(get(ofx::kOfxPropertySuite, 1));
  params = static_cast<const OfxParameterSuiteV1*>(get(ofx::kOfxParameterSuite, 1));
  effects = static_cast<const OfxImageEffectSuiteV1*>(get(ofx::kOfxImageEffectSuite, 1));
  memory = static_cast<const OfxMemorySuiteV1*>(get(ofx::kOfxMemorySuite, 1));
  threads = static_cast<const OfxMultiThreadSuiteV1*>(get(ofx::kOfxMultiThreadSuite, 1));
  message_v2 = static_cast<const OfxMessageSuiteV2*>(get(ofx::kOfxMessageSuite, 2));
  message_v1 = static_cast<const OfxMessageSuiteV1*>(get(ofx::kOfxMessageSuite, 1));
  return props && params && effects;
}

int Props::get_int(const char* name, int fallback, int index) const {
  int v = fallback;
  if (!h_ || g_suites.props->propGetInt(h_, name, index, &v) != ofx::kOfxStatOK) return fallback;
  return v;
}

double Props::get_double(const char* name, double fallback, int index) const {
  double v = fallback;
  if (!h_ || g_suites.props->propGetDouble(h_, name, index, &v) != ofx::kOfxStatOK) return fallback;
  return v;
}

std::string Props::get_string(const char* name, const std::string& fallback, int index) const {
  char* v = nullptr;
  if (!h_ || g_suites.props->propGetString(h_, name, index, &v) != ofx::kOfxStatOK || !v)
    return fallback;
  return v;
}

void* Props::get_pointer(const char* name, int index) const {
  void* v = nullptr;
  if (!h_ || g_suites.props->propGetPointer(h_, name, index, &v) != ofx::kOfxStatOK) return nullptr;
  return v;
}

int Props::dimension(const char* name) const {
  int n = 0;
  if (!h_ || g_suites.props->propGetDimension(h_, name, &n) != ofx::kOfxStatOK) return 0;
  return n;
}

void Props::set(const char* name, int value, int index) const {
  if (h_) g_suites.props->propSetInt(h_, name, index, value);
}
void Props::set(const char* name, double value, int index) const {
  if (h_) g_suites.props->propSetDouble(h_, name, index, value);
}
void Props::set(const char* name, const char* value, int index) const {
  if (h_) g_suites.props->propSetString(h_, name, index, value);
}
void Props::set_pointer(const char* name, void* value) const {
  if (h_) g_suites.props->propSetPointer(h_, name, 0, value);
}
void Props::set_strings(const char* name, const std::vector<std::string>& values) const {
  for (size_t i = 0; i < values.size(); ++i) set(name, values[i].c_str(), static_cast<int>(i));
}

namespace {
struct Pieces {
  int n;
  const std::function<void(int, int)>* body;
  std::atomic<bool> failed{false};
};

void run_piece(unsigned index, unsigned count, void* arg) {
  auto* p = static_cast<Pieces*>(arg);
  const int begin = static_cast<int>(int64_t(p->n) * index / count);
  const int end = static_cast<int>(int64_t(p->n) * (index + 1) / count);
  try {
    if (begin < end) (*p->body)(begin, end);
  } catch (...) {  // nothing may leave a host thread
    p->failed = true;
  }
}
}  // namespace

void host_parallel_for(int n, const std::function<void(int begin, int end)>& body) {
  if (n <= 0) return;
  unsigned cpus = 1;
  const auto* t = g_suites.threads;
  if (!t || t->multiThreadNumCPUs(&cpus) != ofx::kOfxStatOK || t->multiThreadIsSpawnedThread())
    cpus = 1;
  const unsigned count = std::min<unsigned>({cpus, 16u, static_cast<unsigned>(std::max(1, n / 8))});
  if (count <= 1) return body(0, n);
  Pieces pieces{n, &body};
  if (t->multiThread(run_piece, count, &pieces) != ofx::kOfxStatOK) return body(0, n);
  if (pieces.failed) throw std::runtime_error("a worker thread failed");
}

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

}  // namespace frameloom
