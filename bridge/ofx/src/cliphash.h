// The clip identity the server's cache is keyed on, computed exactly as the Python client's
// frameloom_client.frames.ClipHasher does (a shared cache needs byte-equal hashes), plus a cheap
// fingerprint used to notice that a host's source frame changed since it was streamed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace frameloom {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> digest() const;  // of everything so far; the hasher stays usable
  std::string hexdigest() const;

 private:
  void block(const uint8_t* p);
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

struct WireFrame;

// SHA-256 over a domain tag, then per frame: index (int64), height, width, channels, bit depth
// (int32 each, little-endian) and the samples (16-bit ones little-endian), in clip order.
class ClipHasher {
 public:
  ClipHasher();
  void update(int64_t index, const WireFrame& frame);
  std::string hexdigest() const { return sha_.hexdigest(); }

 private:
  Sha256 sha_;
};

// 64-bit non-cryptographic hash of `rows` rows of `row_bytes` bytes, `stride` apart: only
// compares a frame with itself, so it only has to notice real changes, fast (GB/s).
uint64_t fingerprint(const uint8_t* first_row, long stride, int rows, size_t row_bytes);

}  // namespace frameloom
