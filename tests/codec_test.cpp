// The codec: round trips of every supported type, user types, and corrupt input.
#include <parmill/codec.hpp>
#include <parmill/outcome.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

struct point {
  double x = 0;
  std::string label;
  static constexpr auto parmill_fields = std::tuple{&point::x, &point::label};
  bool operator==(const point&) const = default;
};

struct opaque {
  int* p;
};

enum class colour : std::uint8_t { red, green };

template <class T>
T round_trip(const T& value) {
  parmill::writer w;
  parmill::encode(w, value);
  std::string bytes;
  for (const iovec& piece : w.pieces())
    bytes.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  EXPECT_EQ(bytes.size(), w.size());
  parmill::reader r(bytes.data(), bytes.size());
  T back = parmill::decode<T>(r);
  EXPECT_EQ(r.remaining(), 0U);
  return back;
}

} // namespace

static_assert(parmill::crossable_v<int>);
static_assert(parmill::crossable_v<colour>);
static_assert(parmill::crossable_v<std::map<std::string, std::vector<std::optional<std::pair<int, point>>>>>);
static_assert(!parmill::crossable_v<opaque>);
static_assert(!parmill::crossable_v<std::vector<opaque>>);
static_assert(!parmill::crossable_v<std::optional<int*>>);

TEST(Codec, RoundTripsEverySupportedType) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(-2.5), -2.5);
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(colour::green), colour::green);
  EXPECT_EQ(round_trip(std::string("h\0llo", 5)), std::string("h\0llo", 5));
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<bool>{true, false}), (std::vector<bool>{true, false}));
  EXPECT_EQ(round_trip(std::vector<std::string>{"a", "", "c"}), (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(round_trip(std::array<short, 3>{1, 2, 3}), (std::array<short, 3>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::pair<int, std::string>{1, "x"}), (std::pair<int, std::string>{1, "x"}));
  EXPECT_EQ(round_trip(std::tuple<int, std::string, double>{1, "t", 0.5}),
            (std::tuple<int, std::string, double>{1, "t", 0.5}));
  EXPECT_EQ(round_trip(std::optional<int>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<std::string>{"o"}), std::optional<std::string>{"o"});
  const std::map<std::string, std::vector<point>> m{{"k", {point{1.5, "p"}, point{}}}};
  EXPECT_EQ(round_trip(m), m);
  const std::unordered_map<int, std::string> u{{1, "one"}, {2, "two"}};
  EXPECT_EQ(round_trip(u), u);
}

TEST(Codec, LargePiecesAreReferredToNotCopied) {
  const std::string big(1 << 20, 'b');
  parmill::writer w;
  parmill::encode(w, std::string("small"));
  parmill::encode(w, big);
  bool refers = false;
  for (const iovec& piece : w.pieces())
    refers = refers || piece.iov_base == big.data();
  EXPECT_TRUE(refers) << "the big string is written from where it is";
  EXPECT_EQ(round_trip(big), big);
}

TEST(Codec, TruncatedInputThrowsInsteadOfReadingPastTheEnd) {
  parmill::writer w;
  parmill::encode(w, std::vector<std::string>{"abc", "def"});
  std::string bytes;
  for (const iovec& piece : w.pieces())
    bytes.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    parmill::reader r(bytes.data(), cut);
    EXPECT_THROW((void)parmill::decode<std::vector<std::string>>(r), parmill::codec_error) << cut;
  }
}

namespace {
/// A stream over memory that records where each read went.
struct recording_stream {
  const char* data;
  std::size_t position = 0;
  std::vector<std::pair<void*, std::size_t>> reads;
  static void fill(void* context, void* out, std::size_t size) {
    auto* self = static_cast<recording_stream*>(context);
    std::memcpy(out, self->data + self->position, size);
    self->position += size;
    self->reads.emplace_back(out, size);
  }
};
} // namespace

TEST(Codec, AStreamReaderReadsLargeValuesStraightIntoTheirStorage) {
  const std::string big(1 << 20, 'q');
  parmill::writer w;
  parmill::encode(w, 7);
  parmill::encode(w, big);
  parmill::encode(w, std::string("tail"));
  std::string bytes;
  for (const iovec& piece : w.pieces())
    bytes.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  recording_stream stream{bytes.data(), 0, {}};
  std::vector<std::byte> buffer;
  parmill::reader r(bytes.size(), &recording_stream::fill, &stream, buffer);
  EXPECT_EQ(parmill::decode<int>(r), 7);
  const auto back = parmill::decode<std::string>(r);
  EXPECT_EQ(parmill::decode<std::string>(r), "tail");
  EXPECT_EQ(r.remaining(), 0U);
  EXPECT_EQ(back, big);
  // At most one buffer-full (read ahead for the small values before it) goes through the buffer;
  // the rest of the string is read straight into its own storage.
  std::size_t straight = 0;
  for (const auto& [out, size] : stream.reads) {
    const auto* p = static_cast<const char*>(out);
    if (p >= back.data() && p < back.data() + back.size()) straight += size;
  }
  EXPECT_GE(straight, big.size() - parmill::reader::large_piece);
  EXPECT_THROW((void)parmill::decode<int>(r), parmill::codec_error);
}

