// parmill/codec.hpp: how values cross a process (or rank) boundary.
//
// One codec for every backend that copies values between address spaces. It knows arithmetic
// types, enums, std::string, std::vector, std::array, std::pair, std::tuple, std::optional,
// std::map, std::unordered_map and std::chrono durations and time points (and any nesting of
// them). A user type opts in with one line:
//
//   struct point { double x, y; std::string label;
//                  static constexpr auto parmill_fields = std::tuple{&point::x, &point::y, &point::label}; };
//
// or by specialising `parmill::codec<T>` with `encode(writer&, const T&)` and `T decode(reader&)`.
// Using a type that cannot cross is a compile-time error that names the rule.
//
// Decoding is safe on any bytes (a damaged or hostile message): it returns a value or throws
// `codec_error`, and never reads out of bounds, has undefined behaviour, allocates more than a
// bounded multiple of the message's size or loops without bound. To that end:
// - a length (of a string, vector or map) may not exceed what the bytes that remain can hold, at
//   the smallest encoded size of one element (`min_encoded_size_v`), so it is checked before any
//   element is decoded or any memory reserved;
// - elements that encode to no bytes at all (std::monostate, std::tuple<>, an empty user type) are
//   capped at `reader::max_empty_elements` per message, across all its containers;
// - a bool (and an optional's flag) is the byte 0 or 1, anything else is an error;
// - an enum with a known range (`enum_range<E>`, given for parmill's own `failure_kind`) rejects
//   values outside it; any other enum must have a fixed underlying type (every `enum class` has
//   one), so that every value of that type is a valid value of the enum;
// - a map whose encoded keys repeat is an error (an encoded map holds each key once).
// Values are in the machine's byte order: messages cross between processes and ranks of the same
// build, not between machines of different byte orders.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/uio.h>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "parmill/outcome.hpp"

namespace parmill {

/// Thrown when bytes do not decode (a truncated or corrupt message).
struct codec_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Where encoded bytes go. Small pieces are copied into a buffer; large contiguous pieces
/// (at least `large_piece` bytes: big strings and vectors of plain values) are referred to where
/// they are, so that writing them out (`pieces()`, for writev) copies them only into the kernel.
/// The referred-to values must outlive the writer's use. Not thread-safe.
class writer {
public:
  /// Pieces at least this big are referred to rather than copied.
  static constexpr std::size_t large_piece = 64 * 1024;

  /// Appends `size` bytes.
  void bytes(const void* data, std::size_t size) {
    if (size >= large_piece) {
      seal();
      pieces_.push_back({data, size});
      total_ += size;
      return;
    }
    const std::size_t old = buffer_.size();
    buffer_.resize(old + size);
    if (size != 0) std::memcpy(buffer_.data() + old, data, size);
    total_ += size;
  }
  /// Appends a plain value's bytes.
  template <class T>
  void raw(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes(&value, sizeof value);
  }
  /// Bytes written so far.
  [[nodiscard]] std::size_t size() const noexcept { return total_; }
  /// The bytes as a list of pieces, in order (valid until the next write or clear).
  [[nodiscard]] const std::vector<iovec>& pieces() {
    iov_.clear();
    if (pieces_.empty()) {
      if (!buffer_.empty()) iov_.push_back(iovec{buffer_.data(), buffer_.size()});
      return iov_;
    }
    seal();
    for (const auto& [data, size] : pieces_)
      iov_.push_back(iovec{const_cast<void*>(data), size});
    return iov_;
  }
  /// Forgets everything written, keeping the buffer's memory.
  void clear() noexcept {
    buffer_.clear();
    pieces_.clear();
    spill_.clear();
    total_ = 0;
  }

private:
  // Turns the bytes buffered since the last large piece into a piece of their own. The buffer is
  // moved aside (its heap block does not move), so later writes never move bytes a piece points at.
  void seal() {
    if (buffer_.empty()) return;
    spill_.push_back(std::move(buffer_));
    buffer_ = {};
    pieces_.push_back({spill_.back().data(), spill_.back().size()});
  }

