// cli/generated_docs.cpp: parmill(1) and the bash and zsh completions, rendered from the option
// table.
#include "generated_docs.hpp"

#include <algorithm>
#include <set>

#include "options.hpp"

namespace parmill::cli {
namespace {

/// The options whose value is a file or a directory: shells complete paths after them.
constexpr std::string_view file_options[] = {"-a",       "--arg-file", "--argfile",
                                             "--joblog", "--jl",       "--timeline"};
constexpr std::string_view directory_options[] = {"--results", "--res", "--result"};

/// The lines of `text`, without their '\n' (a last line without one is a line too).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return lines;
}

/// `text` as roff text: a backslash is `\e`, a hyphen `\-` (an ASCII minus, as options are typed),
/// and a line cannot start a request ('.' or '\'' first).
std::string roff_text(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
    line_start = c == '\n';
  }
  return out;
}

/// The lines of `text` joined by spaces, for roff to fill (an empty first line is dropped).
std::string joined_lines(std::string_view text) {
  std::string out;
  for (const std::string_view line : lines_of(text)) {
    if (line.empty()) continue;
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out;
}

/// One row of the table as man page text: a tagged paragraph for an option, a paragraph kept as
/// it is laid out for a note without a usage column (the replacement strings' table).
std::string man_row(const option_entry& entry) {
  if (entry.usage.empty()) return ".PP\n.nf\n" + roff_text(entry.help) + "\n.fi\n";
  return ".TP\n\\fB" + roff_text(entry.usage) + "\\fR\n" + roff_text(joined_lines(entry.help)) + "\n";
}

/// The OPTIONS section: a subsection per --help section, with its rows in --help's order.
std::string man_options() {
  std::string out = ".SH OPTIONS\n";
  for (const auto& [section, title] : help_section_titles()) {
    out += ".SS " + roff_text(title) + "\n";
    for (const option_entry& entry : option_table())
      if (entry.section == section && (!entry.usage.empty() || !entry.help.empty())) out += man_row(entry);
  }
  return out;
}

/// GNU parallel's options that parmill refuses, as tagged paragraphs: the spellings, then why.
std::string man_unsupported_options() {
  std::string out;
  for (const unsupported_option& option : unsupported_gnu_options()) {
    std::string names;
    for (std::string_view rest = option.names; !rest.empty();) {
      const auto bar = rest.find('|');
      names.append(names.empty() ? "" : ", ").append(rest.substr(0, bar));
      rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    }
    out += ".TP\n\\fB" + roff_text(names) + "\\fR\n" + roff_text(option.reason) + "\n";
  }
  return out;
}

/// `extra` with the line `unsupported_options_marker` replaced by the list it stands for.
std::string with_unsupported_options(std::string_view extra) {
  std::string out;
  for (const std::string_view line : lines_of(extra)) {
    if (line == unsupported_options_marker)
      out += man_unsupported_options();
    else
      out.append(line).append("\n");
  }
  return out;
}

/// True when `word` is a whole word of `text`: not a part of a longer option's name.
bool is_word_of(std::string_view text, std::string_view word) {
  const auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  };
  for (auto at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const bool starts = at == 0 || !is_name_char(text[at - 1]);
    const bool ends = at + word.size() == text.size() || !is_name_char(text[at + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

/// True when some row's usage column shows `spelling`.
bool shown_in_help(std::string_view spelling) {
  const auto table = option_table();
  return std::any_of(table.begin(), table.end(),
                     [&](const option_entry& entry) { return is_word_of(entry.usage, spelling); });
}

/// The table's option rows (not syntax words or notes).
std::vector<const option_entry*> option_rows() {
  std::vector<const option_entry*> rows;
  for (const option_entry& entry : option_table())
    if (entry.kind == entry_kind::option) rows.push_back(&entry);
  return rows;
}

/// The spellings of `entry` a shell completes (see `completed_spellings`).
std::vector<std::string> completed_spellings_of(const option_entry& entry) {
  std::vector<std::string> shown;
  for (std::string& spelling : spellings(entry))
    if (shown_in_help(spelling)) shown.push_back(std::move(spelling));
  if (shown.empty()) shown.push_back(spellings(entry).at(0));
  return shown;
}

/// `words` as one line, separated by spaces.
std::string space_separated(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words)
    out += (out.empty() ? "" : " ") + word;
  return out;
}

/// `words` as a bash case pattern: "a|b|c".
std::string case_pattern(const auto& words) {
  std::string out;
  for (const auto& word : words)
    out.append(out.empty() ? "" : "|").append(word);
  return out;
}

/// What zsh's `_arguments` shows for an option: its --help text on one line (for an alias row, that
/// of the row before it), with the characters special in a spec's brackets escaped.
std::string zsh_description(std::string_view help) {
  const std::string text = joined_lines(help);
  std::string out;
  for (const char c : text)
    if (c == '[' || c == ']' || c == '\\')
      out.append("\\").append(1, c);
    else if (c == '\'')
      out += "'\\''";
    else
      out += c;
  return out;
}

/// The zsh `_arguments` spec of `spelling`, an option that takes what `takes` says: "*" (it may
/// be repeated), the name with "+" or "=" where a value may follow, the description, the value.
std::string zsh_spec(const std::string& spelling, value_kind takes, std::string_view help) {
  const bool is_long = spelling.size() > 2;
  const bool is_file =
      std::find(std::begin(file_options), std::end(file_options), spelling) != std::end(file_options);
  const bool is_directory = std::find(std::begin(directory_options), std::end(directory_options), spelling) !=
                            std::end(directory_options);
  const std::string action = is_file ? "_files" : is_directory ? "_files -/" : " ";
  std::string spec = "'*" + spelling;
  switch (takes) {
  case value_kind::none: return spec + "[" + zsh_description(help) + "]'";
  case value_kind::optional:
    return spec + (is_long ? "=-" : "-") + "[" + zsh_description(help) + "]::value:" + action + "'";
  case value_kind::required:
  case value_kind::repeated:
    return spec + (is_long ? "=" : "+") + "[" + zsh_description(help) + "]:value:" + action + "'";
  }
  return spec + "'";
}

} // namespace

std::string man_page(std::string_view version, std::string_view extra_sections) {
  std::string page = ".\\\" parmill(1), generated from the command's option table (cli/option_table.cpp)\n"
                     ".\\\" by cli/generate_docs.cpp; do not edit.\n";
  page += ".TH PARMILL 1 \"\" \"parmill " + roff_text(version) + "\" \"User Commands\"\n";
  page += ".nh\n.ad l\n"; // no hyphenation: option names are typed as they are written
  page += ".SH NAME\nparmill \\- run commands in parallel, with GNU parallel's syntax\n";
  page += ".SH SYNOPSIS\n.nf\n";
  for (const std::string_view line : lines_of(help_usage_lines())) {
    const auto name = line.find("parmill");
    page += roff_text(line.substr(0, name)) + "\\fBparmill\\fR" + roff_text(line.substr(name + 7)) + "\n";
  }
  page += ".fi\n.SH DESCRIPTION\n" + roff_text(joined_lines(help_description())) + "\n";
  page += man_options();
  page += ".SH EXIT STATUS\n" + roff_text(joined_lines(help_footer_text())) + "\n";
  return page + with_unsupported_options(extra_sections);
}

std::vector<std::string> completed_spellings() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const option_entry* entry : option_rows())
    for (std::string& spelling : completed_spellings_of(*entry))
      if (seen.insert(spelling).second) out.push_back(std::move(spelling));
  return out;
}