// --- hostile bytes: every length is bounded by the bytes that remain, bools and enums are checked

namespace {

std::string bytes_of(const parmill::writer& w_in) {
  auto& w = const_cast<parmill::writer&>(w_in);
  std::string bytes;
  for (const iovec& piece : w.pieces())
    bytes.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  return bytes;
}

template <class... T>
std::string encoded(const T&... values) {
  parmill::writer w;
  (parmill::encode(w, values), ...);
  return bytes_of(w);
}

template <class T>
T decode_all(const std::string& bytes) {
  parmill::reader r(bytes.data(), bytes.size());
  return parmill::decode<T>(r);
}

} // namespace

TEST(CodecHostile, EightBytesClaimingTwoToTheFortyZeroSizeElementsAreRejected) {
  const std::string bytes = encoded(std::uint64_t{1} << 40);
  EXPECT_THROW((void)decode_all<std::vector<std::monostate>>(bytes), parmill::codec_error);
  EXPECT_THROW((void)decode_all<std::vector<std::tuple<>>>(bytes), parmill::codec_error);
  EXPECT_THROW((void)(decode_all<std::map<std::monostate, std::monostate>>(bytes)), parmill::codec_error);
}

TEST(CodecHostile, BoolFromAByteOtherThanZeroOrOneIsAnError) {
  EXPECT_THROW((void)decode_all<bool>(std::string(1, '\x02')), parmill::codec_error);
  EXPECT_THROW((void)decode_all<bool>(std::string(1, '\xff')), parmill::codec_error);
  EXPECT_THROW((void)decode_all<std::vector<bool>>(encoded(std::uint64_t{2}) + std::string("\x01\x02", 2)),
               parmill::codec_error);
  EXPECT_THROW((void)decode_all<std::optional<int>>(std::string("\x02\0\0\0\0", 5)), parmill::codec_error);
  EXPECT_FALSE(decode_all<bool>(std::string(1, '\0')));
  EXPECT_TRUE(decode_all<bool>(std::string(1, '\x01')));
}

namespace {
/// A user type with its own codec that counts how many values it decoded.
struct counted {
  std::uint32_t value = 0;
  static inline int decoded = 0;
};
} // namespace

template <>
struct parmill::codec<counted> {
  static constexpr std::size_t min_encoded_size = sizeof(std::uint32_t);
  static void encode(writer& w, const counted& c) { w.raw(c.value); }
  static counted decode(reader& r) {
    ++counted::decoded;
    return counted{r.raw<std::uint32_t>()};
  }
};

