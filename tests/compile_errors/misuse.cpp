// Misuses of the library that must not compile, each with a message that says what is wrong.
// CTest compiles this file once per case (-DCASE_<NAME>) and expects the compiler's output to
// contain the case's message (tests/CMakeLists.txt); with -DVALID it compiles every case's
// correct counterpart, so that a case cannot pass by failing for an unrelated reason.
// Each case includes only what it needs, to keep the compiles short.
#include <parmill/codec.hpp>
#if defined(VALID) || defined(CASE_ITEMS_CANNOT_CROSS) || defined(CASE_RESULT_CANNOT_CROSS) ||               \
    defined(CASE_INPUT_IS_NOT_A_RANGE)
#include <parmill/map.hpp>
#endif
#if defined(VALID) || defined(CASE_STAGE_DOES_NOT_ACCEPT) || defined(CASE_UNBATCH_NEEDS_RANGES) ||           \
    defined(CASE_FAN_OUT_NEEDS_COPYABLE_ITEMS)
#include <parmill/pipeline.hpp>
#endif

#include <memory>
#include <string>
#include <vector>

namespace {

struct opaque { // no parmill_fields, no codec: cannot cross a process boundary
  int x = 0;
};

struct plain_point { // crosses: it names its fields
  int x = 0;
  static constexpr auto parmill_fields = std::tuple{&plain_point::x};
};

} // namespace

int main() {
  std::vector<int> ints{1, 2, 3};
#if defined(VALID) || defined(CASE_ITEMS_CANNOT_CROSS)
#ifdef VALID
  std::vector<plain_point> items(3);
#else
  std::vector<opaque> items(3);
#endif
  for (auto& r : parmill::map(parmill::processes(2), items, [](auto& p) { return p.x; }))
    (void)r;
#endif
#if defined(VALID) || defined(CASE_RESULT_CANNOT_CROSS)
  for (auto& r : parmill::map(parmill::processes(2), ints, [](int x) {
#ifdef VALID
         return plain_point{x};
#else
         return opaque{x};
#endif
       }))
    (void)r;
#endif
#if defined(VALID) || defined(CASE_ENCODE_CANNOT_CROSS)
  parmill::writer w;
#ifdef VALID
  parmill::encode(w, plain_point{});
#else
  parmill::encode(w, opaque{});
#endif
#endif
#if defined(VALID) || defined(CASE_INPUT_IS_NOT_A_RANGE)
#ifdef VALID
  for (auto& r : parmill::map(parmill::threads(2), ints, [](int x) { return x; }))
#else
  for (auto& r : parmill::map(parmill::threads(2), 42, [](int x) { return x; }))
#endif
    (void)r;
#endif
#if defined(VALID) || defined(CASE_STAGE_DOES_NOT_ACCEPT)
  auto typed = parmill::pipeline_builder()
                   .source(ints)
#ifdef VALID
                   .pipe([](int& x) { return std::to_string(x); })
#else
                   .pipe([](std::vector<int>& v) { return v.size(); })
#endif
                   .build(parmill::threads(2));
  (void)typed;
#endif
#if defined(VALID) || defined(CASE_UNBATCH_NEEDS_RANGES)
  auto unbatched = parmill::pipeline_builder()
                       .source(ints)
#ifdef VALID
                       .batch(2)
#endif
                       .unbatch()
                       .build(parmill::threads(2));
  (void)unbatched;
#endif
#if defined(VALID) || defined(CASE_FAN_OUT_NEEDS_COPYABLE_ITEMS)
#ifdef VALID
  std::vector<int> sources{1, 2};
  auto make = [](int& x) { return x; };
#else
  std::vector<std::unique_ptr<int>> sources;
  auto make = [](std::unique_ptr<int>& p) { return *p; };
#endif
  auto fanned = parmill::pipeline_builder()
                    .source(std::move(sources))
                    .fan_out(parmill::branch(make), parmill::branch(make))
                    .build(parmill::threads(2));
  (void)fanned;
#endif
  return 0;
}
