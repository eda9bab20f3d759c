#include "artifacts/git/git_publisher.hpp"
#include "support/specs.hpp"
#include "util/command.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <functional>
#include <map>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace softpack;

namespace {

struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    char tmpl[] = "/tmp/softpack-git-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~Scratch() { std::filesystem::remove_all(dir); }
};

// The real runner, with a hook that runs once before the first `git push`, extra variables
// for every command, and a record of each command's argv and environment.
class HookedRunner final : public CommandRunner {
public:
  std::function<void()> before_first_push;
  int pushes = 0;
  std::map<std::string, std::string> extra_env;
  std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>> calls;
  // Answers instead of running the command when it returns a result.
  std::function<std::optional<CommandResult>(const std::vector<std::string>&)> intercept;

  Expected<CommandResult> run(const std::vector<std::string>& argv,
                              const CommandOptions& options) override {
    calls.emplace_back(argv, options.env);
    if (std::find(argv.begin(), argv.end(), "push") != argv.end() && pushes++ == 0 &&
        before_first_push) {
      before_first_push();
    }
    if (intercept) {
      if (auto r = intercept(argv)) {
        return *r;
      }
    }
    CommandOptions o = options;
    for (const auto& [k, v] : extra_env) {
      o.env[k] = v;
    }
    return m_real.run(argv, o);
  }

private:
  SystemCommandRunner m_real;
};

std::string git_out(const std::vector<std::string>& args) {
  SystemCommandRunner runner;
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runner.run(argv, {});
  REQUIRE(r.has_value());
  INFO(describe_argv(argv) << ": " << r->err);
  REQUIRE(r->ok());
  return std::string(trim(r->out));
}

spec::ValidSpec env(const std::string& name) {
  spec::EnvironmentSpec s;
  s.path = "users/alice";
  s.name = name;
  s.version = "1";
  s.packages = {{"xxhash", ""}};
  return testing::valid_spec(std::move(s));
}

std::filesystem::path make_out_dir(const std::filesystem::path& root, const std::string& tag,
                                   bool success) {
  const auto out = root / ("out-" + tag);
  for (const auto& f : artifacts::artifact_files(success)) {
    REQUIRE(write_file_atomic(out / f, f + " of " + tag + "\n"));
  }
  return out;
}

} // namespace

TEST_CASE("git publisher: one commit per build in softpack-core's layout", "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  artifacts::GitPublisherOptions o;
  o.remote = (s.dir / "remote.git").string();
  o.create_remote = true;
  o.mirror_dir = s.dir / "mirror.git";
  artifacts::GitPublisher publisher(runner, o);

  artifacts::PublishRequest req{env("first"), "build-1", true, make_out_dir(s.dir, "a", true)};
  auto r = publisher.publish(req);
  REQUIRE(r.has_value());
  CHECK(git_out({"-C", o.remote, "rev-parse", "main"}) == r->reference);
  CHECK(git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main"}) ==
        "environments/users/alice/first-1/.built_by_softpack\n"
        "environments/users/alice/first-1/README.md\n"
        "environments/users/alice/first-1/builder.out\n"
        "environments/users/alice/first-1/module\n"
        "environments/users/alice/first-1/singularity.def\n"
        "environments/users/alice/first-1/softpack.yml\n"
        "environments/users/alice/first-1/spack.lock");
  const std::string message = git_out({"-C", o.remote, "log", "-1", "--format=%B", "main"});
  CHECK_THAT(message, Catch::Contains("users/alice/first-1"));
  CHECK_THAT(message, Catch::Contains("Softpack-Build-Id: build-1"));
  CHECK(git_out({"-C", o.remote, "log", "-1", "--format=%an <%ae>", "main"}) ==
        "softpack-builder <softpack-builder@localhost>");

  SECTION("publishing the same files again makes no second commit") {
    auto again = publisher.publish(req);
    REQUIRE(again.has_value());
    CHECK(again->reference == r->reference);
    CHECK(git_out({"-C", o.remote, "rev-list", "--count", "main"}) == "1");
  }

  SECTION("a second environment is a second commit on top") {
    artifacts::PublishRequest second{env("second"), "build-2", true,
                                     make_out_dir(s.dir, "b", true)};
    auto r2 = publisher.publish(second);
    REQUIRE(r2.has_value());
    CHECK(git_out({"-C", o.remote, "rev-list", "--count", "main"}) == "2");
    CHECK(git_out({"-C", o.remote, "rev-parse", "main^"}) == r->reference);
  }

  SECTION("a failed rebuild writes builder.out and removes only the outcome files it wrote") {
    artifacts::PublishRequest failed{env("first"), "build-3", false,
                                     make_out_dir(s.dir, "c", false)};
    auto r3 = publisher.publish(failed);
    REQUIRE(r3.has_value());
    CHECK(git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main",
                   "environments/users/alice/first-1"}) ==
          "environments/users/alice/first-1/.built_by_softpack\n"
          "environments/users/alice/first-1/builder.out\n"
          "environments/users/alice/first-1/softpack.yml");
    CHECK(git_out({"-C", o.remote, "show", "main:environments/users/alice/first-1/builder.out"}) ==
          "builder.out of c");
  }
}

