// fuzz/codec_fuzz.cpp: the codec's decoder (parmill/codec.hpp) on any bytes.
//
// The same bytes are decoded as many types, from memory and from a stream. The only exception
// allowed is `codec_error`. A value decoded from all of the bytes must encode back to exactly
// those bytes where the encoding is canonical (every type here but the maps, whose keys may come
// in any order).
#include <parmill/codec.hpp>
#include <parmill/outcome.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace {

/// A user type that crosses with `parmill_fields`.
struct record {
  std::int32_t id = 0;
  std::string name;
  std::vector<bool> flags;
  std::optional<parmill::failure_kind> kind;
  std::chrono::milliseconds took{0};
  static constexpr auto parmill_fields =
      std::tuple{&record::id, &record::name, &record::flags, &record::kind, &record::took};
};

/// A user type with no fields: it encodes to no bytes.
struct empty {
  static constexpr auto parmill_fields = std::tuple{};
};

std::string bytes_of(parmill::writer& w) {
  std::string out;
  for (const iovec& piece : w.pieces())
    out.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  return out;
}

/// Decodes a `T` from the bytes; when all of them were used and `canonical`, checks that the value
/// encodes back to them.
template <class T, bool canonical = true>
void decode_as(const std::uint8_t* data, std::size_t size) {
  try {
    parmill::reader r(data, size);
    const T value = parmill::decode<T>(r);
    if constexpr (canonical) {
      if (r.remaining() != 0) return;
      parmill::writer w;
      parmill::encode(w, value);
      const std::string again = bytes_of(w);
      if (again.size() != size || (size != 0 && std::memcmp(again.data(), data, size) != 0)) std::abort();
    }
  } catch (const parmill::codec_error&) {
  }
}

/// A stream over the fuzzer's bytes, for the reader's stream form (how frames from worker
/// processes are read).
struct memory_stream {
  const std::uint8_t* data;
  std::size_t position = 0;
  static void fill(void* context, void* out, std::size_t size) {
    auto* self = static_cast<memory_stream*>(context);
    std::memcpy(out, self->data + self->position, size);
    self->position += size;
  }
};

template <class T>
void stream_decode_as(const std::uint8_t* data, std::size_t size) {
  try {
    memory_stream stream{data};
    std::vector<std::byte> buffer;
    parmill::reader r(size, &memory_stream::fill, &stream, buffer);
    (void)parmill::decode<T>(r);
  } catch (const parmill::codec_error&) {
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decode_as<bool>(data, size);
  decode_as<std::string>(data, size);
  decode_as<std::vector<int>>(data, size);
  decode_as<std::vector<std::string>>(data, size);
  decode_as<std::vector<bool>>(data, size);
  decode_as<std::optional<std::tuple<bool, double, std::string>>>(data, size);
  decode_as<std::pair<std::uint8_t, std::vector<std::optional<std::int16_t>>>>(data, size);
  decode_as<std::array<std::string, 3>>(data, size);
  decode_as<parmill::failure_kind>(data, size);
  decode_as<std::vector<parmill::failure_kind>>(data, size);
  decode_as<record>(data, size);
  decode_as<std::vector<record>>(data, size);
  decode_as<std::vector<std::monostate>>(data, size);
  decode_as<std::vector<std::vector<std::monostate>>>(data, size);
  decode_as<std::vector<empty>>(data, size);
  decode_as<std::vector<std::tuple<>>>(data, size);
  decode_as<std::map<std::string, std::vector<std::optional<std::int16_t>>>, false>(data, size);
  decode_as<std::map<std::monostate, std::monostate>, false>(data, size);
  decode_as<std::unordered_map<int, std::string>, false>(data, size);
  decode_as<std::map<std::int64_t, std::vector<std::monostate>>, false>(data, size);
  stream_decode_as<std::vector<std::string>>(data, size);
  stream_decode_as<record>(data, size);
  return 0;
}
