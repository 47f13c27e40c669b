// parmill/outcome.hpp: the result of one item, a value or an error that names the item.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "parmill/export.hpp"

namespace parmill {

/// How an item failed.
enum class failure_kind {
  exception, ///< the worker threw; the message is the exception's what()
  crashed,   ///< the process or rank that held the item died (signal or exit status in the message)
  timed_out, ///< the item ran past its time limit and its worker was stopped
  cancelled, ///< the run stopped before the item finished (early exit, error policy, Ctrl-C)
};

/// The name of a failure kind as used in messages: "exception", "crashed", ...
[[nodiscard]] constexpr std::string_view to_string(failure_kind kind) noexcept {
  switch (kind) {
  case failure_kind::exception: return "exception";
  case failure_kind::crashed: return "crashed";
  case failure_kind::timed_out: return "timed_out";
  case failure_kind::cancelled: return "cancelled";
  }
  return "unknown";
}

/// Why one item failed: which item, on which worker, what kind of failure, and the message.
/// `exception` holds the original exception only when it was thrown in this process (inline and
/// thread backends); across a process or rank boundary only its type and message survive.
struct item_error {
  std::size_t index = 0;                       ///< the item's position in the input, counting from 0
  std::size_t worker = 0;                      ///< the index of the worker that held the item
  failure_kind kind = failure_kind::exception; ///< what happened
  std::string message;                         ///< the exception's what(), or a description of the crash
  std::exception_ptr exception;                ///< the original exception, when it is in this process
  std::string stage{};                         ///< in a pipeline, the name of the stage that failed

  /// One line for people: "item 12 on worker 3: exception: bad header", and in a pipeline
  /// "item 12 in stage 'decode' on worker 3: exception: bad header".
  [[nodiscard]] std::string describe() const {
    std::string text = "item ";
    text.append(std::to_string(index));
    if (!stage.empty()) text.append(" in stage '").append(stage).append("'");
    text.append(" on worker ").append(std::to_string(worker)).append(": ");
    text.append(to_string(kind)).append(": ").append(message);
    return text;
  }
};

/// An exception thrown by a worker in another process (or rank): only its type's name and its
/// message cross the boundary, so this stands for it in `item_error::exception`.
class PARMILL_API remote_error : public std::runtime_error {
public:
  /// `type` is the exception's type name (demangled), `message` its what().
  remote_error(std::string type, const std::string& message)
      : std::runtime_error(message), type_(std::move(type)) {}
  /// The name of the original exception's type, e.g. "std::invalid_argument".
  [[nodiscard]] const std::string& type() const noexcept { return type_; }

private:
  std::string type_;
};

/// Thrown by `outcome::value()` and by a map whose error policy is `raise`. `error()` says which
/// item failed and how; when the original exception is in this process it is nested in this one
/// (get it with `std::rethrow_if_nested`).
class PARMILL_API item_failed : public std::runtime_error {
public:
  /// Builds the exception; what() is `error.describe()`.
  explicit item_failed(item_error error) : std::runtime_error(error.describe()), error_(std::move(error)) {}
  /// The failure this exception reports.
  [[nodiscard]] const item_error& error() const noexcept { return error_; }

private:
  item_error error_;
};

/// Throws `item_failed` for `error`, with the original exception nested when there is one.
[[noreturn]] inline void throw_item_failed(const item_error& error) {
  if (error.exception) {
    try {
      std::rethrow_exception(error.exception);
    } catch (...) {
      std::throw_with_nested(item_failed(error));
    }
  }
  throw item_failed(error);
}

namespace detail {

/// An `item_error` kept on the heap, so that an outcome is hardly bigger than its value (failures
/// are rare; values are not). Copies are deep. An empty box (default-constructed) stands for an
/// outcome whose value was lost because moving or copying it threw.
class boxed_error {
public:
  boxed_error() noexcept = default;
  explicit boxed_error(item_error e) : error_(std::make_unique<item_error>(std::move(e))) {}
  boxed_error(const boxed_error& other)
      : error_(other.error_ ? std::make_unique<item_error>(*other.error_) : nullptr) {}
  boxed_error(boxed_error&&) noexcept = default;
  boxed_error& operator=(const boxed_error& other) {
    if (this != &other) *this = boxed_error(other);
    return *this;
  }
  boxed_error& operator=(boxed_error&&) noexcept = default;
  ~boxed_error() = default;
  [[nodiscard]] const item_error& get() const noexcept { return error_ ? *error_ : lost(); }

private:
  static const item_error& lost() noexcept {
    static const item_error error{.index = 0,
                                  .worker = 0,
                                  .kind = failure_kind::exception,
                                  .message = "the value was lost: copying or moving it threw",
                                  .exception = nullptr};
    return error;
  }
  std::unique_ptr<item_error> error_;
};

} // namespace detail

/// The outcome of one item: its index in the input and either a value or an `item_error`.
/// Access to the value of a failed outcome throws `item_failed`; it is never undefined. An outcome
/// is one word bigger than its value (at least a word): the error, when there is one, lives on the
/// heap, and whether it failed is kept in the index's top bit. If copying or moving a value into
/// an outcome throws, the exception propagates and the outcome is left failed ("the value was
/// lost"), never half-built.
template <class T>
class outcome {
public:
  using value_type = T; ///< the type of a successful result