TEST_CASE("git publisher: never touches a file it did not write", "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  artifacts::GitPublisherOptions o;
  o.remote = (s.dir / "remote.git").string();
  o.create_remote = true;
  o.mirror_dir = s.dir / "mirror.git";
  artifacts::GitPublisher publisher(runner, o);
  REQUIRE(publisher.publish({env("first"), "build-1", true, make_out_dir(s.dir, "a", true)}));

  // softpack-core (or a user) commits meta.yml, a file of its own, and its own module.
  const auto work = s.dir / "core-clone";
  git_out({"clone", "--quiet", o.remote, work.string()});
  const auto env_dir = work / "environments/users/alice/first-1";
  REQUIRE(write_file_atomic(env_dir / "meta.yml", "tags: [x]\n"));
  REQUIRE(write_file_atomic(env_dir / "notes.txt", "mine\n"));
  REQUIRE(write_file_atomic(env_dir / "README.md", "core's readme\n"));
  git_out({"-C", work.string(), "add", "-A"});
  git_out({"-C", work.string(), "-c", "user.name=core", "-c", "user.email=core@localhost", "commit",
           "--quiet", "-m", "core's metadata"});
  git_out({"-C", work.string(), "push", "--quiet", "origin", "HEAD:main"});
  const std::string dir = "environments/users/alice/first-1";

  SECTION("a successful rebuild keeps them, and overwrites only its own files") {
    REQUIRE(publisher.publish({env("first"), "build-2", true, make_out_dir(s.dir, "b", true)}));
    CHECK(git_out({"-C", o.remote, "show", "main:" + dir + "/meta.yml"}) == "tags: [x]");
    CHECK(git_out({"-C", o.remote, "show", "main:" + dir + "/notes.txt"}) == "mine");
    CHECK(git_out({"-C", o.remote, "show", "main:" + dir + "/module"}) == "module of b");
  }

  SECTION("a failed rebuild keeps them, and the outcome file another wrote last") {
    REQUIRE(publisher.publish({env("first"), "build-3", false, make_out_dir(s.dir, "c", false)}));
    CHECK(git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main", dir}) ==
          dir + "/.built_by_softpack\n" + dir + "/README.md\n" + dir + "/builder.out\n" + dir +
              "/meta.yml\n" + dir + "/notes.txt\n" + dir + "/softpack.yml");
    CHECK(git_out({"-C", o.remote, "show", "main:" + dir + "/README.md"}) == "core's readme");
    CHECK(git_out({"-C", o.remote, "show", "main:" + dir + "/meta.yml"}) == "tags: [x]");
  }
}

