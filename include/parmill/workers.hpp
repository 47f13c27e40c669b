// parmill/workers.hpp: workers with state of their own, built once inside each worker.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "parmill/worker_context.hpp"

namespace parmill {

/// A worker whose state is built by `factory(context)` once per worker, inside that worker (its
/// thread, process or rank), the first time it is handed an item; the object then handles every
/// item that worker gets (`object(item)`) and lives until the run ends. Use the context's `index`
/// to give each worker different parameters (one GPU each, say).
template <class Factory>
struct per_worker_factory {
  Factory factory; ///< called as `factory(const worker_context&)`; returns the worker's object
};

/// Wraps `factory` so that a map or pipeline builds one object per worker with it.
template <class Factory>
requires std::is_invocable_v<Factory&, const worker_context&>
[[nodiscard]] per_worker_factory<std::decay_t<Factory>> per_worker(Factory&& factory) {
  return {std::forward<Factory>(factory)};
}

/// A worker of type `T` built as `T(context, args...)` once per worker, inside that worker; the
/// arguments are copied into each worker's construction.
template <class T, class... Args>
requires std::is_constructible_v<T, const worker_context&, const Args&...>
[[nodiscard]] auto per_worker(Args&&... args) {
  return per_worker([bound = std::make_tuple(std::forward<Args>(args)...)](const worker_context& context) {
    return std::apply([&context](const auto&... a) { return T(context, a...); }, bound);
  });
}

/// True for what `per_worker` returns.
template <class W>
inline constexpr bool is_per_worker_v = false;
/// True: `per_worker_factory<F>` is what `per_worker` returns.
template <class F>
inline constexpr bool is_per_worker_v<per_worker_factory<F>> = true;

} // namespace parmill
