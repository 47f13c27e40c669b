// cli/option_table.hpp: the command's options, written once: every spelling, what each takes, its
// --help text and the field it sets. The parser registers them with CLI11 from this table and
// `help_text()` is rendered from it; a man page or shell completions can be generated from it too.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "options.hpp"

namespace parmill::cli {

/// What a row of the table is.
enum class entry_kind {
  option, ///< an option the parser takes (registered with CLI11)
  syntax, ///< a word of the command's syntax that is not an option (`:::`): split from the command
  note    ///< --help text only: a second row about an option, or a paragraph
};

/// What an option takes after its name.
enum class value_kind {
  none,     ///< a flag: `-k`
  required, ///< one value: `-j 4`, `-j4`, `--jobs=4`, `--jobs 4`
  optional, ///< a value or none (`-l`, `-i`): the next word is taken when it is not an option
  repeated  ///< one value each time it is given, every one kept: `-a F -a G`
};

/// The part of --help a row is listed in, in the order they are printed.
enum class help_section { inputs, replacement_strings, jobs, output, failures, progress, other };

/// What the command line wrote for the options `parse_invocation` interprets after CLI11 has read
/// them (numbers, sizes, durations, renamings, the options that set several fields), as written.
struct raw_option_values {
  bool help = false, version = false, null = false;
  bool regexp = false, remove_separators = false;
  std::string jobs = "100%", header, halt, timeout, block, delay;
  std::optional<std::string> delimiter, max_args, exact_args, retries;
  std::optional<std::string> replace_input, replace_extension, replace_basename, replace_dirname,
      replace_basename_extension, replace_seq, replace_slot;
  std::optional<std::string> max_lines, max_lines_lower, max_chars, recstart, recend;
  std::vector<std::string> arg_files;
};

/// The field an option sets when it is given: a field of `options` that takes the value as it is,
/// or one of `raw_option_values` that the parser interprets; none for an option that is accepted
/// and changes nothing (`--group`, `--will-cite`).
using option_field = std::variant<std::monostate, bool options::*, std::optional<std::string> options::*,
                                  bool raw_option_values::*, std::string raw_option_values::*,
                                  std::optional<std::string> raw_option_values::*,
                                  std::vector<std::string> raw_option_values::*>;

/// One row of the table.
struct option_entry {
  entry_kind kind = entry_kind::option;
  /// Every spelling, comma-separated, as CLI11 takes them ("-j,-P,--jobs,--max-procs"); the first
  /// is the one --help shows. Empty for a note.
  std::string_view names;
  value_kind takes = value_kind::none;
  help_section section = help_section::other;
  /// --help's left column ("-j, --jobs N"); empty: described by the row before it (an alias
  /// group such as --er, --bnr, ...), or, for a note, a paragraph of `help` alone.
  std::string_view usage;
  /// --help's right column; lines are separated by '\n'. A first line that is empty puts the
  /// description under a long `usage` instead of beside it.
  std::string_view help;
  option_field field;
};

/// Every option, syntax word and --help note, in --help's order. Guaranteed: every option the
/// parser takes is here, once; every row with a `usage` is printed by `help_text()`.
[[nodiscard]] std::span<const option_entry> option_table();

/// A part of --help and its title ("Inputs").
struct help_section_title {
  help_section section;   ///< the rows it lists
  std::string_view title; ///< its title, as --help prints it before a colon
};

/// --help's parts with their titles, in the order --help prints them (`help_section`'s order).
[[nodiscard]] std::span<const help_section_title> help_section_titles();

/// The command lines of --help's usage summary ("parmill [options] ..."), each ending in '\n',
/// without --help's indentation.
[[nodiscard]] std::string_view help_usage_lines();

/// What --help says the command does (after the usage summary): lines ending in '\n'.
[[nodiscard]] std::string_view help_description();

/// What --help says last: the exit statuses, the signals and the shell jobs run in; lines ending
/// in '\n'.
[[nodiscard]] std::string_view help_footer_text();

/// The text `--help` prints: a usage summary, then every row of `option_table()` that has a
/// `usage` or `help`, by section in `help_section`'s order and in the table's order within one,
/// then the exit statuses and signals.
[[nodiscard]] std::string help_text();

/// The spellings of `entry`, split at its commas ("-j", "-P", "--jobs", ...).
[[nodiscard]] std::vector<std::string> spellings(const option_entry& entry);

} // namespace parmill::cli
