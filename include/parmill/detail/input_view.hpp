// parmill/detail/input_view.hpp: how map and pipeline take their input range.
#pragma once

#include <ranges>
#include <type_traits>
#include <utility>

namespace parmill::detail {

/// The ranges map and pipeline read: every input range that `std::views::all` accepts (a view, an
/// lvalue range, a movable rvalue range), and also an lvalue of a move-only view (a generator held
/// in a variable), which `std::views::all` refuses since it cannot copy it.
template <class R>
concept readable_input = std::ranges::input_range<R> &&
    (std::ranges::viewable_range<R> ||
     (std::is_lvalue_reference_v<R> && std::is_object_v<std::remove_reference_t<R>>));

/// `inputs` as a view: `std::views::all(inputs)` when it accepts them, else a `ref_view` of the
/// lvalue (which must outlive the view).
template <readable_input R>
auto as_input_view(R&& inputs) {
  if constexpr (std::ranges::viewable_range<R>) {
    return std::views::all(std::forward<R>(inputs));
  } else {
    return std::ranges::ref_view(inputs);
  }
}

/// The view `as_input_view` makes of an `R`.
template <readable_input R>
using input_view_t = decltype(as_input_view(std::declval<R>()));

} // namespace parmill::detail