  std::vector<std::byte> buffer_;
  std::vector<std::pair<const void*, std::size_t>> pieces_;
  std::vector<std::vector<std::byte>> spill_;
  std::vector<iovec> iov_;
  std::size_t total_ = 0;
};

/// Where encoded bytes come from: a span of memory, or a stream (a socket) read as the bytes are
/// needed, so that a large value is read straight into its own storage without a copy in between.
/// Throws `codec_error` when asked for more bytes than the message has. Not thread-safe.
class reader {
public:
  /// Reads exactly `size` bytes into `out`, or throws; the stream form's source.
  using fill_function = void (*)(void* context, void* out, std::size_t size);
  /// Pieces at least this big are read from a stream straight into the value.
  static constexpr std::size_t large_piece = 64 * 1024;
  /// At most this many elements that encode to no bytes (std::monostate, std::tuple<>, empty user
  /// types) are decoded from one message, across all its containers; more is a `codec_error`.
  static constexpr std::size_t max_empty_elements = std::size_t{1} << 20;

  /// Reads from `size` bytes of memory at `data`.
  reader(const void* data, std::size_t size) noexcept
      : p_(static_cast<const std::byte*>(data)), avail_(size), size_(size), left_(size) {}
  /// Reads a message of `size` bytes from a stream: `fill(context, ...)` supplies them, through
  /// `buffer` for small pieces and straight into the value for large ones.
  reader(std::size_t size, fill_function fill, void* context, std::vector<std::byte>& buffer) noexcept
      : size_(size), left_(size), fill_(fill), context_(context), buffer_(&buffer) {}

  /// Copies the next `size` bytes to `out`.
  void bytes(void* out, std::size_t size) {
    if (size > left_) fail("the message ended early (truncated or corrupt)");
    auto* to = static_cast<std::byte*>(out);
    const std::size_t buffered = std::min(size, avail_);
    if (buffered != 0) std::memcpy(to, p_, buffered);
    p_ += buffered;
    avail_ -= buffered;
    left_ -= buffered;
    to += buffered;
    size -= buffered;
    if (size == 0) return;
    if (size >= large_piece) { // only a stream gets here: memory is all buffered
      fill_(context_, to, size);
      left_ -= size;
      return;
    }
    const std::size_t refill = std::min(left_, large_piece);
    buffer_->resize(refill);
    fill_(context_, buffer_->data(), refill);
    p_ = buffer_->data();
    avail_ = refill;
    bytes(to, size);
  }
  /// Reads a plain value.
  template <class T>
  T raw() {
    T value;
    bytes(&value, sizeof value);
    return value;
  }
  /// Bytes of the message not read yet.
  [[nodiscard]] std::size_t remaining() const noexcept { return left_; }
  /// Bytes of the message read so far: the offset of the next byte.
  [[nodiscard]] std::size_t offset() const noexcept { return size_ - left_; }
  /// Throws `codec_error` with `what`, naming the offset reached in the message.
  [[noreturn]] void fail(const std::string& what) const { fail(offset(), what); }
  /// Throws `codec_error` with `what`, naming the offset `at` in the message.
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw codec_error("parmill::codec: at byte " + std::to_string(at) + " of a " + std::to_string(size_) +
                      "-byte message: " + what);
  }
  /// Accounts for `count` elements that encode to no bytes, whose length was read at offset `at`;
  /// throws past `max_empty_elements`.
  void take_empty_elements(std::uint64_t count, std::size_t at) {
    if (count > max_empty_elements - empty_elements_)
      fail(at, "a length of " + std::to_string(count) +
                   " elements that occupy no bytes exceeds the limit of " +
                   std::to_string(max_empty_elements) + " per message (corrupt)");
    empty_elements_ += static_cast<std::size_t>(count);
  }

private:
  const std::byte* p_ = nullptr;
  std::size_t avail_ = 0;          // buffered bytes at p_
  std::size_t size_ = 0;           // bytes of the whole message
  std::size_t empty_elements_ = 0; // decoded so far (see max_empty_elements)
  std::size_t left_ = 0;           // bytes of the message not yet handed out
  fill_function fill_ = nullptr;
  void* context_ = nullptr;
  std::vector<std::byte>* buffer_ = nullptr;
};