TEST_CASE("git publisher: a push rejected because someone else pushed is rebuilt on the new tip",
          "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  artifacts::GitPublisherOptions o;
  o.remote = (s.dir / "remote.git").string();
  o.create_remote = true;
  o.mirror_dir = s.dir / "mirror.git";
  artifacts::GitPublisher publisher(runner, o);
  REQUIRE(publisher.publish({env("base"), "b0", true, make_out_dir(s.dir, "0", true)}));
  runner.pushes = 0;

  // Someone else pushes to the remote between our fetch and our push.
  runner.before_first_push = [&] {
    const auto clone = (s.dir / "other").string();
    git_out({"clone", "-q", o.remote, clone});
    REQUIRE(write_file_atomic(std::filesystem::path(clone) / "environments" / "users" / "bob" /
                                  "x-1" / "softpack.yml",
                              "description: by hand\n"));
    git_out({"-C", clone, "add", "-A"});
    git_out({"-C", clone, "-c", "user.name=Bob", "-c", "user.email=bob@example.org", "commit",
             "-qm", "hand-made"});
    git_out({"-C", clone, "push", "-q", "origin", "main"});
  };
  auto r = publisher.publish({env("mine"), "b1", true, make_out_dir(s.dir, "1", true)});
  REQUIRE(r.has_value());
  CHECK(runner.pushes == 2); // rejected once, then accepted
  CHECK(git_out({"-C", o.remote, "rev-list", "--count", "main"}) == "3");
  CHECK(git_out({"-C", o.remote, "log", "-1", "--format=%s", "main^"}) == "hand-made");
  // Both the other commit's file and ours are there.
  const std::string files = git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main"});
  CHECK_THAT(files, Catch::Contains("environments/users/bob/x-1/softpack.yml"));
  CHECK_THAT(files, Catch::Contains("environments/users/alice/mine-1/module"));
}

TEST_CASE("git publisher: errors name the problem", "[artifacts][git]") {
  Scratch s;
  SystemCommandRunner runner;
  artifacts::GitPublisherOptions o;
  o.mirror_dir = s.dir / "mirror.git";
  SECTION("an unreachable remote") {
    o.remote = (s.dir / "missing.git").string();
    artifacts::GitPublisher publisher(runner, o);
    auto r = publisher.publish({env("x"), "b", true, make_out_dir(s.dir, "x", true)});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
    CHECK_THAT(r.error().describe(), Catch::Contains("git ls-remote"));
  }
  SECTION("a missing artifact") {
    o.remote = (s.dir / "remote.git").string();
    o.create_remote = true;
    artifacts::GitPublisher publisher(runner, o);
    const auto out = make_out_dir(s.dir, "y", true);
    std::filesystem::remove(out / "module");
    auto r = publisher.publish({env("y"), "b", true, out});
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("module"));
  }
}

TEST_CASE("git publisher: redact_url removes userinfo", "[artifacts][git]") {
  using artifacts::redact_url;
  CHECK(redact_url("https://alice:t0ken@git.example.org/soft/artifacts.git") ==
        "https://git.example.org/soft/artifacts.git");
  CHECK(redact_url("https://alice@git.example.org:8443/a.git") ==
        "https://git.example.org:8443/a.git");
  CHECK(redact_url("https://alice:p@ss@host/a.git") == "https://host/a.git");
  CHECK(redact_url("ssh://git@host/a.git") == "ssh://host/a.git");
  CHECK(redact_url("https://alice:tok@host") == "https://host");
  // Nothing to remove.
  CHECK(redact_url("http://127.0.0.1:8080/a.git") == "http://127.0.0.1:8080/a.git");
  CHECK(redact_url("https://host/users/a@b/x.git") == "https://host/users/a@b/x.git");
  CHECK(redact_url("/srv/artifacts.git") == "/srv/artifacts.git");
  CHECK(redact_url("git@github.com:org/artifacts.git") == "git@github.com:org/artifacts.git");
  CHECK(redact_url("") == "");
}

