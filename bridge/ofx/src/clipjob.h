// One clip and parameter set on a frameloom server: its source frames are gathered once (by
// render threads, the only ones that may read the host's images), streamed through Stylize with
// the clip hash, and every finished frame is kept for any render thread that asks, in any order.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client.h"
#include "cliphash.h"
#include "pixels.h"
#include "settings.h"

namespace frameloom {

// Gathered source frames wait here until they are streamed: a temporary file, so that the
// plugin's memory does not grow with the clip's length.
class Spool {
 public:
  Spool() = default;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool() { close(); }
  bool append(const WireFrame& frame, std::string* err);
  bool read(int64_t i, WireFrame* frame, std::string* err);
  int64_t count() const { return count_; }
  void close();

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
  WireFrame shape_;  // every frame has this shape (no pixels)
  int64_t count_ = 0;
};

enum class Outcome { Ready, Aborted, Failed };

class ClipJob {
 public:
  struct Params {
    JobKey key;
    v1::JobSpec spec;
    int64_t first_index = 0;  // source index of the range's first frame
    int64_t count = 0;
    int fps_num = 0, fps_den = 1;
    std::shared_ptr<Server> server;
    std::string token;
  };
  explicit ClipJob(Params params);
  ClipJob(const ClipJob&) = delete;
  ClipJob& operator=(const ClipJob&) = delete;
  ~ClipJob();  // cancels the call and joins its threads

  const JobKey& key() const { return p_.key; }
  uint64_t serial() const { return serial_; }  // unique for the process's lifetime
  int64_t count() const { return p_.count; }
  int64_t first_index() const { return p_.first_index; }

  // ---- gathering: one render thread at a time hands over frames 0, 1, ... of the range.
  bool claim_gather();    // true: this thread gathers now
  void release_gather();  // the gatherer stops early (abort); what it gathered stays
  bool gathering() const;
  int64_t gathered() const;
  bool add_source(const WireFrame& frame, uint64_t host_fingerprint, const OfxRectI& bounds,
                  CallError* err);
  void start();  // every frame gathered: stream them on a worker thread
  // Whether frame k was gathered from pixels with this fingerprint (false: the host's source
  // changed since, and these results are stale).
  bool same_source(int64_t k, uint64_t host_fingerprint) const;
  OfxRectI bounds() const;

  // ---- serving
  // Frame k of the range, waiting for it; `aborted` is polled every few milliseconds.
  Outcome wait_for(int64_t k, const std::function<bool()>& aborted, FramePtr* out, CallError* err);
  // Wakes waiters within `ms` (or at any change).
  void wait_change(int ms) const;
  void cancel(const std::string& why);
  bool failed(CallError* err) const;
  bool finished() const;  // every frame came back
  std::string job_id() const;
  bool cached() const;
  int64_t frames_sent() const { return frames_sent_.load(); }
  // Frames come from the plugin's memory (or the server's cache) from now on; drop the copies.
  void forget_frames();

 private:
  void run();
  void fail_locked(CallError err);
  bool fetch_again(int64_t k, const std::function<bool()>& aborted, CallError* err);
  void probe_server();

  Params p_;
  const uint64_t serial_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  // gathering
  bool gatherer_ = false;
  bool gathering_ = true;
  OfxRectI bounds_{0, 0, 0, 0};
  std::vector<uint64_t> fingerprints_;
  ClipHasher hasher_;
  Spool spool_;
  // streaming
  std::thread worker_;
  bool cancelled_ = false;
  grpc::ClientContext* call_ = nullptr;  // the running Stylize call, for TryCancel
  std::string job_id_;
  bool cached_ = false;
  bool finished_ = false;
  CallError error_;
  std::vector<char> have_;  // frame k finished (it may since have left the memory)
  std::atomic<int64_t> frames_sent_{0};
  std::chrono::steady_clock::time_point last_heard_;
  std::atomic<bool> probing_{false};
  std::mutex fetch_mu_;
};

}  // namespace frameloom
