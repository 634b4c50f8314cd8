#include "clipjob.h"

#include <filesystem>
#include <random>

#include "host.h"
#include "memory.h"

namespace frameloom {
namespace {

std::atomic<uint64_t> g_next_serial{1};

constexpr int kPollMs = 20;          // how often a waiting render looks at the host's abort flag
constexpr int kSilenceS = 30;        // no word from a running job for this long: ask the server
constexpr int kFetchTimeoutS = 30;   // re-reading finished frames from the server's cache

bool seek(std::FILE* f, int64_t offset) {
#ifdef _WIN32
  return _fseeki64(f, offset, SEEK_SET) == 0;
#else
  return fseeko(f, static_cast<off_t>(offset), SEEK_SET) == 0;
#endif
}

std::string temp_path() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned long long> dist;
  char name[64];
  std::snprintf(name, sizeof name, "frameloom-ofx-%016llx.spool", dist(rd));
  std::error_code ec;
  auto dir = std::filesystem::temp_directory_path(ec);
  return ((ec ? std::filesystem::path(".") : dir) / name).string();
}

}  // namespace

// ---- Spool -------------------------------------------------------------------------------------

bool Spool::append(const WireFrame& frame, std::string* err) {
  if (!file_) {
    path_ = temp_path();
    file_ = std::fopen(path_.c_str(), "w+b");
    if (!file_) return *err = "cannot create a temporary file for the source frames at " + path_, false;
#ifndef _WIN32
    std::remove(path_.c_str());  // gone from the folder now; freed when closed, even on a crash
    path_.clear();
#endif
    shape_ = WireFrame{frame.width, frame.height, frame.channels, frame.depth, {}};
  }
  if (frame.width != shape_.width || frame.height != shape_.height ||
      frame.channels != shape_.channels || frame.depth != shape_.depth)
    return *err = "the source frames of this clip differ in size or format", false;
  if (std::fwrite(frame.data.data(), 1, frame.data.size(), file_) != frame.data.size())
    return *err = "cannot write the source frames to a temporary file (disk full?)", false;
  ++count_;
  return true;
}

bool Spool::read(int64_t i, WireFrame* frame, std::string* err) {
  if (!file_ || i < 0 || i >= count_) return *err = "source frame not gathered", false;
  *frame = shape_;
  frame->data.resize(shape_.size());
  if (std::fflush(file_) != 0 ||
      !seek(file_, i * static_cast<int64_t>(shape_.size())) ||
      std::fread(frame->data.data(), 1, frame->data.size(), file_) != frame->data.size())
    return *err = "cannot read the source frames back from their temporary file", false;
  return true;
}

void Spool::close() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  if (!path_.empty()) std::remove(path_.c_str());
  path_.clear();
}

// ---- ClipJob -----------------------------------------------------------------------------------

ClipJob::ClipJob(Params params)
    : p_(std::move(params)), serial_(g_next_serial++), have_(static_cast<size_t>(p_.count), 0) {
  fingerprints_.reserve(static_cast<size_t>(p_.count));
}

ClipJob::~ClipJob() {
  cancel("the effect was changed or closed");
  if (worker_.joinable()) worker_.join();
  ResultMemory::get().drop_job(serial_);
}

bool ClipJob::claim_gather() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!gathering_ || gatherer_ || !error_.empty()) return false;
  gatherer_ = true;
  return true;
}

void ClipJob::release_gather() {
  std::lock_guard<std::mutex> lock(mu_);
  gatherer_ = false;
  changed_.notify_all();
}

bool ClipJob::gathering() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gathering_ && error_.empty();
}

int64_t ClipJob::gathered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(fingerprints_.size());
}

OfxRectI ClipJob::bounds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bounds_;
}

bool ClipJob::add_source(const WireFrame& frame, uint64_t host_fingerprint, const OfxRectI& bounds,
                         CallError* err) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t k = static_cast<int64_t>(fingerprints_.size());
  if (k == 0) bounds_ = bounds;
  std::string why;
  if (bounds.x1 != bounds_.x1 || bounds.y1 != bounds_.y1 || bounds.x2 != bounds_.x2 ||
      bounds.y2 != bounds_.y2) {
    why = "the source frames of this clip differ in size";
  } else if (spool_.append(frame, &why)) {
    hasher_.update(p_.first_index + k, frame);
    fingerprints_.push_back(host_fingerprint);
    return true;
  }
  *err = CallError{"INVALID_ARGUMENT", why};
  fail_locked(*err);
  return false;
}

