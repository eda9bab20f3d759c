#include "scheduler/delimited.hpp"

#include "util/text.hpp"

namespace softpack::scheduler {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

Error shape_error(std::string_view command, std::size_t line_no, std::string_view line,
                  std::string_view expected) {
  return make_error(ErrorKind::scheduler,
                    "unexpected output line " + std::to_string(line_no) + ": '" +
                        printable(line, 120) + "' (expected " + std::string(expected) + ")",
                    std::string(command));
}

Expected<std::vector<std::vector<std::string>>> split_records(std::string_view out,
                                                              std::string_view command,
                                                              RecordShape shape,
                                                              std::string_view expected) {
  std::vector<std::vector<std::string>> records;
  std::size_t n = 0;
  const std::size_t pieces = shape.fields + (shape.terminated ? 1 : 0);
  for (auto line : split_lines(out)) {
    ++n;
    if (trim(line).empty()) {
      continue;
    }
    auto f = split(line, k_delimiter);
    if (f.size() != pieces || (shape.terminated && !f.back().empty()) || !all_digits(trim(f[0]))) {
      return shape_error(command, n, line, expected);
    }
    if (shape.terminated) {
      f.pop_back();
    }
    records.push_back(std::move(f));
  }
  return records;
}

} // namespace softpack::scheduler
