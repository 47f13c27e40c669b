// python/src/sigint_watch.hpp: Ctrl-C stops the maps the main thread is iterating.
#pragma once

namespace parmill::python {

/// While it exists, a SIGINT calls `stop(context)` (from the signal handler: it must be
/// async-signal-safe, as `map_range::stop` is) and then the handler that was installed before
/// (Python's, which makes the main thread raise KeyboardInterrupt). parmill's handler is installed
/// while at least one watch exists, and the previous one restored when the last goes (unless
/// someone replaced parmill's in between). At most 64 watches at once; more are not watched.
class sigint_watch {
public:
  sigint_watch(void (*stop)(void*), void* context) noexcept;
  /// Stops watching; when it returns, no handler is still using `context`.
  ~sigint_watch();
  sigint_watch(const sigint_watch&) = delete;
  sigint_watch& operator=(const sigint_watch&) = delete;

private:
  int slot_ = -1;
};

} // namespace parmill::python