void ClipJob::start() {
  std::lock_guard<std::mutex> lock(mu_);
  gathering_ = false;
  gatherer_ = false;
  last_heard_ = std::chrono::steady_clock::now();
  if (error_.empty()) worker_ = std::thread([this] { run(); });
  changed_.notify_all();
}

bool ClipJob::same_source(int64_t k, uint64_t host_fingerprint) const {
  std::lock_guard<std::mutex> lock(mu_);
  return k >= 0 && k < static_cast<int64_t>(fingerprints_.size()) && fingerprints_[k] == host_fingerprint;
}

void ClipJob::fail_locked(CallError err) {
  if (error_.empty()) error_ = std::move(err);
  changed_.notify_all();
}

void ClipJob::cancel(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!finished_) fail_locked(CallError{"CANCELLED", why});
  cancelled_ = true;
  if (call_) call_->TryCancel();
}

bool ClipJob::failed(CallError* err) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.empty()) return false;
  *err = error_;
  return true;
}

bool ClipJob::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

std::string ClipJob::job_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return job_id_;
}

bool ClipJob::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

void ClipJob::wait_change(int ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::milliseconds(ms));
}

void ClipJob::forget_frames() { ResultMemory::get().drop_job(serial_); }

void ClipJob::run() {
  // The whole clip's call has no deadline (a diffusion job may run for hours); cancel and the
  // silence probe in wait_for end it instead.
  auto ctx = p_.server->context(p_.token, 0);
  v1::StylizeRequest first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    call_ = ctx.get();
    auto* start = first.mutable_start();
    *start->mutable_spec() = p_.spec;
    start->set_frame_count(p_.count);
    start->set_first_index(p_.first_index);
    start->set_fps_num(p_.fps_num);
    start->set_fps_den(p_.fps_den);
    start->set_result_encoding(v1::FRAME_ENCODING_RAW);
    start->set_clip_hash(hasher_.hexdigest());
  }
  auto stream = p_.server->stub().Stylize(ctx.get());
  CallError err;
  std::thread writer;
  bool got_finished = false;
  v1::StylizeResponse response;
  if (stream->Write(first) && stream->Read(&response) && response.has_accepted()) {
    const auto& accepted = response.accepted();
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_id_ = accepted.job_id();
      cached_ = accepted.cached();
      last_heard_ = std::chrono::steady_clock::now();
    }
    if (accepted.cached()) {
      stream->WritesDone();
    } else {
      // gRPC's sync streams allow one writer and one reader at a time, on different threads:
      // results flow back while frames still go out, and flow control paces the writer.
      writer = std::thread([this, &stream] {
        const double fps = p_.fps_num > 0 ? double(p_.fps_num) / std::max(p_.fps_den, 1) : 24.0;
        WireFrame frame;
        std::string why;
        for (int64_t k = 0; k < p_.count; ++k) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (cancelled_) return;
          }
          if (!spool_.read(k, &frame, &why)) {
            cancel(why);
            return;
          }
          if (!send_frame(p_.first_index + k, frame, double(k) / fps,
                          [&](const v1::StylizeRequest& r) { return stream->Write(r); }))
            return;  // the call is over; its status says why
          ++frames_sent_;
        }
        stream->WritesDone();
      });
    }
    FrameAssembler assembler;
    std::string why;
    while (stream->Read(&response)) {
      FramePtr frame;
      if (response.has_chunk()) {
        frame = assembler.feed(response.chunk(), &why);  // the copy happens outside the lock
        if (!why.empty()) {
          err = CallError{"DATA_LOSS", why};
          break;
        }
      }
      got_finished = got_finished || response.has_finished();
      std::lock_guard<std::mutex> lock(mu_);
      last_heard_ = std::chrono::steady_clock::now();
      if (!frame) continue;
      const int64_t k = response.chunk().index() - p_.first_index;
      if (k < 0 || k >= p_.count) continue;
      ResultMemory::get().put(serial_, k, frame);
      have_[static_cast<size_t>(k)] = 1;
      changed_.notify_all();
    }
  }
  // Read ended by itself: the call is over and Finish() has the server's status. We stopped
  // reading (a malformed frame): cancel, so that a writer blocked by flow control gets out.
  if (!err.empty()) ctx->TryCancel();
  if (writer.joinable()) writer.join();
  grpc::Status status = stream->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  call_ = nullptr;
  spool_.close();
  if (err.empty() && !status.ok()) err = to_error(status, p_.server->target());
  if (err.empty() && !got_finished) err = CallError{"DATA_LOSS", "the server ended the stream early"};
  if (err.empty()) {
    for (int64_t k = 0; k < p_.count; ++k)
      if (!have_[static_cast<size_t>(k)]) {
        err = CallError{"DATA_LOSS", format("the server finished without frame %lld",
                                            static_cast<long long>(p_.first_index + k))};
        break;
      }
  }
  if (err.empty()) finished_ = true;
  else fail_locked(err);
  changed_.notify_all();
}

