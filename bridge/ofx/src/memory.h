// The plugin's own copy of finished frames: one process-wide budget shared by every instance
// (hosts often run a UI instance and a render instance of one effect), least recently used
// frames dropped first. A dropped frame is fetched from the server's cache again.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>

#include "pixels.h"

namespace frameloom {

class ResultMemory {
 public:
  static ResultMemory& get();

  void put(uint64_t job, int64_t index, FramePtr frame);
  FramePtr find(uint64_t job, int64_t index);  // null when absent; a hit counts as a use
  void drop_job(uint64_t job);
  void clear();
  size_t budget() const { return budget_; }
  size_t bytes() const;

 private:
  ResultMemory();
  struct Key {
    uint64_t job;
    int64_t index;
    bool operator==(const Key& o) const { return job == o.job && index == o.index; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.job * 1000003u ^ uint64_t(k.index)); }
  };
  struct Entry {
    Key key;
    FramePtr frame;
  };
  void evict_locked();

  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> where_;
  size_t bytes_ = 0;
  size_t budget_;
};

}  // namespace frameloom