/// Encodes and decodes `T`. The primary template is for types the codec does not know; using it
/// is a compile-time error. Specialise it (with `static void encode(writer&, const T&)` and
/// `static T decode(reader&)`) or give the type `parmill_fields` to make a type crossable.
template <class T, class Enable = void>
struct codec {
  /// False: marks the primary template, for types that cannot cross (see `crossable_v`).
  static constexpr bool known = false;
};

namespace detail {
template <class T>
concept has_parmill_fields = requires {
  T::parmill_fields;
};
} // namespace detail

/// True when values of `T` can cross a process boundary.
template <class T>
inline constexpr bool crossable_v = !requires {
  requires codec<std::remove_cvref_t<T>>::known == false;
};

/// Writes `value` with its codec. A type that cannot cross fails to compile here.
template <class T>
void encode(writer& w, const T& value) {
  static_assert(crossable_v<T>,
                "parmill: this type cannot cross a process boundary. Use arithmetic types, enums with a "
                "fixed underlying type (or a parmill::enum_range), std::string, std::vector, std::array, "
                "std::pair, std::tuple, std::optional, std::map "
                "or std::unordered_map of such types; or give the type "
                "`static constexpr auto parmill_fields = std::tuple{&T::a, &T::b, ...};`; or "
                "specialise parmill::codec<T>.");
  codec<std::remove_cvref_t<T>>::encode(w, value);
}

/// Reads a `T` with its codec.
template <class T>
T decode(reader& r) {
  static_assert(crossable_v<T>, "parmill: this type cannot cross a process boundary (see parmill::encode).");
  return codec<std::remove_cvref_t<T>>::decode(r);
}

// --- what decoding may assume ------------------------------------------------------------------

/// The range of an enum's valid values, for the codec to reject others. Specialise it for an enum
/// `E` with `static constexpr E first = ..., last = ...;` (every value from `first` to `last`
/// being valid). parmill gives it for its own enums; without it an enum needs a fixed underlying
/// type, and any value of that type decodes.
template <class E>
struct enum_range {};

/// `failure_kind` crosses with the outcomes of failed items.
template <>
struct enum_range<failure_kind> {
  static constexpr failure_kind first = failure_kind::exception; ///< the first kind
  static constexpr failure_kind last = failure_kind::cancelled;  ///< the last kind
};

namespace detail {
template <class E>
concept enum_with_range = std::is_enum_v<E> && requires {
  { enum_range<E>::first } -> std::convertible_to<E>;
  { enum_range<E>::last } -> std::convertible_to<E>;
};
/// An enum whose underlying type is fixed (every `enum class`, and `enum E : int`): every value of
/// that type is a value of the enum, so no decoded value is undefined behaviour.
template <class E>
concept enum_with_fixed_type = std::is_enum_v<E> && requires(std::underlying_type_t<E> u) {
  E{u};
};
} // namespace detail

/// The fewest bytes one `T` can encode to: decoding bounds every length by the bytes that remain
/// divided by it. A codec specialisation may declare `static constexpr std::size_t
/// min_encoded_size`; one that does not is assumed to write at least one byte per value (a codec
/// that may write nothing must declare 0, or vectors of it fail to decode).
template <class T>
inline constexpr std::size_t min_encoded_size_v = [] {
  if constexpr (requires { codec<T>::min_encoded_size; })
    return std::size_t{codec<T>::min_encoded_size};
  else
    return std::size_t{1};
}();

// --- the codecs -------------------------------------------------------------------------------

/// Arithmetic types (but bool) cross as their bytes, in the machine's byte order.
template <class T>
struct codec<T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>> {
  /// `sizeof(T)` bytes.
  static constexpr std::size_t min_encoded_size = sizeof(T);
  /// Writes the value's bytes.
  static void encode(writer& w, const T& v) { w.raw(v); }
  /// Reads `sizeof(T)` bytes; throws `codec_error` when fewer remain.
  static T decode(reader& r) { return r.raw<T>(); }
};

