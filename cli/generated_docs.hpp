// cli/generated_docs.hpp: the manual page and the shell completions of the parmill command,
// generated from its option table (option_table.hpp), the same table --help is rendered from, so
// that no option is described twice. cli/generate_docs.cpp writes them at build time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "option_table.hpp"

namespace parmill::cli {

/// The line of `extra_sections` (given to `man_page`) that is replaced by the list of GNU
/// parallel's options that parmill refuses, each with its reason.
inline constexpr std::string_view unsupported_options_marker = "@UNSUPPORTED_OPTIONS@";

/// The manual page parmill(1) in roff (the man(7) macros): NAME, SYNOPSIS, DESCRIPTION, one
/// OPTIONS subsection per --help section (every row --help prints, in its order), EXIT STATUS,
/// then `extra_sections` as it is (roff written by hand: EXAMPLES, DIFFERENCES FROM GNU PARALLEL,
/// SEE ALSO), where a line equal to `unsupported_options_marker` becomes the list of GNU parallel's
/// options parmill refuses. `version` goes in the page's footer. Guaranteed: every spelling --help
/// shows is in the page, and text from the table cannot start a roff request or contain an escape.
[[nodiscard]] std::string man_page(std::string_view version, std::string_view extra_sections);

/// The spellings a shell completes: those --help shows (each row's usage column), and for an
/// option none of whose spellings it shows, the first. In the table's order, each once.
[[nodiscard]] std::vector<std::string> completed_spellings();

/// The spellings of the options that take a value in the next word (`-j 4`), each once.
[[nodiscard]] std::vector<std::string> spellings_taking_a_value();

/// A bash completion script (for /usr/share/bash-completion/completions/parmill): option names
/// after "-", file names for the options that take a path (-a, --joblog, --results) and after
/// `::::`, command names for the first word that is not an option, file names after it. Defines
/// the function `_parmill`; needs bash alone (not the bash-completion package's helpers).
[[nodiscard]] std::string bash_completion();

/// A zsh completion function (for /usr/share/zsh/vendor-completions/_parmill): every option with
/// its --help description, then the command and its own arguments.
[[nodiscard]] std::string zsh_completion();

} // namespace parmill::cli
