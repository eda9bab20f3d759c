#pragma once

// The machine-readable output the adapters ask their batch system for: one record per line,
// fields separated by a byte that cannot occur in the data (the ASCII unit separator), the
// first field a numeric job id. One splitter checks that shape for every parser, and one error
// says, when it differs, which command, which line and what was expected. Pure.

#include "util/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::scheduler {

// The field delimiter the adapters ask for (squeue -O "F:\x1f", sacct --delimiter, bjobs -o
// "... delimiter='\x1f'").
inline constexpr char k_delimiter = '\x1f';

struct RecordShape {
  std::size_t fields = 0;
  // Every field, the last too, ends with the delimiter (squeue -O "Type:\x1f"), so a record has
  // an extra, empty, last piece, which is dropped.
  bool terminated = false;
};

// The records of delimited output: its non-empty lines, each split into `shape.fields` fields
// whose first is a numeric job id. Any other shape is an error (ErrorKind::scheduler) naming
// `command`, the line and `expected` (shape_error).
Expected<std::vector<std::vector<std::string>>> split_records(std::string_view out,
                                                              std::string_view command,
                                                              RecordShape shape,
                                                              std::string_view expected);

// "unexpected output line N: '<line>' (expected ...)", in the context of `command`.
Error shape_error(std::string_view command, std::size_t line_no, std::string_view line,
                  std::string_view expected);

// One or more ASCII digits and nothing else.
bool all_digits(std::string_view s);

} // namespace softpack::scheduler
