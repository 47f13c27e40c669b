// cli/command_template.cpp: replacement strings, GNU parallel's quoting, and the no-shell test.
#include "command_template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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

// --- --plus ---------------------------------------------------------------------------------------

namespace {

/// Where the last `n` extensions of `value` start (the n-th last dot, with neither a dot nor a
/// slash after it but those n), or npos: GNU's `\.[^/.]*` repeated n times at the end.
std::size_t extensions_start(const std::string& value, int n) {
  std::size_t end = value.size();
  std::size_t dot = std::string::npos;
  for (int k = 0; k < n; ++k) {
    const auto found = end == 0 ? std::string::npos : value.find_last_of("./", end - 1);
    if (found == std::string::npos || value[found] != '.') return std::string::npos;
    dot = found;
    end = found;
  }
  return dot;
}

/// A Perl regular expression made non-greedy as GNU parallel's make_regexp_ungreedy does: `?`
/// after each quantifier that has none.
std::string ungreedy(const std::string& re) {
  std::string out;
  for (std::size_t i = 0; i < re.size(); ++i) {
    out.push_back(re[i]);
    if (re[i] == '\\' && i + 1 < re.size()) {
      out.push_back(re[++i]);
      continue;
    }
    const bool quantifier = re[i] == '*' || re[i] == '+' || re[i] == '?' || re[i] == '}';
    if (quantifier && (i + 1 >= re.size() || re[i + 1] != '?') &&
        !(re[i] == '?' && i > 0 && re[i - 1] == '('))
      out.push_back('?');
  }
  return out;
}

} // namespace

/// One --plus edit: a path form, a substring, or a regular expression's substitution.
struct command_template::plus_edit {
  enum class op {
    dir,              ///< {+/}
    extensions,       ///< {+.} {+..} {+...}: the last `count` extensions
    strip_extensions, ///< {..} {...}: without them
    base_strip,       ///< {/..} {/...}
    default_value,    ///< {:-str}
    skip,             ///< {:N}
    substring,        ///< {:N:M}
    substitute,       ///< {#re} {##re} {%re} {%%re} {/re/s} {/#re/s} {/%re/s} {//re/s}
    upper,            ///< {^re} {^^re}
    lower             ///< {,re} {,,re}
  } what = op::dir;
  int count = 1;
  std::size_t from = 0, length = 0;
  std::string text; ///< the default value, or the replacement
  bool global = false;
  std::shared_ptr<pcre2_code> re;

  plus_edit(op o, std::string pattern = {}) : what(o) {
    if (pattern.empty()) return;
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error,
                                     &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      throw usage_error("--plus: '" + pattern +
                        "' is not a regular expression: " + reinterpret_cast<const char*>(message));
    }
    re.reset(code, pcre2_code_free);
  }

  /// The spans of the matches of `re` in `v` (the first, or every one when `global`).
  std::vector<std::pair<std::size_t, std::size_t>> matches(const std::string& v) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> data(
        pcre2_match_data_create_from_pattern(re.get(), nullptr), pcre2_match_data_free);
    if (!data) throw std::bad_alloc();
    for (std::size_t at = 0; at <= v.size();) {
      const int found =
          pcre2_match(re.get(), reinterpret_cast<PCRE2_SPTR>(v.data()), v.size(), at, 0, data.get(), nullptr);
      if (found == PCRE2_ERROR_NOMATCH) break;
      if (found < 0) throw std::runtime_error("--plus: a regular expression could not be matched");
      const PCRE2_SIZE* span = pcre2_get_ovector_pointer(data.get());
      if (span[0] > span[1]) break;
      out.emplace_back(span[0], span[1]);
      if (!global) break;
      at = span[1] > span[0] ? span[1] : span[1] + 1;
    }
    return out;
  }

  std::string apply(const std::string& v) const {
    switch (what) {
    case op::dir: {
      const auto slash = v.find_last_of('/');
      return slash == std::string::npos ? "" : v.substr(0, slash);
    }
    case op::extensions: {
      if (count == 1) {
        const auto dot = v.find_last_of('.');
        return dot == std::string::npos ? "" : v.substr(dot + 1);
      }
      const auto at = extensions_start(v, count);
      return at == std::string::npos ? "" : v.substr(at + 1);
    }
    case op::strip_extensions: {
      const auto at = extensions_start(v, count);
      return at == std::string::npos ? v : v.substr(0, at);
    }
    case op::base_strip: {
      const std::string base = base_name(v);
      const auto at = extensions_start(base, count);
      return at == std::string::npos ? base : base.substr(0, at);
    }
    case op::default_value: return v.empty() || v == "0" ? text : v; // Perl's false
    case op::skip: return from >= v.size() ? "" : v.substr(from);
    case op::substring: return from >= v.size() ? "" : v.substr(from, length);
    case op::substitute:
    case op::upper:
    case op::lower: {
      std::string out;
      std::size_t copied = 0;
      for (const auto& [begin, end] : matches(v)) {
        out.append(v, copied, begin - copied);
        if (what == op::substitute) {
          out += text;
        } else {
          for (std::size_t i = begin; i < end; ++i)
            out.push_back(static_cast<char>(what == op::upper
                                                ? std::toupper(static_cast<unsigned char>(v[i]))
                                                : std::tolower(static_cast<unsigned char>(v[i]))));
        }
        copied = end;
      }
      out.append(v, std::min(copied, v.size()));
      return out;
    }
    }
    return v;
  }
};