TEST(CodecHostile, ALengthLargerThanTheBytesThatRemainIsRejectedBeforeAnyElementIsDecoded) {
  const std::string tail = encoded(std::uint32_t{1}, std::uint32_t{2}); // two elements' worth of bytes
  counted::decoded = 0;
  try {
    (void)decode_all<std::vector<counted>>(encoded(std::uint64_t{3}) + tail);
    FAIL() << "three elements decoded from two elements' bytes";
  } catch (const parmill::codec_error& e) {
    EXPECT_NE(std::string(e.what()).find("length"), std::string::npos) << e.what();
  }
  EXPECT_EQ(counted::decoded, 0) << "no element is decoded when the length cannot fit";
  for (const std::uint64_t n : {std::uint64_t{9}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    SCOPED_TRACE(n);
    EXPECT_THROW((void)decode_all<std::string>(encoded(n) + "12345678"), parmill::codec_error);
    EXPECT_THROW((void)decode_all<std::vector<std::string>>(encoded(n) + "12345678"), parmill::codec_error);
    EXPECT_THROW((void)decode_all<std::vector<std::int64_t>>(encoded(n) + "12345678"), parmill::codec_error);
    EXPECT_THROW((void)(decode_all<std::map<std::string, int>>(encoded(n) + "12345678")),
                 parmill::codec_error);
  }
}

TEST(CodecHostile, NestedContainersAreBoundedByTheWholeMessage) {
  // Eight outer elements, each an inner vector claiming 2^20 zero-size elements: 2^23 in all from
  // 72 bytes.
  std::string bytes = encoded(std::uint64_t{8});
  for (int i = 0; i < 8; ++i)
    bytes += encoded(std::uint64_t{1} << 20);
  EXPECT_THROW((void)decode_all<std::vector<std::vector<std::monostate>>>(bytes), parmill::codec_error);
  // An inner length that exceeds what remains after the outer one.
  const std::string inner = encoded(std::uint64_t{2}, std::uint64_t{1}, std::string("x"), std::uint64_t{50});
  EXPECT_THROW((void)decode_all<std::vector<std::string>>(inner), parmill::codec_error);
  // A map whose key appears twice is damaged (an encoded map has each key once).
  const std::string twice = encoded(std::uint64_t{2}, 1, std::string("a"), 1, std::string("b"));
  EXPECT_THROW((void)(decode_all<std::map<int, std::string>>(twice)), parmill::codec_error);
}

TEST(CodecHostile, FailureKindOutsideItsRangeIsAnError) {
  EXPECT_EQ(decode_all<parmill::failure_kind>(encoded(3)), parmill::failure_kind::cancelled);
  EXPECT_THROW((void)decode_all<parmill::failure_kind>(encoded(4)), parmill::codec_error);
  EXPECT_THROW((void)decode_all<parmill::failure_kind>(encoded(-1)), parmill::codec_error);
}

TEST(CodecHostile, EveryCutAndEveryByteChangedGivesAValueOrACodecErrorOnly) {
  using nested = std::map<std::string, std::vector<std::optional<std::pair<bool, point>>>>;
  const nested value{{"k", {std::nullopt, std::pair{true, point{1.5, "p"}}}}, {"", {}}};
  const std::string whole = encoded(value);
  for (std::size_t cut = 0; cut < whole.size(); ++cut)
    EXPECT_THROW((void)decode_all<nested>(whole.substr(0, cut)), parmill::codec_error) << cut;
  for (std::size_t at = 0; at < whole.size(); ++at)
    for (const unsigned char b : {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff}) {
      std::string changed = whole;
      changed[at] = static_cast<char>(b);
      try {
        (void)decode_all<nested>(changed);
      } catch (const parmill::codec_error&) {
      }
    }
}

namespace {
enum plain_enum { plain_a, plain_b };                      // no fixed underlying type
enum ranged_enum { ranged_a, ranged_b, ranged_c };         // no fixed type, but a declared range
enum class open_enum : std::int16_t { low = 1, high = 2 }; // fixed type, no range
} // namespace

template <>
struct parmill::enum_range<ranged_enum> {
  static constexpr ranged_enum first = ranged_a;
  static constexpr ranged_enum last = ranged_c;
};

static_assert(!parmill::crossable_v<plain_enum>, "a decoded value outside its range would be UB");
static_assert(parmill::crossable_v<ranged_enum>);
static_assert(parmill::crossable_v<open_enum>);
static_assert(parmill::min_encoded_size_v<std::monostate> == 0);
static_assert(parmill::min_encoded_size_v<std::tuple<int, std::monostate, bool>> == sizeof(int) + 1);
static_assert(parmill::min_encoded_size_v<point> == sizeof(double) + sizeof(std::uint64_t));

TEST(CodecHostile, EnumsWithADeclaredRangeRejectOtherValuesAndOthersKeepTheirUnderlyingValue) {
  EXPECT_EQ(round_trip(ranged_c), ranged_c);
  EXPECT_THROW((void)decode_all<ranged_enum>(encoded(static_cast<std::underlying_type_t<ranged_enum>>(3))),
               parmill::codec_error);
  EXPECT_EQ(decode_all<open_enum>(encoded(std::int16_t{77})), static_cast<open_enum>(77))
      << "an enum with a fixed underlying type may hold any of its values";
}

TEST(CodecHostile, ZeroSizeElementsAreCappedPerMessage) {
  constexpr std::size_t cap = parmill::reader::max_empty_elements;
  EXPECT_EQ(decode_all<std::vector<std::monostate>>(encoded(std::uint64_t{cap})).size(), cap);
  EXPECT_THROW((void)decode_all<std::vector<std::monostate>>(encoded(std::uint64_t{cap + 1})),
               parmill::codec_error);
  const std::string halves = encoded(std::uint64_t{2}, std::uint64_t{cap / 2}, std::uint64_t{cap / 2 + 1});
  EXPECT_THROW((void)decode_all<std::vector<std::vector<std::monostate>>>(halves), parmill::codec_error);
  EXPECT_EQ(round_trip(std::vector<std::monostate>(3)).size(), 3U);
}

TEST(CodecHostile, AnErrorNamesTheOffsetWhereDecodingStopped) {
  try {
    (void)decode_all<std::tuple<int, bool>>(encoded(5, std::uint8_t{9}));
    FAIL() << "no error";
  } catch (const parmill::codec_error& e) {
    EXPECT_NE(std::string(e.what()).find("at byte 4 of a 5-byte message"), std::string::npos) << e.what();
  }
}
