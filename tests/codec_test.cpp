// The codec: round trips of every supported type, user types, and corrupt input.
#include <parmill/codec.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
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
