// cli/command_template.cpp: replacement strings, GNU parallel's quoting, and the no-shell test.
#include "command_template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <unistd.h>

#include "options.hpp"

namespace parmill::cli {
namespace {

bool is_plain(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '+' || c == '/';
}

/// Characters a shell reads as themselves in a command's literal text (besides whitespace).
bool is_inert(unsigned char c) {
  return is_plain(c) || c == ',' || c == ':' || c == '=' || c == '@' || c == '%' || c == '^';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

/// True when `name` is an executable file on PATH (or a path to one).
bool program_on_path(const std::string& name) {
  if (name.empty()) return false;
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    std::string candidate;
    candidate.reserve(dir.size() + name.size() + 2);
    if (dir.empty())
      candidate.push_back('.'); // an empty PATH entry is the current directory
    else
      candidate.append(dir);
    candidate.push_back('/');
    candidate.append(name);
    if (access(candidate.c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
}

} // namespace

std::string shell_quote(const std::string& value) {
  bool plain = !value.empty();
  for (unsigned char c : value)
    plain = plain && is_plain(c);
  if (plain) return value;
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'')
      quoted.append("'\"'\"'");
    else
      quoted.push_back(c);
  }
  quoted.push_back('\'');
  if (quoted.size() > 2) { // drop the empty '' a leading or trailing quote leaves
    if (quoted.rfind("''", 0) == 0) quoted.erase(0, 2);
    if (quoted.size() >= 2 && quoted.compare(quoted.size() - 2, 2, "''") == 0)
      quoted.erase(quoted.size() - 2);
  }
  return quoted;
}

std::string without_extension(const std::string& path) {
  const auto dot = path.find_last_of('.');
  const auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path;
  return path.substr(0, dot);
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dir_name(const std::string& path) {
  // POSIX dirname, as GNU parallel's {//}: trailing slashes do not make a component.
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  const auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  p.erase(slash);
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  return p.empty() ? "/" : p;
}

namespace {

/// `{N }`, `{-N\t}`, `{N` and `}` on the next line: GNU parallel takes these as `{N}` (whitespace
/// may come between a column number and its brace); written as `{N}` so the words split right.
std::string without_space_before_brace(std::string command) {
  std::string out;
  std::size_t i = 0;
  while (i < command.size()) {
    std::size_t j = i + 1;
    if (command[i] == '{') {
      if (j < command.size() && command[j] == '-') ++j;
      const std::size_t digits = j;
      while (j < command.size() && std::isdigit(static_cast<unsigned char>(command[j])) != 0)
        ++j;
      std::size_t k = j;
      while (k < command.size() && is_space(command[k]))
        ++k;
      if (j > digits && k > j && k < command.size() && command[k] == '}') {
        out.append(command, i, j - i).push_back('}');
        i = k + 1;
        continue;
      }
    }
    out.push_back(command[i]);
    ++i;
  }
  return out;
}

} // namespace

std::vector<command_template::segment>
command_template::parse_word(const std::string& text, const std::map<std::string, std::size_t>& names,
                             bool& found) {
  std::vector<segment> out;
  const auto add_text = [&](std::string_view t) {
    if (t.empty()) return;
    if (out.empty() || out.back().what != segment::kind::text) out.push_back(segment{});
    out.back().text.append(t);
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find('{', i);
    if (open == std::string::npos) {
      add_text(std::string_view(text).substr(i));
      break;
    }
    add_text(std::string_view(text).substr(i, open - i));
    const auto close = text.find('}', open + 1);
    if (close == std::string::npos) {
      add_text(std::string_view(text).substr(open));
      break;
    }
    const std::string inside = text.substr(open + 1, close - open - 1);
    segment s;
    s.what = segment::kind::value;
    std::string_view rest = inside;
    // A leading column number (or name), then a modifier.
    std::size_t digits = 0;
    if (!rest.empty() && rest[0] == '-') digits = 1;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits])) != 0)
      ++digits;
    bool known = true;
    if (inside == "#") {
      s.what = segment::kind::seq;
      rest = {};
    } else if (inside == "%") {
      s.what = segment::kind::slot;
      rest = {};
    } else if (digits > (rest.empty() || rest[0] != '-' ? 0U : 1U)) {
      const auto [end, error] = std::from_chars(rest.data(), rest.data() + digits, s.column);
      if (error != std::errc{} || end != rest.data() + digits)
        throw usage_error("the replacement string {" + inside +
                          "}: the column number is out of range (at most " +
                          std::to_string(std::numeric_limits<int>::max()) + ")");
      if (s.column == 0) known = false;
      rest.remove_prefix(digits);
    } else if (const auto named = names.find(inside.substr(0, inside.find_first_of("./")));
               named != names.end() && !inside.empty()) {
      s.column = static_cast<int>(named->second) + 1;
      rest.remove_prefix(named->first.size());
    }
    if (rest.empty())
      s.mod = modifier::none;
    else if (rest == ".")
      s.mod = modifier::no_extension;
    else if (rest == "/")
      s.mod = modifier::basename;
    else if (rest == "//")
      s.mod = modifier::dirname;
    else if (rest == "/.")
      s.mod = modifier::basename_no_extension;
    else
      known = false;
    if (!known) { // not a replacement string: GNU parallel leaves it as it is
      add_text(std::string_view(text).substr(open, close - open + 1));
    } else {
      found = true;
      out.push_back(std::move(s));
    }
    i = close + 1;
  }
  return out;
}