  /// A successful outcome for the item at `index`.
  outcome(std::size_t index, T value) : index_(index) {
    ::new (static_cast<void*>(&value_)) T(std::move(value));
  }
  /// A failed outcome; its index is the error's.
  explicit outcome(item_error error) : index_(error.index | failed_bit) {
    ::new (static_cast<void*>(&error_)) detail::boxed_error(std::move(error));
  }
  /// A copy of `other`.
  outcome(const outcome& other) : index_(other.index_) { build_from(other); }
  /// Takes `other`'s value or error; `other` keeps a moved-from value.
  outcome(outcome&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : index_(other.index_) {
    build_from(std::move(other));
  }
  /// Becomes a copy of `other`.
  outcome& operator=(const outcome& other) {
    if (this != &other) assign_from(other);
    return *this;
  }
  /// Takes `other`'s value or error.
  outcome& operator=(outcome&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) assign_from(std::move(other));
    return *this;
  }
  ~outcome() { destroy(); }

  /// True when the item produced a value.
  [[nodiscard]] bool has_value() const noexcept { return (index_ & failed_bit) == 0; }
  /// Same as `has_value()`.
  explicit operator bool() const noexcept { return has_value(); }
  /// The item's position in the input, counting from 0.
  [[nodiscard]] std::size_t index() const noexcept { return index_ & ~failed_bit; }

  /// The value; throws `item_failed` when the item failed.
  [[nodiscard]] T& value() & { return check(), value_; }
  /// The value; throws `item_failed` when the item failed.
  [[nodiscard]] const T& value() const& { return check(), value_; }
  /// The value, moved out; throws `item_failed` when the item failed.
  [[nodiscard]] T&& value() && { return check(), std::move(value_); }

  /// The value; throws `item_failed` when the item failed (checked, unlike std::optional).
  [[nodiscard]] T& operator*() & { return value(); }
  /// The value; throws `item_failed` when the item failed.
  [[nodiscard]] const T& operator*() const& { return value(); }
  /// The value, moved out; throws `item_failed` when the item failed.
  [[nodiscard]] T&& operator*() && { return std::move(*this).value(); }
  /// Member access to the value; throws `item_failed` when the item failed.
  [[nodiscard]] T* operator->() { return &value(); }
  /// Member access to the value; throws `item_failed` when the item failed.
  [[nodiscard]] const T* operator->() const { return &value(); }

  /// The error; throws std::logic_error when the item succeeded.
  [[nodiscard]] const item_error& error() const {
    if (has_value()) throw std::logic_error("parmill::outcome::error(): the item succeeded");
    return error_.get();
  }

private:
  static constexpr std::size_t failed_bit = ~(~std::size_t{0} >> 1); // the index's top bit

  void check() const {
    if (!has_value()) throw_item_failed(error_.get());
  }

  /// Builds this outcome's value or error from `other`'s (index_ is already `other.index_`).
  template <class Other>
  void build_from(Other&& other) {
    if (!other.has_value()) {
      try {
        ::new (static_cast<void*>(&error_)) detail::boxed_error(std::forward<Other>(other).error_);
      } catch (...) { // out of memory copying the error
        ::new (static_cast<void*>(&error_)) detail::boxed_error();
        throw;
      }
      return;
    }
    try {
      ::new (static_cast<void*>(&value_)) T(std::forward<Other>(other).value_);
    } catch (...) {
      index_ |= failed_bit;
      ::new (static_cast<void*>(&error_)) detail::boxed_error(); // "the value was lost"
      throw;
    }
  }

  /// Replaces this outcome with `other`'s value or error (rebuilt, not assigned in place).
  template <class Other>
  void assign_from(Other&& other) {
    destroy();
    index_ = other.index_;
    build_from(std::forward<Other>(other));
  }

  void destroy() noexcept {
    if (has_value()) {
      value_.~T();
    } else {
      error_.~boxed_error();
    }
  }

  std::size_t index_; // the item's index; its top bit is set when the item failed
  union {
    T value_;
    detail::boxed_error error_;
  };
};

} // namespace parmill
