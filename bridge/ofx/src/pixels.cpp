#include "pixels.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cliphash.h"

namespace frameloom {
namespace {

inline uint16_t float_to_u16(float v) {
  // Same arithmetic as numpy on float32 frames (clip, * 65535, + 0.5, truncate); NaN -> 0.
  // Selects, not branches: the loop over a frame vectorises.
  v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
  return static_cast<uint16_t>(static_cast<int32_t>(v * 65535.0f + 0.5f));  // int32: SIMD converts
}

// One output sample from a wire sample of D bits.
template <typename Out, int D> inline Out convert(uint32_t v);
template <> inline uint8_t convert<uint8_t, 8>(uint32_t v) { return uint8_t(v); }
template <> inline uint8_t convert<uint8_t, 16>(uint32_t v) { return uint8_t((v + 128) / 257); }
template <> inline uint16_t convert<uint16_t, 8>(uint32_t v) { return uint16_t(v * 257); }
template <> inline uint16_t convert<uint16_t, 16>(uint32_t v) { return uint16_t(v); }
template <> inline float convert<float, 8>(uint32_t v) { return float(v) / 255.0f; }
template <> inline float convert<float, 16>(uint32_t v) { return float(v) / 65535.0f; }
template <typename Out> constexpr Out opaque();
template <> constexpr uint8_t opaque<uint8_t>() { return 255; }
template <> constexpr uint16_t opaque<uint16_t>() { return 65535; }
template <> constexpr float opaque<float>() { return 1.0f; }

// The wire's and the host's sample types and depth are template parameters so that the common
// case (same channels) is one flat, vectorised loop: a cached 1080p frame is ~8M samples.
template <typename Out, typename In, int D>
void convert_row(const In* in, int in_channels, Out* out, int out_channels, int n) {
  if (in_channels == out_channels) {
    const size_t samples = size_t(n) * in_channels;
    if constexpr (sizeof(Out) == sizeof(In) && std::is_integral_v<Out>) {
      std::memcpy(out, in, samples * sizeof(Out));
    } else {
      for (size_t i = 0; i < samples; ++i) out[i] = convert<Out, D>(in[i]);
    }
    return;
  }
  const int shared = std::min(in_channels, out_channels);
  for (int x = 0; x < n; ++x, in += in_channels, out += out_channels) {
    for (int c = 0; c < shared; ++c) out[c] = convert<Out, D>(in[c]);
    if (out_channels == 4 && in_channels == 3) out[3] = opaque<Out>();
  }
}

template <typename Out>
void fill_window(const WireFrame& frame, const OfxRectI& fb, const OfxRectI& win, HostImage* out,
                 int y_begin, int y_end) {
  const int oc = out->components;
  const int n = win.x2 - win.x1;
  // The part of each row the frame covers, in output x.
  const int cx1 = std::max(win.x1, fb.x1), cx2 = std::min(win.x2, fb.x1 + frame.width);
  for (int y = y_begin; y < y_end; ++y) {
    Out* row = reinterpret_cast<Out*>(out->row(y)) + static_cast<long>(win.x1 - out->bounds.x1) * oc;
    const int wy = fb.y2 - 1 - y;  // wire rows run top down
    if (wy < 0 || wy >= frame.height || cx1 >= cx2 || fb.y2 - fb.y1 != frame.height) {
      std::memset(row, 0, sizeof(Out) * n * oc);
      continue;
    }
    if (cx1 > win.x1) std::memset(row, 0, sizeof(Out) * (cx1 - win.x1) * oc);
    if (cx2 < win.x2) std::memset(row + (cx2 - win.x1) * oc, 0, sizeof(Out) * (win.x2 - cx2) * oc);
    const size_t offset = (size_t(wy) * frame.width + (cx1 - fb.x1)) * frame.channels;
    Out* dst = row + (cx1 - win.x1) * oc;
    if (frame.depth == 16)
      convert_row<Out, uint16_t, 16>(reinterpret_cast<const uint16_t*>(frame.data.data()) + offset,
                                     frame.channels, dst, oc, cx2 - cx1);
    else
      convert_row<Out, uint8_t, 8>(frame.data.data() + offset, frame.channels, dst, oc, cx2 - cx1);
  }
}

}  // namespace

size_t HostImage::pixel_bytes() const {
  return size_t(components) * (depth == Depth::Byte ? 1 : depth == Depth::Short ? 2 : 4);
}

bool parse_depth(const std::string& s, Depth* out) {
  if (s == ofx::kOfxBitDepthByte) return *out = Depth::Byte, true;
  if (s == ofx::kOfxBitDepthShort) return *out = Depth::Short, true;
  if (s == ofx::kOfxBitDepthFloat) return *out = Depth::Float, true;
  return false;
}

bool parse_components(const std::string& s, int* out) {
  if (s == ofx::kOfxImageComponentRGBA) return *out = 4, true;
  if (s == ofx::kOfxImageComponentRGB) return *out = 3, true;
  return false;
}

int wire_depth(Depth depth) { return depth == Depth::Byte ? 8 : 16; }

void serial_for(int n, const RowBody& body) {
  if (n > 0) body(0, n);
}

WireFrame to_wire(const HostImage& image, const ParallelFor& pfor) {
  WireFrame f;
  f.width = image.width();
  f.height = image.height();
  f.channels = image.components;
  f.depth = wire_depth(image.depth);
  f.data.resize(f.size());
  const size_t samples = size_t(f.width) * f.channels;
  pfor(f.height, [&](int begin, int end) {
    for (int wy = begin; wy < end; ++wy) {
      const uint8_t* src = image.row(image.bounds.y2 - 1 - wy);
      uint8_t* dst = f.data.data() + wy * f.row_bytes();
      if (image.depth == Depth::Float) {
        auto in = reinterpret_cast<const float*>(src);
        auto out = reinterpret_cast<uint16_t*>(dst);
        for (size_t i = 0; i < samples; ++i) out[i] = float_to_u16(in[i]);
      } else {
        std::memcpy(dst, src, f.row_bytes());
      }
    }
  });
  return f;
}

void from_wire(const WireFrame& frame, const OfxRectI& frame_bounds, const OfxRectI& window,
               HostImage* out, const ParallelFor& pfor) {
  OfxRectI win{std::max(window.x1, out->bounds.x1), std::max(window.y1, out->bounds.y1),
               std::min(window.x2, out->bounds.x2), std::min(window.y2, out->bounds.y2)};
  if (win.x1 >= win.x2 || win.y1 >= win.y2) return;
  pfor(win.y2 - win.y1, [&](int begin, int end) {
    const int y1 = win.y1 + begin, y2 = win.y1 + end;
    switch (out->depth) {
      case Depth::Byte: fill_window<uint8_t>(frame, frame_bounds, win, out, y1, y2); break;
      case Depth::Short: fill_window<uint16_t>(frame, frame_bounds, win, out, y1, y2); break;
      case Depth::Float: fill_window<float>(frame, frame_bounds, win, out, y1, y2); break;
    }
  });
}

uint64_t fingerprint(const HostImage& image, const ParallelFor& pfor) {
  // Fixed blocks of rows, each hashed on its own, then the block hashes in order: the result
  // does not depend on how many threads did the work.
  constexpr int kBlockRows = 32;
  const int rows = image.height();
  const size_t row_bytes = size_t(image.width()) * image.pixel_bytes();
  std::vector<uint64_t> blocks(static_cast<size_t>((rows + kBlockRows - 1) / kBlockRows));
  pfor(static_cast<int>(blocks.size()), [&](int begin, int end) {
    for (int b = begin; b < end; ++b) {
      const int y = image.bounds.y1 + b * kBlockRows;
      blocks[b] = fingerprint(image.row(y), image.row_bytes, std::min(kBlockRows, rows - b * kBlockRows), row_bytes);
    }
  });
  return fingerprint(reinterpret_cast<const uint8_t*>(blocks.data()), 0, 1, blocks.size() * sizeof(uint64_t));
}

}  // namespace frameloom
