#pragma once

// A ServiceApi for the HTTP tests: answers are public fields the test sets, and every call is
// recorded. Not thread-safe, like the real service: with a running HttpServer, touch it only
// from the io_context thread or after io.run() has returned.

#include "server/api.hpp"

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace softpack::testing {

class FakeService final : public server::ServiceApi {
public:
  // Answers.
  Expected<server::SubmitOutcome> submit_result = server::SubmitOutcome{"b-1", false, {}};
  std::shared_ptr<const std::string> status_body = std::make_shared<const std::string>("[]");
  std::shared_ptr<const std::string> builds_body = std::make_shared<const std::string>("[]");
  std::map<std::string, std::string> build_bodies; // id -> JSON; others are unknown
  Expected<bool> cancel_result = true;
  std::string metrics = "# TYPE softpack_builds_active gauge\nsoftpack_builds_active 0\n";
  bool is_healthy = true;
  std::string health_detail;
  Expected<server::WebhookOutcome> push_result =
      server::WebhookOutcome{true, "push to refs/heads/main queued"};
  bool throw_on_status = false; // environments_status_json() throws: a bug in the service

  // Calls.
  std::vector<spec::ValidSpec> submitted;
  std::vector<auth::Requester> requesters;          // one per submit, in order
  std::map<std::string, server::BuildOwner> owners; // build_owner() answers
  // build_owner() of a build not in `owners` (nullopt: there is no such build).
  std::optional<server::BuildOwner> default_owner = server::BuildOwner{"users/alice", {}};
  std::vector<std::string> cancelled;
  std::vector<std::pair<std::string, server::GitlabPush>> pushes;
  int status_calls = 0;

  Expected<server::SubmitOutcome> submit(const spec::ValidSpec& spec,
                                         const auth::Requester& requester) override {
    submitted.push_back(spec);
    requesters.push_back(requester);
    return submit_result;
  }
  std::optional<server::BuildOwner> build_owner(const std::string& id) override {
    auto it = owners.find(id);
    if (it == owners.end()) {
      return default_owner;
    }
    return it->second;
  }
  std::shared_ptr<const std::string> environments_status_json() override {
    ++status_calls;
    if (throw_on_status) {
      throw std::runtime_error("fake failure");
    }
    return status_body;
  }
  std::shared_ptr<const std::string> builds_json() override { return builds_body; }
  std::optional<std::string> build_json(const std::string& id) override {
    auto it = build_bodies.find(id);
    if (it == build_bodies.end()) {
      return std::nullopt;
    }
    return it->second;
  }
  Expected<bool> cancel(const std::string& id) override {
    cancelled.push_back(id);
    return cancel_result;
  }
  std::string metrics_text() override { return metrics; }
  Expected<void> healthy() override {
    if (is_healthy) {
      return {};
    }
    return make_error(ErrorKind::io, health_detail);
  }
  Expected<server::WebhookOutcome> gitlab_push(const std::string& delivery_id,
                                               const server::GitlabPush& push) override {
    pushes.emplace_back(delivery_id, push);
    return push_result;
  }
};

} // namespace softpack::testing
