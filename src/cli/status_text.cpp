#include "cli/status_text.hpp"

#include "util/text.hpp"

#include <algorithm>

namespace softpack::cli {

namespace {

// Text from the service, safe to print on a terminal: control characters (an escape sequence's
// ESC included) become '?'; tabs become spaces.
std::string safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += c == '\t' ? ' ' : (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return out;
}

// "2026-12-04T16:02:03Z" -> "2026-12-04 16:02:03"; "" -> "-"; other text as it is.
std::string when(std::string_view rfc3339) {
  if (rfc3339.empty()) {
    return "-";
  }
  std::string out = safe(rfc3339);
  if (out.size() == 20 && out[10] == 'T' && out[19] == 'Z') {
    out[10] = ' ';
    out.pop_back();
  }
  return out;
}

// The time of day of when(): "16:02:03".
std::string time_of_day(std::string_view rfc3339) {
  std::string t = when(rfc3339);
  return t.size() == 19 ? t.substr(11) : t;
}

// Rows as columns padded to their widest cell, two spaces apart; the last column is not padded.
std::string columns(const std::vector<std::vector<std::string>>& rows, std::string_view indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line + "\n";
  }
  return out;
}

// A stage state that ends the build without success.
bool failing(std::string_view state) {
  return state == "failed" || state == "timeout" || state == "node_fail" || state == "lost" ||
         state == "cancelled";
}

std::string plural(int n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

} // namespace

std::string stages_summary(const BuildView& b) {
  if (b.stages.empty()) {
    return "-";
  }
  const auto total = b.stages.size();
  const auto done = static_cast<std::size_t>(
      std::count_if(b.stages.begin(), b.stages.end(),
                    [](const BuildView::Stage& s) { return s.state == "completed"; }));
  std::string out;
  const auto first_open =
      std::find_if(b.stages.begin(), b.stages.end(),
                   [](const BuildView::Stage& s) { return s.state != "completed"; });
  if (first_open == b.stages.end()) {
    out = std::to_string(done) + "/" + std::to_string(total) + " done";
  } else if (const auto bad = std::find_if(b.stages.begin(), b.stages.end(),
                                           [](const auto& s) { return failing(s.state); });
             bad != b.stages.end()) {
    out = safe(bad->name) + " " + safe(bad->state);
    if (bad->exit_code && *bad->exit_code != 0) {
      out += " (exit " + std::to_string(*bad->exit_code) + ")";
    }
  } else {
    out = safe(first_open->name) + " " + safe(first_open->state) + " (" + std::to_string(done) +
          "/" + std::to_string(total) + " done)";
  }
  for (const auto& d : b.destinations) {
    if (d.state == "failed") {
      out += "; " + safe(d.name) + " failed";
    } else if (d.state == "pending" && d.attempts > 0) {
      out += "; " + safe(d.name) + " retrying (" + plural(d.attempts, "attempt") + ")";
    }
  }
  return out;
}

std::string requester_text(const auth::Requester& who) {
  if (who.kind == auth::Requester::Kind::none) {
    return "-";
  }
  std::string out = safe(who.display());
  if (who.uid) {
    out += " (uid " + std::to_string(*who.uid) + ")";
  }
  return out;
}

std::string builds_table(const std::vector<BuildView>& builds) {
  if (builds.empty()) {
    return "no builds\n";
  }
  std::vector<std::vector<std::string>> rows{
      {"ID", "ENVIRONMENT", "STATE", "REQUESTED (UTC)", "BY", "STAGES"}};
  for (const auto& b : builds) {
    // The table is for scanning: the name without the uid.
    const std::string by =
        b.requested_by.kind == auth::Requester::Kind::none ? "-" : safe(b.requested_by.display());
    const std::string stages =
        b.state == "queued" && !b.queue_reason.empty() ? safe(b.queue_reason) : stages_summary(b);
    rows.push_back({safe(b.id), safe(b.name), safe(b.state), when(b.requested), by, stages});
  }
  return columns(rows, "");
}

std::string build_details(const BuildView& b) {
  std::vector<std::vector<std::string>> head{
      {"build", safe(b.id)},
      {"environment", safe(b.name)},
      {"requested by", requester_text(b.requested_by)},
      {"state", safe(b.state) + (b.error.empty() ? "" : ": " + safe(b.error))},
      {"requested", when(b.requested) + " UTC"},
      {"started", b.started.empty() ? "-" : when(b.started) + " UTC"},
      {"done", b.done.empty() ? "-" : when(b.done) + " UTC"},
  };
  if (b.state == "queued" && !b.queue_reason.empty()) {
    head.insert(head.begin() + 4, {"waiting", safe(b.queue_reason)});
  }
  if (!b.published.empty()) {
    head.push_back({"published", safe(b.published)});
  }
  std::string out = columns(head, "");

  out += "\nstages\n";
  if (b.stages.empty()) {
    out += "  (none yet)\n";
  }
  std::vector<std::vector<std::string>> stages;
  for (const auto& s : b.stages) {
    std::string times;
    if (!s.started.empty()) {
      times = time_of_day(s.started) + " - " + (s.ended.empty() ? "" : time_of_day(s.ended));
    }
    stages.push_back({safe(s.name), s.job_id ? "job " + safe(*s.job_id) : "-", safe(s.state),
                      s.exit_code ? "exit " + std::to_string(*s.exit_code) : "", times,
                      safe(s.reason)});
  }
  out += columns(stages, "  ");

  if (!b.destinations.empty()) {
    out += "\ndestinations\n";
    std::vector<std::vector<std::string>> dests;
    for (const auto& d : b.destinations) {
      std::string detail = safe(d.reference);
      if (!d.error.empty()) {
        detail += (detail.empty() ? "" : "  ") + std::string("error: ") + safe(d.error);
      }
      if (d.state == "pending" && !d.next_attempt.empty()) {
        detail += (detail.empty() ? "" : "  ") + std::string("next attempt ") +
                  when(d.next_attempt) + " UTC";
      }
      dests.push_back({safe(d.name), safe(d.state), plural(d.attempts, "attempt"), detail});
    }
    out += columns(dests, "  ");
  }

  for (const auto& s : b.stages) {
    if (!failing(s.state) || trim(s.log_tail).empty()) {
      continue;
    }
    out += "\nlog of " + safe(s.name) + " (last lines)\n";
    for (auto line : split_lines(s.log_tail)) {
      out += "  | " + safe(line) + "\n";
    }
  }
  return out;
}

} // namespace softpack::cli