Outcome ClipJob::wait_for(int64_t k, const std::function<bool()>& aborted, FramePtr* out,
                          CallError* err) {
  if (k < 0 || k >= p_.count) {
    *err = CallError{"OUT_OF_RANGE", "frame outside the clip's range"};
    return Outcome::Failed;
  }
  for (;;) {
    bool finished_frame = false, silent = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (have_[static_cast<size_t>(k)]) {
        finished_frame = true;
      } else if (!error_.empty()) {
        *err = error_;
        return Outcome::Failed;
      } else {
        changed_.wait_for(lock, std::chrono::milliseconds(kPollMs));
        silent = !gathering_ && !finished_ && std::chrono::steady_clock::now() - last_heard_ >
                                                  std::chrono::seconds(kSilenceS);
      }
    }
    if (finished_frame) {
      if ((*out = ResultMemory::get().find(serial_, k))) return Outcome::Ready;
      if (aborted()) return Outcome::Aborted;
      if (!fetch_again(k, aborted, err)) {
        if (aborted()) return Outcome::Aborted;
        return Outcome::Failed;
      }
      continue;
    }
    if (aborted()) return Outcome::Aborted;
    if (silent) probe_server();
  }
}

void ClipJob::probe_server() {
  if (probing_.exchange(true)) return;
  std::string id = job_id();
  v1::Job job;
  CallError err;
  v1::Capabilities caps;
  bool ok = !id.empty() ? p_.server->get_job(p_.token, id, &job, &err)
                        : p_.server->capabilities(p_.token, &caps, &err);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_heard_ = std::chrono::steady_clock::now();
  }
  if (!ok && (err.code == "UNAVAILABLE" || err.code == "DEADLINE_EXCEEDED")) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_locked(err);
    if (call_) call_->TryCancel();
  }
  probing_ = false;
}

bool ClipJob::fetch_again(int64_t k, const std::function<bool()>& aborted, CallError* err) {
  // One fetch per job at a time; the others wait for it, still answering the host's abort.
  std::unique_lock<std::mutex> one_at_a_time(fetch_mu_, std::try_to_lock);
  while (!one_at_a_time.owns_lock()) {
    if (aborted()) return *err = CallError{"CANCELLED", "aborted"}, false;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    one_at_a_time.try_lock();
  }
  if (ResultMemory::get().find(serial_, k)) return true;  // another render thread fetched it
  const std::string id = job_id();
  if (id.empty()) return *err = CallError{"DATA_LOSS", "finished frame lost"}, false;
  auto ctx = p_.server->context(p_.token, kFetchTimeoutS);
  v1::FetchFramesRequest req;
  req.set_job_id(id);
  req.set_encoding(v1::FRAME_ENCODING_RAW);
  req.set_bit_depth(p_.key.depth);
  auto reader = p_.server->stub().FetchFrames(ctx.get(), req);
  // Frames come in index order from the first: skip the ones before k unread, and keep what
  // follows k while it fits a quarter of the memory budget (the host likely wants them next).
  const int64_t want = p_.first_index + k;
  const size_t keep = ResultMemory::get().budget() / 4;
  size_t kept = 0;
  bool got = false;
  FrameAssembler assembler;
  std::string why;
  v1::FrameChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.index() < want) continue;
    FramePtr frame = assembler.feed(chunk, &why);
    if (!why.empty()) break;
    if (frame) {
      const int64_t i = chunk.index() - p_.first_index;
      if (i >= p_.count) break;
      ResultMemory::get().put(serial_, i, frame);
      kept += frame->data.size();
      got = got || i == k;
      if (kept >= keep) break;
    }
    if (aborted()) break;
  }
  ctx->TryCancel();
  grpc::Status status = reader->Finish();
  if (got) return true;
  if (!why.empty()) *err = CallError{"DATA_LOSS", why};
  else if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED)
    *err = to_error(status, p_.server->target());
  else *err = CallError{"DATA_LOSS", format("the server no longer holds frame %lld of job %s",
                                            static_cast<long long>(want), id.c_str())};
  return false;
}

}  // namespace frameloom