/// A bool is one byte, 0 or 1; any other byte is a `codec_error` (not undefined behaviour).
template <>
struct codec<bool> {
  /// One byte.
  static constexpr std::size_t min_encoded_size = 1;
  /// Writes 1 for true, 0 for false.
  static void encode(writer& w, bool v) { w.raw(static_cast<std::uint8_t>(v ? 1 : 0)); }
  /// Reads one byte; throws `codec_error` when it is neither 0 nor 1.
  static bool decode(reader& r) {
    const std::size_t at = r.offset();
    const auto byte = r.raw<std::uint8_t>();
    if (byte > 1) r.fail(at, "a bool is the byte 0 or 1, not " + std::to_string(byte) + " (corrupt)");
    return byte == 1;
  }
};

/// Enums cross as their underlying value, checked against `enum_range<E>` when it is given. An
/// enum without a fixed underlying type and without `enum_range` cannot cross (a decoded value
/// outside its enumerators' range would be undefined behaviour).
template <class E>
struct codec<E, std::enable_if_t<detail::enum_with_range<E> || detail::enum_with_fixed_type<E>>> {
  /// The enum's underlying type, which is what crosses.
  using underlying = std::underlying_type_t<E>;
  /// The underlying type's size.
  static constexpr std::size_t min_encoded_size = sizeof(underlying);
  /// Writes the underlying value.
  static void encode(writer& w, const E& v) { w.raw(static_cast<underlying>(v)); }
  /// Reads the underlying value; throws `codec_error` when it is outside `enum_range<E>`.
  static E decode(reader& r) {
    [[maybe_unused]] const std::size_t at = r.offset();
    const auto value = r.raw<underlying>();
    if constexpr (detail::enum_with_range<E>) {
      if (std::cmp_less(value, static_cast<underlying>(enum_range<E>::first)) ||
          std::cmp_greater(value, static_cast<underlying>(enum_range<E>::last)))
        r.fail(at, "the value " + std::to_string(value) + " is outside the enum's range (corrupt)");
    }
    return static_cast<E>(value);
  }
};

namespace detail {
inline void encode_size(writer& w, std::size_t n) { w.raw(static_cast<std::uint64_t>(n)); }

/// Reads the length of a container whose elements encode to at least `each` bytes, and checks it
/// against the bytes that remain (`each` > 0) or the message's budget of empty elements (0).
template <std::size_t each>
std::size_t decode_size(reader& r) {
  const std::size_t at = r.offset();
  const auto n = r.raw<std::uint64_t>();
  if constexpr (each == 0) {
    r.take_empty_elements(n, at);
  } else if (n > r.remaining() / each) {
    r.fail(at, "a length of " + std::to_string(n) + " exceeds what the " + std::to_string(r.remaining()) +
                   " bytes that remain can hold (truncated or corrupt)");
  }
  return static_cast<std::size_t>(n);
}
} // namespace detail

/// A string crosses as its length (uint64) and its bytes, any bytes (NUL and invalid UTF-8 included).
template <>
struct codec<std::string> {
  /// Its length: eight bytes.
  static constexpr std::size_t min_encoded_size = sizeof(std::uint64_t);
  /// Writes the length, then the bytes (large strings are written from where they are).
  static void encode(writer& w, const std::string& s) {
    detail::encode_size(w, s.size());
    w.bytes(s.data(), s.size());
  }
  /// Reads a string; throws `codec_error` when the length exceeds the bytes that remain.
  static std::string decode(reader& r) {
    const std::size_t n = detail::decode_size<1>(r);
    std::string s;
    s.resize(n);
    r.bytes(s.data(), n);
    return s;
  }
};

/// A vector of crossable elements crosses as its length (uint64) and its elements (a vector of
/// arithmetic values as one block of bytes).
template <class T, class A>
struct codec<std::vector<T, A>, std::enable_if_t<crossable_v<T>>> {
  /// Its length: eight bytes.
  static constexpr std::size_t min_encoded_size = sizeof(std::uint64_t);
  /// Writes the length, then the elements.
  static void encode(writer& w, const std::vector<T, A>& v) {
    detail::encode_size(w, v.size());
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      w.bytes(v.data(), v.size() * sizeof(T));
    } else {
      for (const auto& x : v)
        parmill::encode(w, static_cast<const T&>(x));
    }
  }
  /// Reads a vector; the length is checked against the bytes that remain before any memory is reserved.
  static std::vector<T, A> decode(reader& r) {
    const std::size_t n = detail::decode_size<min_encoded_size_v<T>>(r);
    std::vector<T, A> v;
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      v.resize(n);
      r.bytes(v.data(), n * sizeof(T));
    } else {
      v.reserve(n);
      for (std::size_t i = 0; i < n; ++i)
        v.push_back(parmill::decode<T>(r));
    }
    return v;
  }
};