command_template::command_template(const std::vector<std::string>& words, bool quote_words,
                                   const std::map<std::string, std::size_t>& column_names, bool append_all,
                                   bool multiple)
    : quote_words_(quote_words), multiple_(multiple) {
  const auto add = [&](const std::string& text, std::string separator) {
    word w;
    w.separator_before = std::move(separator);
    w.segments = parse_word(text, column_names, has_replacement_);
    for (const segment& s : w.segments)
      w.per_input = w.per_input || (s.what == segment::kind::value && s.column == 0);
    words_.push_back(std::move(w));
  };
  if (quote_words) {
    for (const std::string& w : words)
      add(w, words_.empty() ? "" : " ");
  } else {
    // The command is shell code: its words joined by spaces, then split at whitespace so that -X
    // can repeat the word around a replacement string.
    std::string command;
    for (const std::string& w : words)
      command += (command.empty() ? "" : " ") + w;
    command = without_space_before_brace(std::move(command));
    std::size_t i = 0;
    while (i < command.size()) {
      const std::size_t start = i;
      while (i < command.size() && is_space(command[i]))
        ++i;
      std::string separator = command.substr(start, i - start);
      const std::size_t word_start = i;
      while (i < command.size() && !is_space(command[i]))
        ++i;
      if (i > word_start) add(command.substr(word_start, i - word_start), std::move(separator));
    }
  }
  if (append_all && !has_replacement_) {
    const bool saved = has_replacement_;
    add("{}", words_.empty() ? "" : " ");
    has_replacement_ = saved;
  }
  if (quote_words) {
    needs_shell_ = false;
    return;
  }
  values_are_code_ = replacement_in_first_word();
  needs_shell_ = false;
  for (const word& w : words_) {
    if (w.separator_before.find('\n') != std::string::npos) needs_shell_ = true;
    for (const segment& s : w.segments)
      if (s.what == segment::kind::text)
        for (unsigned char c : s.text)
          needs_shell_ = needs_shell_ || !is_inert(c);
  }
  if (words_.empty() || words_[0].segments.size() != 1 || words_[0].segments[0].what != segment::kind::text ||
      words_[0].segments[0].text.find('=') != std::string::npos ||
      !program_on_path(words_[0].segments[0].text))
    needs_shell_ = true;
}

bool command_template::replacement_in_first_word() const {
  if (words_.empty()) return false;
  for (const segment& s : words_[0].segments) {
    if (s.what != segment::kind::text) return true;
    if (s.text.find('=') != std::string::npos) return false; // an assignment: V={}
  }
  return false;
}

std::string command_template::modified(modifier mod, const std::string& v) {
  switch (mod) {
  case modifier::none: return v;
  case modifier::no_extension: return without_extension(v);
  case modifier::basename: return base_name(v);
  case modifier::dirname: return dir_name(v);
  case modifier::basename_no_extension: return without_extension(base_name(v));
  }
  return v;
}

void command_template::values_of(const segment& s, const job_values& job, const record* one, bool quoted,
                                 std::vector<std::string>& out) const {
  const auto transform = [&](const std::string& v) {
    std::string t = modified(s.mod, v);
    return quoted && !values_are_code_ ? shell_quote(t) : t;
  };
  if (s.column == 0) {
    if (one != nullptr) {
      for (const std::string& v : *one)
        out.push_back(transform(v));
    } else {
      for (const record& r : job.records)
        for (const std::string& v : r)
          out.push_back(transform(v));
    }
    return;
  }
  // A column: of this input when the word is repeated per input, else of all inputs in order.
  std::vector<const std::string*> columns;
  if (one != nullptr) {
    for (const std::string& v : *one)
      columns.push_back(&v);
  } else {
    for (const record& r : job.records)
      for (const std::string& v : r)
        columns.push_back(&v);
  }
  const long n = static_cast<long>(columns.size());
  const long at = s.column > 0 ? s.column - 1 : n + s.column;
  // A column the job does not have gives nothing at all (not an empty argument), as in GNU parallel.
  if (at >= 0 && at < n) out.push_back(transform(*columns[static_cast<std::size_t>(at)]));
}