TEST_CASE("git publisher: redact_urls cleans every URL in command output", "[artifacts][git]") {
  CHECK(artifacts::redact_urls(
            "fatal: unable to access 'https://alice:t0ken@host/a.git/': error 403\n"
            "To http://bob:pw@10.0.0.1:80/b.git\n ! [rejected]") ==
        "fatal: unable to access 'https://host/a.git/': error 403\n"
        "To http://10.0.0.1:80/b.git\n ! [rejected]");
  CHECK(artifacts::redact_urls("no URL here: user@host:path") == "no URL here: user@host:path");
}

TEST_CASE("git publisher: the secrets of a credential-store file", "[artifacts][git]") {
  CHECK(artifacts::credential_secrets("https://alice:t0k%40en@git.example.org\n"
                                      "\n"
                                      "  http://bob@127.0.0.1%3a8080  \n"
                                      "not a URL\n"
                                      "https://carol:@host\n") ==
        std::vector<std::string>{"t0k%40en", "t0k@en", "bob"});
  CHECK(artifacts::credential_secrets("").empty());
}

TEST_CASE("git publisher: the credential helper only reads the store file", "[artifacts][git]") {
  Scratch s;
  // A name that needs quoting for the shell git runs the helper with.
  const auto file = s.dir / "it's a store";
  const std::string content = "https://alice:t0ken@git.example.org\n";
  REQUIRE(write_file_atomic(file, content, 0600));
  const std::string helper = artifacts::read_only_credential_helper(file);
  SystemCommandRunner runner;
  auto credential = [&](const std::string& action, const std::string& input) {
    CommandOptions o;
    o.stdin_data = input;
    o.env["GIT_TERMINAL_PROMPT"] = "0";
    o.env["GIT_ASKPASS"] = "";
    auto r = runner.run({"git", "-c", "credential.helper=", "-c", "credential.helper=" + helper,
                         "credential", action},
                        o);
    REQUIRE(r.has_value());
    INFO(action << ": " << r->err);
    return *r;
  };
  auto fill = credential("fill", "protocol=https\nhost=git.example.org\n\n");
  REQUIRE(fill.ok());
  CHECK_THAT(fill.out, Catch::Contains("username=alice\npassword=t0ken\n"));
  // What git does after a refused password and after an accepted one: neither touches it.
  credential("reject", "protocol=https\nhost=git.example.org\nusername=alice\npassword=t0ken\n\n");
  credential("approve", "protocol=https\nhost=git.example.org\nusername=alice\npassword=new\n\n");
  auto after = read_file(file);
  REQUIRE(after.has_value());
  CHECK(*after == content);
}

TEST_CASE("git publisher: credentials and prompts in every git command", "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  artifacts::GitPublisherOptions o;
  o.remote = (s.dir / "remote.git").string();
  o.create_remote = true;
  o.mirror_dir = s.dir / "mirror.git";
  o.credentials_file = s.dir / "credentials";
  REQUIRE(write_file_atomic(o.credentials_file, "https://alice:t0ken@git.example.org\n", 0600));
  artifacts::GitPublisher publisher(runner, o);
  auto r = publisher.publish({env("x"), "b1", true, make_out_dir(s.dir, "x", true)});
  REQUIRE(r.has_value());
  CHECK(r->destination == "git " + o.remote + " main");
  int with_mirror = 0;
  for (const auto& [argv, env] : runner.calls) {
    INFO(describe_argv(argv));
    if (std::find(argv.begin(), argv.end(), "--git-dir") == argv.end()) {
      continue; // git init: no remote involved
    }
    ++with_mirror;
    REQUIRE(argv.size() > 5);
    CHECK(argv[1] == "-c");
    CHECK(argv[2] == "credential.helper=");
    CHECK(argv[3] == "-c");
    CHECK(argv[4] ==
          "credential.helper=" + artifacts::read_only_credential_helper(o.credentials_file));
    CHECK(env.at("GIT_TERMINAL_PROMPT") == "0");
    CHECK(env.at("GIT_ASKPASS") == "");
  }
  CHECK(with_mirror > 5);

  SECTION("an unreadable credentials file is a configuration error naming it") {
    std::filesystem::remove(o.credentials_file);
    auto again = publisher.publish({env("x"), "b1", true, make_out_dir(s.dir, "x", true)});
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().kind == ErrorKind::config);
    CHECK(again.error().context == o.credentials_file.string());
  }
}