std::optional<command_template::segment> command_template::parse_plus(const std::string& inside) const {
  using op = plus_edit::op;
  segment s;
  s.what = segment::kind::value;
  if (inside == "##" || inside == "0#" || inside == "0%") {
    s.what = inside == "##"   ? segment::kind::total
             : inside == "0#" ? segment::kind::padded_seq
                              : segment::kind::padded_slot;
    return s;
  }
  if (inside == "slot") {
    s.what = segment::kind::text;
    s.text = "${PARALLEL_JOBSLOT}";
    return s;
  }
  // An optional column number, then the edit.
  std::size_t digits = !inside.empty() && inside[0] == '-' ? 1 : 0;
  while (digits < inside.size() && std::isdigit(static_cast<unsigned char>(inside[digits])) != 0)
    ++digits;
  std::string rest = inside;
  if (digits > (inside[0] == '-' ? 1U : 0U) && digits < inside.size()) {
    const auto [end, error] = std::from_chars(inside.data(), inside.data() + digits, s.column);
    if (error != std::errc{} || s.column == 0) return std::nullopt;
    rest = inside.substr(digits);
  }
  const auto make = [&](op o, std::string pattern = {}) {
    auto edit = std::make_shared<plus_edit>(o, std::move(pattern));
    return edit;
  };
  std::shared_ptr<plus_edit> edit;
  if (rest == "+/") {
    edit = make(op::dir);
  } else if (rest == "+." || rest == "+.." || rest == "+...") {
    edit = make(op::extensions);
    edit->count = static_cast<int>(rest.size() - 1);
  } else if (rest == ".." || rest == "...") {
    edit = make(op::strip_extensions);
    edit->count = static_cast<int>(rest.size());
  } else if (rest == "/.." || rest == "/...") {
    edit = make(op::base_strip);
    edit->count = static_cast<int>(rest.size() - 1);
  } else if (rest.rfind(":-", 0) == 0 && rest.size() > 2) {
    edit = make(op::default_value);
    edit->text = rest.substr(2);
  } else if (rest.size() > 1 && rest[0] == ':' && std::isdigit(static_cast<unsigned char>(rest[1])) != 0) {
    const auto colon = rest.find(':', 1);
    const std::string first = rest.substr(1, colon == std::string::npos ? std::string::npos : colon - 1);
    const std::string second = colon == std::string::npos ? "" : rest.substr(colon + 1);
    const auto all_digits = [](const std::string& t) {
      return !t.empty() && t.size() <= 18 &&
             std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
    };
    if (!all_digits(first) || (colon != std::string::npos && !all_digits(second))) return std::nullopt;
    edit = make(colon == std::string::npos ? op::skip : op::substring);
    edit->from = std::stoull(first);
    if (colon != std::string::npos) edit->length = std::stoull(second);
  } else if (rest.rfind("##", 0) == 0 && rest.size() > 2 && rest[2] != '#') {
    edit = make(op::substitute, "^(?:" + rest.substr(2) + ")");
  } else if (rest[0] == '#' && rest.size() > 1 && rest[1] != '#') {
    edit = make(op::substitute, "^(?:" + ungreedy(rest.substr(1)) + ")");
  } else if (rest.rfind("%%", 0) == 0 && rest.size() > 2) {
    edit = make(op::substitute, "(?:" + rest.substr(2) + ")$");
  } else if (rest[0] == '%' && rest.size() > 1) {
    // Perl's s/(.*)RE$/$1/ with RE made non-greedy: the shortest suffix that matches.
    edit = make(op::substitute, "^[\\s\\S]*\\K(?:" + ungreedy(rest.substr(1)) + ")$");
  } else if (rest[0] == '/' && rest.size() > 2) {
    std::string body = rest.substr(1);
    bool global = false;
    std::string anchor_start, anchor_end;
    if (body[0] == '/') {
      global = true;
      body.erase(0, 1);
    } else if (body[0] == '#') {
      anchor_start = "^";
      body.erase(0, 1);
    } else if (body[0] == '%') {
      anchor_end = "$";
      body.erase(0, 1);
    }
    const auto slash = body.find('/');
    if (slash == std::string::npos || slash == 0) return std::nullopt;
    edit = make(op::substitute, anchor_start + "(?:" + body.substr(0, slash) + ")" + anchor_end);
    edit->text = body.substr(slash + 1);
    edit->global = global;
  } else if (rest.rfind("^^", 0) == 0 && rest.size() > 2) {
    edit = make(op::upper, "(?:" + rest.substr(2) + ")");
    edit->global = true;
  } else if (rest[0] == '^' && rest.size() > 1) {
    edit = make(op::upper, "^(?:" + rest.substr(1) + ")");
  } else if (rest.rfind(",,", 0) == 0 && rest.size() > 2) {
    edit = make(op::lower, "(?:" + rest.substr(2) + ")");
    edit->global = true;
  } else if (rest[0] == ',' && rest.size() > 1) {
    edit = make(op::lower, "^(?:" + rest.substr(1) + ")");
  } else {
    return std::nullopt;
  }
  s.plus = std::move(edit);
  return s;
}

