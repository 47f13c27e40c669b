// parmill/detail/task.hpp: a move-only `void()` callable that stores small callables in place.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace parmill::detail {

/// A move-only, type-erased `void()` callable. Callables of up to `inline_size` bytes that move
/// without throwing are stored in place, so posting a small lambda allocates nothing.
class task {
public:
  static constexpr std::size_t inline_size = 48; ///< bytes stored in place

  task() noexcept = default;

  template <class F, class D = std::decay_t<F>>
  requires(!std::is_same_v<D, task> && std::is_invocable_v<D&>)
      task(F&& f) { // NOLINT(google-explicit-constructor): a task is made from any callable
    if constexpr (fits_inline<D>) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }

  task(task&& other) noexcept : ops_(other.ops_) {
    if (ops_) {
      ops_->relocate(storage_, other.storage_);
      other.ops_ = nullptr;
    }
  }

  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = other.ops_;
      if (ops_) {
        ops_->relocate(storage_, other.storage_);
        other.ops_ = nullptr;
      }
    }
    return *this;
  }

  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  /// True when the task holds a callable.
  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Calls the callable; the task must hold one.
  void operator()() { ops_->invoke(storage_); }

  /// Destroys the callable, if any, without calling it.
  void reset() noexcept {
    if (ops_) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

private:
  struct operations {
    void (*invoke)(void*);
    void (*relocate)(void* to, void* from) noexcept; // move-construct into `to`, destroy `from`
    void (*destroy)(void*) noexcept;
  };

  template <class D>
  static constexpr bool
      fits_inline = sizeof(D) <= inline_size &&
                    alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static constexpr operations inline_ops{[](void* p) { (*std::launder(static_cast<D*>(p)))(); },
                                         [](void* to, void* from) noexcept {
                                           D* source = std::launder(static_cast<D*>(from));
                                           ::new (to) D(std::move(*source));
                                           source->~D();
                                         },
                                         [](void* p) noexcept { std::launder(static_cast<D*>(p))->~D(); }};

  template <class D>
  static constexpr operations heap_ops{
      [](void* p) { (**static_cast<D**>(p))(); },
      [](void* to, void* from) noexcept { *static_cast<D**>(to) = *static_cast<D**>(from); },
      [](void* p) noexcept { delete *static_cast<D**>(p); }};

  alignas(std::max_align_t) unsigned char storage_[inline_size];
  const operations* ops_ = nullptr;
};

} // namespace parmill::detail