std::vector<std::string> command_template::render(const job_values& job, bool quoted) const {
  std::vector<std::string> out; // shell: one piece per word; argv: one entry per argument
  std::vector<std::string> values;
  const auto render_word = [&](const word& w, const record* one) {
    std::vector<std::string> parts{std::string()};
    bool produced = false; // a word made only of missing columns disappears, as in the shell
    for (const segment& s : w.segments) {
      switch (s.what) {
      case segment::kind::text:
        parts.back() += quoted && quote_words_ ? shell_quote(s.text) : s.text;
        produced = true;
        break;
      case segment::kind::seq:
        parts.back() += std::to_string(job.seq);
        produced = true;
        break;
      case segment::kind::slot:
        parts.back() += std::to_string(job.slot);
        produced = true;
        break;
      case segment::kind::value:
        values.clear();
        values_of(s, job, one, quoted, values);
        produced = produced || !values.empty();
        for (std::size_t k = 0; k < values.size(); ++k) {
          if (k > 0) parts.emplace_back();
          parts.back() += values[k];
        }
        break;
      }
    }
    if (!produced) return;
    if (!quoted) {
      for (std::string& p : parts)
        out.push_back(std::move(p));
      return;
    }
    std::string joined;
    for (std::size_t k = 0; k < parts.size(); ++k)
      joined += (k > 0 ? " " : "") + parts[k];
    out.push_back(std::move(joined));
  };
  for (const word& w : words_) {
    const std::size_t first = out.size();
    if (w.per_input && repeat_each_value_ && !multiple_) {
      for (const record& r : job.records)
        for (const std::string& value : r) {
          const record one{value};
          render_word(w, &one);
        }
    } else if (w.per_input && job.records.size() > 1 && !multiple_) {
      for (const record& r : job.records)
        render_word(w, &r);
    } else {
      render_word(w, nullptr);
    }
    if (quoted && first < out.size()) out[first].insert(0, w.separator_before);
  }
  return out;
}

std::string command_template::shell_command(const job_values& job) const {
  std::string command;
  bool first = true;
  for (std::string& piece : render(job, true)) {
    if (!first && !piece.empty() && !is_space(piece[0])) command += ' ';
    command += piece;
    first = false;
  }
  return command;
}

namespace {

/// An upper bound of one value as the command shows it, after a space: quoted, and for a modified
/// value ({.}, {/}, ...: a part of it, or ".") at most 4 bytes longer than the whole one quoted.
std::size_t shown_size(const std::string& value, bool modified) {
  return 1 + shell_quote(value).size() + (modified ? 4 : 0);
}

} // namespace

command_template::size_bound command_template::first_size(const record& first) const {
  constexpr auto longest = std::numeric_limits<std::size_t>::max(); // {#} and {%} at their longest
  size_bound bound;
  bound.bytes = shell_command(job_values{.seq = longest, .slot = longest, .records = {first}}).size();
  for (const std::string& v : first)
    bound.longest_value = std::max(bound.longest_value, shown_size(v, true));
  return bound;
}

void command_template::add_size(size_bound& bound, const record& input) const {
  for (const std::string& v : input)
    bound.longest_value = std::max(bound.longest_value, shown_size(v, true));
  const auto values = [&](const segment& s) { // every value of the input: what {} gains
    std::size_t n = 0;
    for (const std::string& v : input)
      n += shown_size(v, s.mod != modifier::none);
    return n;
  };
  std::size_t added = 0;
  for (const word& w : words_) {
    if (w.per_input && !multiple_) { // -X: the word again, after a space (per value: once each)
      const std::size_t copies = repeat_each_value_ ? std::max<std::size_t>(1, input.size()) : 1;
      added += copies;
      for (const segment& s : w.segments)
        switch (s.what) {
        case segment::kind::text:
          added += copies * (quote_words_ ? shell_quote(s.text).size() : s.text.size());
          break;
        case segment::kind::seq:
        case segment::kind::slot: added += copies * (std::numeric_limits<std::size_t>::digits10 + 1); break;
        case segment::kind::value: // its columns, joined by spaces: no space before the first
          added += s.column == 0 ? values(s) - (input.empty() ? 0 : 1) : copies * bound.longest_value;
          break;
        }
      continue;
    }
    // Rendered once: {} gains the input's values; a column ({2}, {-1}) may now be any value of the
    // job, at most the longest; a word made only of missing columns appears, with its separator.
    bool has_value = false;
    for (const segment& s : w.segments)
      if (s.what == segment::kind::value) {
        added += s.column == 0 ? values(s) : bound.longest_value;
        has_value = true;
      }
    if (has_value) added += w.separator_before.size();
  }
  bound.bytes += added;
}

std::vector<std::string> command_template::argv(const job_values& job) const { return render(job, false); }

std::string command_template::render_plain(const job_values& job) const {
  std::string text;
  for (const std::string& piece : render(job, false))
    text += (text.empty() ? "" : " ") + piece;
  return text;
}

} // namespace parmill::cli