std::string command_template::number(const segment& s, const job_values& job) const {
  const auto width = [](std::size_t n) {
    return 1 + static_cast<std::size_t>(std::floor(std::log10(std::max<double>(1, static_cast<double>(n)))));
  };
  const auto padded = [](std::size_t value, std::size_t digits) {
    std::string text = std::to_string(value);
    return text.size() < digits ? std::string(digits - text.size(), '0') + text : text;
  };
  switch (s.what) {
  case segment::kind::seq: return std::to_string(job.seq);
  case segment::kind::slot: return std::to_string(job.slot);
  case segment::kind::total: return std::to_string(total_);
  case segment::kind::padded_seq: return padded(job.seq, width(total_));
  case segment::kind::padded_slot: return padded(job.slot, width(slots_));
  default: return {};
  }
}

std::size_t command_template::longest_shown(const std::string& value) const {
  std::size_t longest = 1 + shell_quote(value).size() + 4;
  for (const auto& edit : edits_)
    longest = std::max(longest, 1 + shell_quote(edit->apply(value)).size());
  return longest;
}

bool command_template::renamed(const segment& s) const {
  const replacement_names defaults;
  switch (s.what) {
  case segment::kind::seq: return names_.seq != defaults.seq;
  case segment::kind::slot: return names_.slot != defaults.slot;
  case segment::kind::value: break;
  default: return false;
  }
  if (s.plus) return false;
  switch (s.mod) {
  case modifier::none: return names_.input != defaults.input;
  case modifier::no_extension: return names_.no_extension != defaults.no_extension;
  case modifier::basename: return names_.basename != defaults.basename;
  case modifier::dirname: return names_.dirname != defaults.dirname;
  case modifier::basename_no_extension: return names_.basename_no_extension != defaults.basename_no_extension;
  }
  return false;
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
                             bool& found) const {
  if (names_.defaults()) return parse_braces(text, names, found);
  // The renamed strings, found anywhere (the longest first where two start at the same place);
  // the text between them is parsed for the strings that kept their default form.
  const replacement_names defaults;
  std::vector<std::pair<const std::string*, segment>> tokens;
  const auto token = [&](const std::string& name, const std::string& default_name, segment::kind what,
                         modifier mod) {
    if (name != default_name)
      tokens.push_back({&name, segment{.what = what, .text = {}, .column = 0, .mod = mod, .plus = nullptr}});
  };
  token(names_.input, defaults.input, segment::kind::value, modifier::none);
  token(names_.no_extension, defaults.no_extension, segment::kind::value, modifier::no_extension);
  token(names_.basename, defaults.basename, segment::kind::value, modifier::basename);
  token(names_.dirname, defaults.dirname, segment::kind::value, modifier::dirname);
  token(names_.basename_no_extension, defaults.basename_no_extension, segment::kind::value,
        modifier::basename_no_extension);
  token(names_.seq, defaults.seq, segment::kind::seq, modifier::none);
  token(names_.slot, defaults.slot, segment::kind::slot, modifier::none);
  std::vector<segment> out;
  const auto add_parsed = [&](const std::string& between) {
    for (segment& s : parse_braces(between, names, found)) {
      if (s.what == segment::kind::text && !out.empty() && out.back().what == segment::kind::text)
        out.back().text += s.text;
      else
        out.push_back(std::move(s));
    }
  };
  std::string between;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::pair<const std::string*, segment>* best = nullptr;
    for (const auto& t : tokens)
      if (text.compare(i, t.first->size(), *t.first) == 0 &&
          (best == nullptr || t.first->size() > best->first->size()))
        best = &t;
    if (best == nullptr) {
      between.push_back(text[i++]);
      continue;
    }
    add_parsed(between);
    between.clear();
    out.push_back(best->second);
    found = true;
    i += best->first->size();
  }
  add_parsed(between);
  return out;
}