std::vector<std::string> spellings_taking_a_value() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const option_entry* entry : option_rows())
    if (entry->takes == value_kind::required || entry->takes == value_kind::repeated)
      for (std::string& spelling : spellings(*entry))
        if (seen.insert(spelling).second) out.push_back(std::move(spelling));
  return out;
}

std::string bash_completion() {
  std::string script = R"(# bash completion for parmill(1), generated from the command's option table
# (cli/option_table.cpp) by cli/generate_docs.cpp; do not edit.

_parmill()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    case $prev in
        @FILE_OPTIONS@|::::|::::+)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        @DIRECTORY_OPTIONS@)
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        @VALUE_OPTIONS@)
            return ;;
    esac
    # Options come before the command; the first other word is the command, then its arguments.
    local i word
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word=${COMP_WORDS[i]}
        case $word in
            @VALUE_OPTIONS@) (( i++ )) ;;
            -*) ;;
            *) return ;; # the command or an input source is written: file names (-o default)
        esac
    done
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "@OPTIONS@" -- "$cur"))
    else
        COMPREPLY=($(compgen -c -- "$cur"))
    fi
}
complete -F _parmill -o bashdefault -o default parmill
)";
  const auto put = [&script](std::string_view marker, const std::string& text) {
    for (auto at = script.find(marker); at != std::string::npos; at = script.find(marker, at + text.size()))
      script.replace(at, marker.size(), text);
  };
  put("@FILE_OPTIONS@", case_pattern(file_options));
  put("@DIRECTORY_OPTIONS@", case_pattern(directory_options));
  put("@VALUE_OPTIONS@", case_pattern(spellings_taking_a_value()));
  put("@OPTIONS@", space_separated(completed_spellings()));
  return script;
}

std::string zsh_completion() {
  std::string script = "#compdef parmill\n"
                       "# zsh completion for parmill(1), generated from the command's option table\n"
                       "# (cli/option_table.cpp) by cli/generate_docs.cpp; do not edit.\n\n"
                       "_arguments -s -S \\\n";
  std::string_view help;
  for (const option_entry* entry : option_rows()) {
    if (!entry->help.empty()) help = entry->help; // an alias row is described by the row before it
    for (const std::string& spelling : completed_spellings_of(*entry))
      script += "  " + zsh_spec(spelling, entry->takes, help) + " \\\n";
  }
  return script + "  '1:command:_command_names -e' \\\n  '*::arguments:_normal'\n";
}

} // namespace parmill::cli
