// 1,000,000 empty tasks posted and waited for: parmill::thread_pool against oneTBB's task_group.
//
// "2 workers" is each library's own notion: thread_pool(2) runs two threads (the thread calling
// wait() helps too); a tbb::task_arena of concurrency 2 is one TBB worker plus the calling thread.
// thread_pool(1) is included so the thread counts can be compared like for like as well.
#include <parmill/thread_pool.hpp>

#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

namespace {

constexpr int tasks = 1'000'000;

void parmill_post_wait(benchmark::State& state) {
  parmill::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    for (int i = 0; i < tasks; ++i)
      pool.post([] {});
    pool.wait();
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

void tbb_task_group_run_wait(benchmark::State& state) {
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    arena.execute([] {
      tbb::task_group group;
      for (int i = 0; i < tasks; ++i)
        group.run([] {});
      group.wait();
    });
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

} // namespace

BENCHMARK(parmill_post_wait)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tbb_task_group_run_wait)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
