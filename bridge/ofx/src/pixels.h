// Host images <-> frames on the wire.
//
// An OFX image is addressed from its bottom-left pixel (bounds.x1, bounds.y1): the data pointer is
// that pixel and each row up is rowBytes further (rowBytes may be padded, or negative). A wire
// frame (frameloom.v1.FrameHeader) is top row first, tightly packed, 8- or 16-bit RGB or RGBA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ofx_api.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "frameloom's OFX plugin writes 16-bit samples as they lie in memory: little-endian only"
#endif

namespace frameloom {

enum class Depth { Byte, Short, Float };

struct WireFrame {
  int width = 0, height = 0, channels = 0, depth = 8;  // depth: 8 or 16 bits per sample
  std::vector<uint8_t> data;                           // top row first

  size_t row_bytes() const { return size_t(width) * channels * (depth / 8); }
  size_t size() const { return row_bytes() * height; }
};
using FramePtr = std::shared_ptr<const WireFrame>;

// A view of an image the host handed us (or of the output image it wants filled).
struct HostImage {
  uint8_t* data = nullptr;  // the pixel at (bounds.x1, bounds.y1)
  OfxRectI bounds{0, 0, 0, 0};
  long row_bytes = 0;
  Depth depth = Depth::Byte;
  int components = 4;  // 3 (RGB) or 4 (RGBA)

  int width() const { return bounds.x2 - bounds.x1; }
  int height() const { return bounds.y2 - bounds.y1; }
  size_t pixel_bytes() const;
  const uint8_t* row(int y) const { return data + static_cast<long>(y - bounds.y1) * row_bytes; }
  uint8_t* row(int y) { return data + static_cast<long>(y - bounds.y1) * row_bytes; }
};

// Runs body(begin, end) over pieces covering [0, n), maybe on several threads at once, and
// returns when every piece is done. The host adapter passes one on the host's thread suite.
using RowBody = std::function<void(int begin, int end)>;
using ParallelFor = std::function<void(int n, const RowBody& body)>;
void serial_for(int n, const RowBody& body);

bool parse_depth(const std::string& ofx_depth, Depth* out);
bool parse_components(const std::string& ofx_components, int* out);
// What we send for a host depth: 8-bit as 8-bit, 16-bit and float as 16-bit.
int wire_depth(Depth depth);

// The host's pixels as a wire frame. Float samples are clamped to [0, 1] (what the server takes)
// and rounded to 16 bits exactly as frameloom_client.as_wire_image does.
WireFrame to_wire(const HostImage& image, const ParallelFor& pfor = serial_for);

// Fills `window` of `out` from `frame`, which covers `frame_bounds` in the same pixel space as
// `out`. Pixels of the window that the frame does not cover become transparent black.
void from_wire(const WireFrame& frame, const OfxRectI& frame_bounds, const OfxRectI& window,
               HostImage* out, const ParallelFor& pfor = serial_for);

// A cheap identity of the host pixels (not of the padding between rows); the same whatever
// `pfor` does.
uint64_t fingerprint(const HostImage& image, const ParallelFor& pfor = serial_for);

}  // namespace frameloom
