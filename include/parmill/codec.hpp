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
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
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

  /// Reads from `size` bytes of memory at `data`.
  reader(const void* data, std::size_t size) noexcept
      : p_(static_cast<const std::byte*>(data)), avail_(size), left_(size) {}
  /// Reads a message of `size` bytes from a stream: `fill(context, ...)` supplies them, through
  /// `buffer` for small pieces and straight into the value for large ones.
  reader(std::size_t size, fill_function fill, void* context, std::vector<std::byte>& buffer) noexcept
      : left_(size), fill_(fill), context_(context), buffer_(&buffer) {}

  /// Copies the next `size` bytes to `out`.
  void bytes(void* out, std::size_t size) {
    if (size > left_) throw codec_error("parmill::codec: message ended early (truncated or corrupt)");
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

private:
  const std::byte* p_ = nullptr;
  std::size_t avail_ = 0; // buffered bytes at p_
  std::size_t left_ = 0;  // bytes of the message not yet handed out
  fill_function fill_ = nullptr;
  void* context_ = nullptr;
  std::vector<std::byte>* buffer_ = nullptr;
};

/// Encodes and decodes `T`. The primary template is for types the codec does not know; using it
/// is a compile-time error. Specialise it (with `static void encode(writer&, const T&)` and
/// `static T decode(reader&)`) or give the type `parmill_fields` to make a type crossable.
template <class T, class Enable = void>
struct codec {
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
                "parmill: this type cannot cross a process boundary. Use arithmetic types, enums, "
                "std::string, std::vector, std::array, std::pair, std::tuple, std::optional, std::map "
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

// --- the codecs -------------------------------------------------------------------------------

template <class T>
struct codec<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  static void encode(writer& w, const T& v) { w.raw(v); }
  static T decode(reader& r) { return r.raw<T>(); }
};

namespace detail {
inline void encode_size(writer& w, std::size_t n) { w.raw(static_cast<std::uint64_t>(n)); }
inline std::size_t decode_size(reader& r) {
  const auto n = r.raw<std::uint64_t>();
  if (n > r.remaining() && n > (std::uint64_t{1} << 40))
    throw codec_error("parmill::codec: a length field is corrupt");
  return static_cast<std::size_t>(n);
}
} // namespace detail

template <>
struct codec<std::string> {
  static void encode(writer& w, const std::string& s) {
    detail::encode_size(w, s.size());
    w.bytes(s.data(), s.size());
  }
  static std::string decode(reader& r) {
    const std::size_t n = detail::decode_size(r);
    if (n > r.remaining()) throw codec_error("parmill::codec: message ended early (truncated or corrupt)");
    std::string s;
    s.resize(n);
    r.bytes(s.data(), n);
    return s;
  }
};

template <class T, class A>
struct codec<std::vector<T, A>, std::enable_if_t<crossable_v<T>>> {
  static void encode(writer& w, const std::vector<T, A>& v) {
    detail::encode_size(w, v.size());
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      w.bytes(v.data(), v.size() * sizeof(T));
    } else {
      for (const auto& x : v)
        parmill::encode(w, static_cast<const T&>(x));
    }
  }
  static std::vector<T, A> decode(reader& r) {
    const std::size_t n = detail::decode_size(r);
    std::vector<T, A> v;
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if (n > r.remaining() / sizeof(T))
        throw codec_error("parmill::codec: message ended early (truncated or corrupt)");
      v.resize(n);
      r.bytes(v.data(), n * sizeof(T));
    } else {
      v.reserve(std::min<std::size_t>(n, r.remaining()));
      for (std::size_t i = 0; i < n; ++i)
        v.push_back(parmill::decode<T>(r));
    }
    return v;
  }
};

template <class T, std::size_t N>
struct codec<std::array<T, N>, std::enable_if_t<crossable_v<T>>> {
  static void encode(writer& w, const std::array<T, N>& a) {
    for (const auto& x : a)
      parmill::encode(w, x);
  }
  static std::array<T, N> decode(reader& r) {
    std::array<T, N> a{};
    for (auto& x : a)
      x = parmill::decode<T>(r);
    return a;
  }
};