TEST_CASE("git publisher: git's stderr in errors has no credentials", "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  runner.intercept = [](const std::vector<std::string>& argv) -> std::optional<CommandResult> {
    if (std::find(argv.begin(), argv.end(), "ls-remote") == argv.end()) {
      return std::nullopt;
    }
    CommandResult r;
    r.exit_code = 128;
    r.err = "remote: token t0k@en refused\n"
            "fatal: unable to access 'https://alice:t0k%40en@git.example.org/a.git/': 403\n";
    return r;
  };
  artifacts::GitPublisherOptions o;
  o.remote = "https://git.example.org/a.git";
  o.mirror_dir = s.dir / "mirror.git";
  o.credentials_file = s.dir / "credentials";
  REQUIRE(write_file_atomic(o.credentials_file, "https://alice:t0k%40en@git.example.org\n"));
  artifacts::GitPublisher publisher(runner, o);
  auto r = publisher.publish({env("x"), "b1", true, make_out_dir(s.dir, "x", true)});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::command);
  CHECK(r.error().describe() == "git ls-remote: exit 128: remote: token *** refused\n"
                                "fatal: unable to access 'https://git.example.org/a.git/': 403");
}

TEST_CASE("git publisher: ssh gets the key and never prompts", "[artifacts][git]") {
  Scratch s;
  // A stand-in ssh that records its arguments, one per line, and fails like a refused login.
  const auto bin = s.dir / "bin";
  REQUIRE(write_file_atomic(bin / "ssh",
                            "#!/bin/sh\nprintf '%s\\n' \"$@\" >\"$SSH_ARGS_FILE\"\n"
                            "echo 'Permission denied (publickey).' >&2\nexit 255\n",
                            0755));
  HookedRunner runner;
  runner.extra_env["PATH"] = bin.string() + ":" + std::getenv("PATH");
  runner.extra_env["SSH_ARGS_FILE"] = (s.dir / "ssh-args").string();
  artifacts::GitPublisherOptions o;
  o.remote = "ssh://git@git.example.invalid/artifacts.git";
  o.mirror_dir = s.dir / "mirror.git";
  SECTION("with a key file whose name needs quoting") {
    o.ssh_key_file = s.dir / "keys" / "it's a key";
    artifacts::GitPublisher publisher(runner, o);
    auto r = publisher.publish({env("x"), "b1", true, make_out_dir(s.dir, "x", true)});
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("Permission denied (publickey)"));
    auto args = read_file(s.dir / "ssh-args");
    REQUIRE(args.has_value());
    CHECK_THAT(*args, Catch::StartsWith("-i\n" + o.ssh_key_file.string() +
                                        "\n-o\nIdentitiesOnly=yes\n-o\nBatchMode=yes\n"));
    CHECK_THAT(*args, Catch::Contains("git.example.invalid"));
  }
  SECTION("without a key file: ssh's own configuration, in batch mode") {
    // As when the service's environment names no ssh command of its own.
    struct Unset {
      std::map<std::string, std::string> saved;
      Unset() {
        for (const char* name : {"GIT_SSH_COMMAND", "GIT_SSH"}) {
          if (const char* v = std::getenv(name)) {
            saved[name] = v;
          }
          ::unsetenv(name);
        }
      }
      ~Unset() {
        for (const auto& [k, v] : saved) {
          ::setenv(k.c_str(), v.c_str(), 1);
        }
      }
    } unset;
    artifacts::GitPublisher publisher(runner, o);
    auto r = publisher.publish({env("x"), "b1", true, make_out_dir(s.dir, "x", true)});
    REQUIRE_FALSE(r.has_value());
    auto args = read_file(s.dir / "ssh-args");
    REQUIRE(args.has_value());
    CHECK_THAT(*args, Catch::StartsWith("-o\nBatchMode=yes\n"));
    CHECK_THAT(*args, !Catch::Contains("-i\n"));
  }
}