std::vector<command_template::segment>
command_template::parse_braces(const std::string& text, const std::map<std::string, std::size_t>& names,
                               bool& found) const {
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
    if (known && renamed(s)) known = false; // -I and the like: its default form is plain text
    if (!known && plus_) {
      if (auto plus = parse_plus(inside)) {
        s = std::move(*plus);
        known = true;
      }
    }
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
                                   bool multiple, const replacement_names& names, bool plus)
    : quote_words_(quote_words), multiple_(multiple), names_(names), plus_(plus) {
  const auto add = [&](const std::string& text, std::string separator) {
    word w;
    w.separator_before = std::move(separator);
    w.segments = parse_word(text, column_names, has_replacement_);
    for (const segment& s : w.segments) {
      w.per_input = w.per_input || (s.what == segment::kind::value && s.column == 0);
      needs_total_ = needs_total_ || s.what == segment::kind::total || s.what == segment::kind::padded_seq;
      if (s.plus) edits_.push_back(s.plus);
    }
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
    add(names_.input, words_.empty() ? "" : " ");
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
    if (s.plus) t = s.plus->apply(t);
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
      case segment::kind::slot:
      case segment::kind::total:
      case segment::kind::padded_seq:
      case segment::kind::padded_slot:
        parts.back() += number(s, job);
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
    bound.longest_value = std::max(bound.longest_value, longest_shown(v));
  return bound;
}

void command_template::add_size(size_bound& bound, const record& input) const {
  for (const std::string& v : input)
    bound.longest_value = std::max(bound.longest_value, longest_shown(v));
  const auto values = [&](const segment& s) { // every value of the input: what {} gains
    std::size_t n = 0;
    for (const std::string& v : input)
      n += s.plus ? 1 + shell_quote(s.plus->apply(modified(s.mod, v))).size()
                  : shown_size(v, s.mod != modifier::none);
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
        case segment::kind::slot:
        case segment::kind::total:
        case segment::kind::padded_seq:
        case segment::kind::padded_slot:
          added += copies * (std::numeric_limits<std::size_t>::digits10 + 1);
          break;
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
