// Seeds a softpack-builder store with N finished builds (for tests/bench/http): real rows
// written through the real Store, as the service would have left them.
#include "service/service.hpp"
#include "store/store.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace softpack;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB_PATH COUNT\n", argv[0]);
    return 2;
  }
  auto store = store::Store::open(argv[1]);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().describe().c_str());
    return 1;
  }
  const int count = std::atoi(argv[2]);
  const auto base = std::chrono::system_clock::now() - std::chrono::hours(24 * 30);
  for (int i = 0; i < count; ++i) {
    flow::BuildStatus b;
    b.id = "seed-" + std::to_string(100000 + i);
    spec::EnvironmentSpec s;
    s.path = "users/user" + std::to_string(i % 50);
    s.name = "env" + std::to_string(i);
    s.version = "1";
    s.description = "A seeded environment for the HTTP benchmark.";
    s.packages = {{"xxhash", "0.8.1"}, {"py-numpy", "1.26.4"}};
    b.spec = spec::ValidSpec::check(std::move(s)).value();
    b.state = i % 10 == 0 ? flow::BuildState::failed : flow::BuildState::published;
    b.requested = base + std::chrono::minutes(i);
    b.started = b.requested + std::chrono::seconds(30);
    b.done = b.requested + std::chrono::minutes(20);
    b.build_dir = "/nonexistent/builds/" + b.id;
    for (const char* stage : {"concretize", "build", "module"}) {
      flow::StageStatus st;
      st.name = stage;
      st.job_name = "sp.x." + b.spec->name + "-1." + stage;
      st.job_id = scheduler::JobId{std::to_string(1000 + i * 3)};
      st.state = scheduler::JobState::completed;
      st.exit_code = 0;
      st.submitted = b.requested;
      st.started = b.started;
      st.ended = b.done;
      b.stages.push_back(st);
    }
    if (auto r = (*store)->save(service::to_record(b, "slurm")); !r) {
      std::fprintf(stderr, "%s\n", r.error().describe().c_str());
      return 1;
    }
  }
  std::printf("seeded %d builds into %s\n", count, argv[1]);
  return 0;
}
