// src/timeline_page.hpp (private to libparmill): the fixed style sheet and script of the timeline
// page (timeline_page.cpp), which timeline_html.cpp writes around the run's data.
#pragma once

#include <string_view>

namespace parmill::timeline_page {

/// The page's CSS: no @import, no url(), no web font.
extern const std::string_view style;
/// The page's JavaScript: reads #timeline-data, draws the canvas, tooltips, zoom and pan.
extern const std::string_view script;

} // namespace parmill::timeline_page
