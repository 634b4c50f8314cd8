// The only code that speaks gRPC: a shared channel per server address, the unary calls with
// deadlines, frames cut into chunks and put back together (as frameloom_client.frames does).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "frameloom/v1/frameloom.grpc.pb.h"
#include "pixels.h"

namespace frameloom {

// Just under gRPC's 4 MiB message default, leaving room for the header (as the Python client).
constexpr size_t kChunkBytes = 4 * 1024 * 1024 - 16 * 1024;
// Unary calls: a person waits on them, so they answer within seconds or fail.
constexpr int kUnaryTimeoutS = 5;

struct CallError {
  std::string code;     // gRPC status name ("UNAVAILABLE", ...) or a frameloom one ("DATA_LOSS")
  std::string message;  // what a person reads
  bool empty() const { return code.empty(); }
};

std::string status_name(grpc::StatusCode code);
CallError to_error(const grpc::Status& status, const std::string& target);

class Server {
 public:
  // One channel per address for the whole process: channels are thread-safe and reconnect.
  static std::shared_ptr<Server> get(const std::string& target);
  static void forget_all();  // on unload

  const std::string& target() const { return target_; }
  v1::Frameloom::Stub& stub() { return *stub_; }
  // A context with the bearer token and, when timeout_s > 0, a deadline.
  std::unique_ptr<grpc::ClientContext> context(const std::string& token, int timeout_s) const;

  bool capabilities(const std::string& token, v1::Capabilities* out, CallError* err);
  bool get_job(const std::string& token, const std::string& job_id, v1::Job* out, CallError* err);

 private:
  explicit Server(std::string target);
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Frameloom::Stub> stub_;
};

// Reassembles FrameChunks, checking them as the Python FrameAssembler does.
class FrameAssembler {
 public:
  // A complete frame, or null while one is still arriving; on a malformed chunk `err` is set.
  FramePtr feed(const v1::FrameChunk& chunk, std::string* err);
  bool pending() const { return frame_ != nullptr; }

 private:
  std::shared_ptr<WireFrame> frame_;
  int64_t index_ = 0;
  size_t received_ = 0;
};

// Cuts a frame into StylizeRequest chunks; `write` returns false when the call is gone.
bool send_frame(int64_t index, const WireFrame& frame, double time,
                const std::function<bool(const v1::StylizeRequest&)>& write);

}  // namespace frameloom