template <class A, class B>
struct codec<std::pair<A, B>, std::enable_if_t<crossable_v<A> && crossable_v<B>>> {
  static void encode(writer& w, const std::pair<A, B>& p) {
    parmill::encode(w, p.first);
    parmill::encode(w, p.second);
  }
  static std::pair<A, B> decode(reader& r) {
    A a = parmill::decode<A>(r);
    B b = parmill::decode<B>(r);
    return {std::move(a), std::move(b)};
  }
};

template <class... T>
struct codec<std::tuple<T...>, std::enable_if_t<(crossable_v<T> && ...)>> {
  static void encode(writer& w, const std::tuple<T...>& t) {
    std::apply([&](const auto&... x) { (parmill::encode(w, x), ...); }, t);
  }
  static std::tuple<T...> decode(reader& r) {
    return std::tuple<T...>{parmill::decode<T>(r)...};
  } // braces: in order
};

template <class T>
struct codec<std::optional<T>, std::enable_if_t<crossable_v<T>>> {
  static void encode(writer& w, const std::optional<T>& o) {
    w.raw(static_cast<std::uint8_t>(o.has_value()));
    if (o) parmill::encode(w, *o);
  }
  static std::optional<T> decode(reader& r) {
    if (r.raw<std::uint8_t>() == 0) return std::nullopt;
    return parmill::decode<T>(r);
  }
};

namespace detail {
template <class Map>
struct map_codec {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  static void encode(writer& w, const Map& m) {
    detail::encode_size(w, m.size());
    for (const auto& [k, v] : m) {
      parmill::encode(w, k);
      parmill::encode(w, v);
    }
  }
  static Map decode(reader& r) {
    const std::size_t n = detail::decode_size(r);
    Map m;
    for (std::size_t i = 0; i < n; ++i) {
      K k = parmill::decode<K>(r);
      m.emplace(std::move(k), parmill::decode<V>(r));
    }
    return m;
  }
};
} // namespace detail

template <class K, class V, class C, class A>
struct codec<std::map<K, V, C, A>, std::enable_if_t<crossable_v<K> && crossable_v<V>>>
    : detail::map_codec<std::map<K, V, C, A>> {};

template <class K, class V, class H, class E, class A>
struct codec<std::unordered_map<K, V, H, E, A>, std::enable_if_t<crossable_v<K> && crossable_v<V>>>
    : detail::map_codec<std::unordered_map<K, V, H, E, A>> {};

/// User types with `static constexpr auto parmill_fields = std::tuple{&T::a, ...}` (and a default
/// constructor): their fields are encoded in that order.
template <class T>
struct codec<T, std::enable_if_t<detail::has_parmill_fields<T>>> {
  static void encode(writer& w, const T& v) {
    std::apply([&](auto... field) { (parmill::encode(w, v.*field), ...); }, T::parmill_fields);
  }
  static T decode(reader& r) {
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
  static void encode(writer& w, const std::chrono::duration<Rep, Period>& d) { w.raw(d.count()); }
  static std::chrono::duration<Rep, Period> decode(reader& r) {
    return std::chrono::duration<Rep, Period>(r.raw<Rep>());
  }
};

/// Time points cross as their time since the clock's epoch (meaningful across machines for
/// `system_clock` only).
template <class Clock, class Duration>
struct codec<std::chrono::time_point<Clock, Duration>, std::enable_if_t<crossable_v<Duration>>> {
  static void encode(writer& w, const std::chrono::time_point<Clock, Duration>& t) {
    parmill::encode(w, t.time_since_epoch());
  }
  static std::chrono::time_point<Clock, Duration> decode(reader& r) {
    return std::chrono::time_point<Clock, Duration>(parmill::decode<Duration>(r));
  }
};

/// `std::monostate` stands for the result of a worker that returns nothing.
template <>
struct codec<std::monostate> {
  static void encode(writer&, const std::monostate&) {}
  static std::monostate decode(reader&) { return {}; }
};

} // namespace parmill
