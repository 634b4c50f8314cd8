#include "client.h"

#include <chrono>
#include <map>
#include <mutex>

namespace frameloom {

std::string status_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

CallError to_error(const grpc::Status& status, const std::string& target) {
  CallError err{status_name(status.error_code()), status.error_message()};
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE)
    err.message = "cannot reach the frameloom server at " + target + " (" + err.message + ")";
  else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    err.message = "the frameloom server at " + target + " did not answer in time";
  else if (err.message.empty())
    err.message = err.code;
  return err;
}

namespace {
std::mutex g_servers_mu;
std::map<std::string, std::shared_ptr<Server>>& servers() {
  static auto* map = new std::map<std::string, std::shared_ptr<Server>>();  // never destroyed:
  return *map;  // a host may call us from its own threads while the process exits
}
}  // namespace

Server::Server(std::string target) : target_(std::move(target)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  args.SetMaxSendMessageSize(4 * 1024 * 1024);
  // A restarted server is found again within seconds (gRPC's default backoff grows to 2 min).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 3000);
  channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Frameloom::NewStub(channel_);
}

std::shared_ptr<Server> Server::get(const std::string& target) {
  std::lock_guard<std::mutex> lock(g_servers_mu);
  auto& slot = servers()[target];
  if (!slot) slot.reset(new Server(target));
  return slot;
}

void Server::forget_all() {
  std::lock_guard<std::mutex> lock(g_servers_mu);
  servers().clear();
}

std::unique_ptr<grpc::ClientContext> Server::context(const std::string& token, int timeout_s) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  if (timeout_s > 0)
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  return ctx;
}

bool Server::capabilities(const std::string& token, v1::Capabilities* out, CallError* err) {
  auto ctx = context(token, kUnaryTimeoutS);
  grpc::Status st = stub_->GetCapabilities(ctx.get(), v1::GetCapabilitiesRequest(), out);
  if (!st.ok()) *err = to_error(st, target_);
  return st.ok();
}

bool Server::get_job(const std::string& token, const std::string& job_id, v1::Job* out,
                     CallError* err) {
  auto ctx = context(token, kUnaryTimeoutS);
  v1::GetJobRequest req;
  req.set_job_id(job_id);
  grpc::Status st = stub_->GetJob(ctx.get(), req, out);
  if (!st.ok()) *err = to_error(st, target_);
  return st.ok();
}

FramePtr FrameAssembler::feed(const v1::FrameChunk& chunk, std::string* err) {
  const std::string& data = chunk.data();
  if (!frame_) {
    if (!chunk.has_header()) return *err = "frame " + std::to_string(chunk.index()) + ": first chunk has no header", nullptr;
    const auto& h = chunk.header();
    if ((h.channels() != 3 && h.channels() != 4) || (h.bit_depth() != 8 && h.bit_depth() != 16) ||
        h.width() <= 0 || h.height() <= 0)
      return *err = "frame " + std::to_string(chunk.index()) + ": unsupported frame format", nullptr;
    if (h.encoding() == v1::FRAME_ENCODING_PNG)
      return *err = "frame " + std::to_string(chunk.index()) + ": got PNG, asked for raw frames", nullptr;
    auto f = std::make_shared<WireFrame>();
    f->width = h.width(), f->height = h.height(), f->channels = h.channels(), f->depth = h.bit_depth();
    if (static_cast<int64_t>(f->size()) != h.size() || chunk.offset() != 0)
      return *err = "frame " + std::to_string(chunk.index()) + ": header size disagrees with its shape", nullptr;
    f->data.resize(f->size());
    frame_ = f, index_ = chunk.index(), received_ = 0;
  } else if (chunk.index() != index_ || chunk.has_header() ||
             chunk.offset() != static_cast<int64_t>(received_)) {
    frame_.reset();
    return *err = "frame " + std::to_string(index_) + ": chunks out of order", nullptr;
  }
  if (received_ + data.size() > frame_->data.size()) {
    frame_.reset();
    return *err = "frame " + std::to_string(index_) + ": more bytes than its header says", nullptr;
  }
  std::copy(data.begin(), data.end(), frame_->data.begin() + received_);
  received_ += data.size();
  if (received_ < frame_->data.size()) return nullptr;
  FramePtr done = std::move(frame_);
  frame_.reset();
  return done;
}

bool send_frame(int64_t index, const WireFrame& frame, double time,
                const std::function<bool(const v1::StylizeRequest&)>& write) {
  v1::StylizeRequest req;
  const size_t total = frame.data.size();
  for (size_t offset = 0; offset < std::max<size_t>(total, 1); offset += kChunkBytes) {
    auto* chunk = req.mutable_chunk();
    chunk->Clear();
    chunk->set_index(index);
    chunk->set_offset(static_cast<int64_t>(offset));
    chunk->set_data(frame.data.data() + offset, std::min(kChunkBytes, total - offset));
    if (offset == 0) {
      auto* h = chunk->mutable_header();
      h->set_width(frame.width);
      h->set_height(frame.height);
      h->set_channels(frame.channels);
      h->set_bit_depth(frame.depth);
      h->set_encoding(v1::FRAME_ENCODING_RAW);
      h->set_size(static_cast<int64_t>(total));
      h->set_time(time);
    }
    if (!write(req)) return false;
  }
  return true;
}

}  // namespace frameloom