/// An array of crossable elements crosses as its `N` elements (no length).
template <class T, std::size_t N>
struct codec<std::array<T, N>, std::enable_if_t<crossable_v<T>>> {
  /// `N` times an element's fewest bytes.
  static constexpr std::size_t min_encoded_size = N * min_encoded_size_v<T>;
  /// Writes the elements in order.
  static void encode(writer& w, const std::array<T, N>& a) {
    for (const auto& x : a)
      parmill::encode(w, x);
  }
  /// Reads `N` elements.
  static std::array<T, N> decode(reader& r) {
    std::array<T, N> a{};
    for (auto& x : a)
      x = parmill::decode<T>(r);
    return a;
  }
};

/// A pair of crossable types crosses as its first, then its second.
template <class A, class B>
struct codec<std::pair<A, B>, std::enable_if_t<crossable_v<A> && crossable_v<B>>> {
  /// The sum of its members' fewest bytes.
  static constexpr std::size_t min_encoded_size = min_encoded_size_v<A> + min_encoded_size_v<B>;
  /// Writes `first`, then `second`.
  static void encode(writer& w, const std::pair<A, B>& p) {
    parmill::encode(w, p.first);
    parmill::encode(w, p.second);
  }
  /// Reads `first`, then `second`.
  static std::pair<A, B> decode(reader& r) {
    A a = parmill::decode<A>(r);
    B b = parmill::decode<B>(r);
    return {std::move(a), std::move(b)};
  }
};

/// A tuple of crossable types crosses as its elements in order.
template <class... T>
struct codec<std::tuple<T...>, std::enable_if_t<(crossable_v<T> && ...)>> {
  /// The sum of its elements' fewest bytes (0 for `std::tuple<>`).
  static constexpr std::size_t min_encoded_size = (std::size_t{0} + ... + min_encoded_size_v<T>);
  /// Writes the elements in order.
  static void encode(writer& w, const std::tuple<T...>& t) {
    std::apply([&](const auto&... x) { (parmill::encode(w, x), ...); }, t);
  }
  /// Reads the elements in order.
  static std::tuple<T...> decode([[maybe_unused]] reader& r) {
    return std::tuple<T...>{parmill::decode<T>(r)...};
  } // braces: in order
};

/// An optional of a crossable type crosses as a flag byte (0 or 1) and, when set, its value.
template <class T>
struct codec<std::optional<T>, std::enable_if_t<crossable_v<T>>> {
  /// The flag: one byte.
  static constexpr std::size_t min_encoded_size = 1;
  /// Writes the flag, then the value when there is one.
  static void encode(writer& w, const std::optional<T>& o) {
    parmill::encode(w, o.has_value());
    if (o) parmill::encode(w, *o);
  }
  /// Reads the flag (0 or 1, else `codec_error`), then the value when it is 1.
  static std::optional<T> decode(reader& r) {
    if (!parmill::decode<bool>(r)) return std::nullopt;
    return parmill::decode<T>(r);
  }
};

namespace detail {
template <class Map>
struct map_codec {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  static constexpr std::size_t min_encoded_size = sizeof(std::uint64_t);
  static void encode(writer& w, const Map& m) {
    detail::encode_size(w, m.size());
    for (const auto& [k, v] : m) {
      parmill::encode(w, k);
      parmill::encode(w, v);
    }
  }
  static Map decode(reader& r) {
    const std::size_t n = detail::decode_size<min_encoded_size_v<K> + min_encoded_size_v<V>>(r);
    Map m;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = r.offset();
      K k = parmill::decode<K>(r);
      if (!m.emplace(std::move(k), parmill::decode<V>(r)).second)
        r.fail(at, "a map's key appears twice (corrupt)");
    }
    return m;
  }
};
} // namespace detail

