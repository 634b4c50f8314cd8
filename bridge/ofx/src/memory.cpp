#include "memory.h"

#include <cstdlib>

namespace frameloom {

ResultMemory& ResultMemory::get() {
  static auto* memory = new ResultMemory();  // outlives every instance, whatever the exit order
  return *memory;
}

ResultMemory::ResultMemory() {
  // FRAMELOOM_OFX_MEMORY_MB sets the budget; 2 GiB holds ~330 1080p RGB or ~125 1080p 16-bit RGBA frames.
  size_t mb = 2048;
  if (const char* env = std::getenv("FRAMELOOM_OFX_MEMORY_MB")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && v >= 0) mb = static_cast<size_t>(v);
  }
  budget_ = mb * 1024 * 1024;
}

void ResultMemory::put(uint64_t job, int64_t index, FramePtr frame) {
  std::lock_guard<std::mutex> lock(mu_);
  Key key{job, index};
  auto it = where_.find(key);
  if (it != where_.end()) {
    bytes_ -= it->second->frame->data.size();
    lru_.erase(it->second);
    where_.erase(it);
  }
  bytes_ += frame->data.size();
  lru_.push_front(Entry{key, std::move(frame)});
  where_[key] = lru_.begin();
  evict_locked();
}

FramePtr ResultMemory::find(uint64_t job, int64_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = where_.find(Key{job, index});
  if (it == where_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->frame;
}

void ResultMemory::drop_job(uint64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->key.job == job) {
      bytes_ -= it->frame->data.size();
      where_.erase(it->key);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

void ResultMemory::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  lru_.clear();
  where_.clear();
  bytes_ = 0;
}

size_t ResultMemory::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

void ResultMemory::evict_locked() {
  // The newest frame always stays, even over budget: a render is waiting for it.
  while (bytes_ > budget_ && lru_.size() > 1) {
    bytes_ -= lru_.back().frame->data.size();
    where_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

}  // namespace frameloom