/// A map of crossable keys and values crosses as its size (uint64) and its pairs; decoding
/// throws `codec_error` when a key appears twice.
template <class K, class V, class C, class A>
struct codec<std::map<K, V, C, A>, std::enable_if_t<crossable_v<K> && crossable_v<V>>>
    : detail::map_codec<std::map<K, V, C, A>> {};

/// An unordered map crosses as `std::map` does (its pairs in its own iteration order).
template <class K, class V, class H, class E, class A>
struct codec<std::unordered_map<K, V, H, E, A>, std::enable_if_t<crossable_v<K> && crossable_v<V>>>
    : detail::map_codec<std::unordered_map<K, V, H, E, A>> {};

namespace detail {
/// The smallest encoded size of a user type: the sum of its fields'.
template <class T>
constexpr std::size_t fields_min_encoded_size() {
  return std::apply(
      [](auto... field) {
        return (std::size_t{0} + ... +
                min_encoded_size_v<std::remove_cvref_t<decltype(std::declval<T&>().*field)>>);
      },
      T::parmill_fields);
}
} // namespace detail

/// User types with `static constexpr auto parmill_fields = std::tuple{&T::a, ...}` (and a default
/// constructor): their fields are encoded in that order.
template <class T>
struct codec<T, std::enable_if_t<detail::has_parmill_fields<T>>> {
  /// The sum of its fields' fewest bytes.
  static constexpr std::size_t min_encoded_size = detail::fields_min_encoded_size<T>();
  /// Writes the fields in the order `parmill_fields` lists them.
  static void encode(writer& w, const T& v) {
    std::apply([&](auto... field) { (parmill::encode(w, v.*field), ...); }, T::parmill_fields);
  }
  /// Default-constructs a `T` and reads its fields in that order.
  static T decode([[maybe_unused]] reader& r) {
    T v{};
    std::apply(
        [&](auto... field) {
          ((v.*field = parmill::decode<std::remove_cvref_t<decltype(v.*field)>>(r)), ...);
        },
        T::parmill_fields);
    return v;
  }
};

/// Durations cross as their count.
template <class Rep, class Period>
struct codec<std::chrono::duration<Rep, Period>, std::enable_if_t<std::is_arithmetic_v<Rep>>> {
  /// Its count's size.
  static constexpr std::size_t min_encoded_size = min_encoded_size_v<Rep>;
  /// Writes `d.count()`.
  static void encode(writer& w, const std::chrono::duration<Rep, Period>& d) {
    parmill::encode(w, d.count());
  }
  /// Reads the count.
  static std::chrono::duration<Rep, Period> decode(reader& r) {
    return std::chrono::duration<Rep, Period>(parmill::decode<Rep>(r));
  }
};

/// Time points cross as their time since the clock's epoch (meaningful across machines for
/// `system_clock` only).
template <class Clock, class Duration>
struct codec<std::chrono::time_point<Clock, Duration>, std::enable_if_t<crossable_v<Duration>>> {
  /// Its duration's fewest bytes.
  static constexpr std::size_t min_encoded_size = min_encoded_size_v<Duration>;
  /// Writes the time since the clock's epoch.
  static void encode(writer& w, const std::chrono::time_point<Clock, Duration>& t) {
    parmill::encode(w, t.time_since_epoch());
  }
  /// Reads the time since the clock's epoch.
  static std::chrono::time_point<Clock, Duration> decode(reader& r) {
    return std::chrono::time_point<Clock, Duration>(parmill::decode<Duration>(r));
  }
};

/// `std::monostate` stands for the result of a worker that returns nothing. It encodes to no
/// bytes (so a container of them is capped at `reader::max_empty_elements`).
template <>
struct codec<std::monostate> {
  /// Zero: it writes nothing.
  static constexpr std::size_t min_encoded_size = 0;
  /// Writes nothing.
  static void encode(writer&, const std::monostate&) {}
  /// Reads nothing.
  static std::monostate decode(reader&) { return {}; }
};

} // namespace parmill
