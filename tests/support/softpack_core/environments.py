"""softpack-core's environment rules: creation, the builder call, /upload, /resend-pending-builds,
/build-status, and the environment as core's from_artifact reads it. Written from softpack_core/artifacts.py,
softpack_core/schemas/environment.py and softpack_core/service.py at commit cdc96225 (see
README.md); only the behaviour and the formats are the same, not the code.
"""
import datetime
import http.client
import json
import re
import statistics
import time
import urllib.parse
from pathlib import PurePosixPath

import yaml

ENVIRONMENTS_ROOT = "environments"
USERS_FOLDER = "users"
GROUPS_FOLDER = "groups"
SOFTPACK_FILE = "softpack.yml"
BUILDER_OUT = "builder.out"
MODULE_FILE = "module"
README_FILE = "README.md"
META_FILE = "meta.yml"
SPACK_LOCK = "spack.lock"
BUILT_BY_SOFTPACK = ".built_by_softpack"
GENERATED_FROM_MODULE = ".generated_from_module"
CONCRETIZATION_PHRASE = "concretization failed for the following reasons:"
BUILDER_TIMEOUT = 5.0  # httpx's default timeout; core sets none


class CoreCrash(Exception):
    """Core would raise something other than KeyError here (e.g. Box refusing a YAML file that
    is not a mapping): an HTTP 500, or a failed start when it happens while loading."""


def exception_text(e):
    """What traceback.format_exception_only gives for e."""
    return "%s: %s\n" % (type(e).__name__, e)


def load_box_yaml(data, what):
    """Box.from_yaml: a mapping, else core fails (BoxError, not a KeyError)."""
    if not data:
        raise CoreCrash("BoxError: from_yaml requires a string or filename (%s is empty)" % what)
    try:
        value = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise CoreCrash("%s is not valid YAML: %s" % (what, e)) from e
    if not isinstance(value, dict):
        raise CoreCrash("BoxError: %s is not a YAML mapping" % what)
    return value


def package_from_name(name):
    """Package.from_name: 'xxhash@0.8.1' -> xxhash, 0.8.1; otherwise the whole string."""
    if not isinstance(name, str):
        raise CoreCrash("AttributeError: a package in softpack.yml is not a string: %r" % (name,))
    parts = name.split("@", 2)
    if len(parts) == 2:
        return {"name": parts[0], "version": parts[1]}
    return {"name": name, "version": None}


def validate_input(env):
    """EnvironmentInput.validate: None, or an InvalidInputError body."""
    for key in ("name", "path", "description", "packages"):
        if len(env[key]) == 0:
            return {"error": "all fields must be filled in"}
    if not re.fullmatch(r"^[a-zA-Z0-9_-][a-zA-Z0-9_.-]*$", env["name"]):
        return {"error": "name must only contain alphanumerics, dash, and underscore"}
    if not any(env["path"].startswith(d + "/") for d in (USERS_FOLDER, GROUPS_FOLDER)):
        return {"error": "Invalid path"}
    if not re.fullmatch(r"^[^/]+/[a-zA-Z0-9_-]+$", env["path"]):
        return {"error": "user/group subdirectory must only contain alphanumerics, dash, "
                         "and underscore"}
    for tag in env.get("tags") or []:
        if tag != tag.strip():
            return {"error": "Tags must not contain leading or trailing whitespace"}
        if re.fullmatch(r"[a-zA-Z0-9 ._-]+", tag) is None:
            return {"error": "Tags must contain only alphanumerics, dots, underscores, dashes, "
                             "and spaces"}
        if re.search(r"\s\s", tag) is not None:
            return {"error": "Tags must not contain runs of multiple spaces"}
    return None


def input_from_path(environment_path):
    """EnvironmentInput.from_path: the placeholder environment /upload creates."""
    dirs = environment_path.split("/")
    name = dirs.pop()
    return {"name": name, "path": "/".join(dirs), "description": "placeholder description",
            "packages": [{"name": "placeholder", "version": None}], "username": "",
            "tags": None}


def env_dir(path, name=None):
    """The environment's folder in the repository (core builds it with pathlib, which drops
    empty and '.' components)."""
    parts = [ENVIRONMENTS_ROOT, path] + ([name] if name is not None else [])
    return str(PurePosixPath(*parts))


class Core:
    def __init__(self, repo, builder_host, builder_port, events, lock):
        self.repo = repo
        self.builder_host = builder_host
        self.builder_port = builder_port
        self.events = events
        self.lock = lock

    # The environment as core sees it (Artifacts.Object.spec + Environment.from_artifact).

    def read(self, env_path):
        """Core's view of environments/<env_path> at its remote-tracking branch:
        exists, visible (from_artifact gave an Environment), the Environment's fields, the files
        in the folder, and 'crash' when core would fail on it."""
        env_path = str(PurePosixPath(env_path))
        entries = self.repo.entries(env_dir(env_path))
        view = {"environment": env_path, "exists": entries is not None, "visible": False,
                "files": sorted(entries) if entries is not None else []}
        if entries is None:
            return view
        try:
            view.update(self._from_artifact(env_path, entries))
            view["visible"] = not view.pop("force_hidden")
        except KeyError as e:
            view["hidden_because"] = "KeyError: %s (core's from_artifact returns None)" % e
        except CoreCrash as e:
            view["crash"] = str(e)
        return view

    def _blob(self, entries, name):
        kind, oid = entries[name]
        if kind != "blob":
            raise CoreCrash("%s is a %s, not a file" % (name, kind))
        return self.repo.blob(oid)

    def _text(self, entries, name):
        try:
            return self._blob(entries, name).decode()
        except UnicodeDecodeError as e:
            raise CoreCrash("%s is not UTF-8: %s" % (name, e)) from e

    def _from_artifact(self, env_path, entries):
        if SOFTPACK_FILE not in entries:
            raise KeyError(SOFTPACK_FILE)
        info = load_box_yaml(self._blob(entries, SOFTPACK_FILE), SOFTPACK_FILE)
        if "packages" not in info:
            raise KeyError("packages")
        packages = [package_from_name(p) for p in info["packages"] or []]
        if MODULE_FILE in entries:
            state = "ready"
        elif BUILDER_OUT in entries:
            state = "failed"
        elif any(p["name"].startswith("*") for p in packages):
            state = "waiting"
        else:
            state = "queued"
        meta = {}
        if META_FILE in entries:
            meta = load_box_yaml(self._blob(entries, META_FILE), META_FILE)
        interpreters = {"r": None, "python": None}
        if SPACK_LOCK in entries:
            names = {p["name"] for p in packages}
            if not ("r" in names and "python" in names):
                try:
                    lock = json.loads(self._blob(entries, SPACK_LOCK))
                    specs = lock.get("concrete_specs", {})
                except (ValueError, AttributeError) as e:
                    raise CoreCrash("spack.lock is not a JSON object: %s" % e) from e
                for spec in specs.values():
                    for interp, pkg in (("r", "r"), ("python", "python")):
                        if pkg not in names and interpreters[interp] is None \
                                and spec.get("name", "") == pkg:
                            interpreters[interp] = spec.get("version", "")
        if "description" not in info:
            raise KeyError("description")
        path = PurePosixPath(env_path)
        return {
            "name": path.name,
            "path": str(path.parent),
            "description": info["description"],
            "packages": packages,
            "state": state,
            "readme": self._text(entries, README_FILE) if README_FILE in entries else "",
            "type": "module" if GENERATED_FROM_MODULE in entries else "softpack",
            "tags": meta.get("tags", []),
            "username": meta.get("username"),
            "failure_reason": meta.get("failure_reason"),
            "hidden": meta.get("hidden", False),
            "force_hidden": meta.get("force_hidden", False),
            "created": meta.get("created", 0),
            "interpreters": interpreters,
            "meta": meta,
        }

    def all_environments(self):
        """Environment.iter(): every visible environment under environments/users/*/ and
        environments/groups/*/, sorted by path (core's cache order)."""
        found = []
        for top in (USERS_FOLDER, GROUPS_FOLDER):
            owners = self.repo.entries(env_dir(top)) or {}
            for owner, (kind, _) in owners.items():
                if kind != "tree":
                    continue
                for name in self.repo.entries(env_dir(top, owner)) or {}:
                    found.append("%s/%s/%s" % (top, owner, name))
        found.sort(key=lambda p: PurePosixPath(p).parts)
        views = []
        for path in found:
            view = self.read(path)
            if "crash" in view:
                raise CoreCrash("environments/%s: %s" % (path, view["crash"]))
            if view["visible"]:
                views.append(view)
        return views

    # Writing (Environment.create_new_env, write_artifacts, update_metadata, create).

    def create_new_env(self, env, env_type):
        error = validate_input(env)
        if error is not None:
            return error
        if self.repo.exists(env_dir(env["path"], env["name"])):
            return {"path": env["path"], "name": env["name"],
                    "error": "This name is already used in this location"}
        definition = yaml.dump({
            "description": env["description"],
            "packages": [p["name"] + ("@" + p["version"] if p.get("version") else "")
                         for p in env["packages"]],
        })
        meta = {"tags": sorted(set(env.get("tags") or [])), "created": round(time.time())}
        if env.get("username"):
            meta["username"] = env["username"]
        files = [(env_type, b""), (SOFTPACK_FILE, definition.encode()),
                 (META_FILE, yaml.dump(meta).encode())]
        folder = env_dir(env["path"], env["name"])
        try:
            with self.lock:
                tree = self.repo.create_files(folder, files, new_folder=True)
                self.repo.commit_and_push(tree, "create environment folder",
                                          [folder + "/" + n for n, _ in files])
        except RuntimeError as e:
            return {"error": exception_text(e)}
        return {"message": "Successfully created environment in artifacts repo"}

    def write_artifacts(self, folder_path, files, message="write artifact"):
        """Core's write_artifacts: (True, body) or (False, InvalidInputError body)."""
        folder = env_dir(folder_path)
        try:
            with self.lock:
                tree = self.repo.create_files(folder, files)
                self.repo.commit_and_push(tree, message, [folder + "/" + n for n, _ in files])
        except Exception as e:  # core catches everything here, the refused push included
            return False, {"error": exception_text(e)}
        return True, {"message": "Successfully written artifact(s)"}

    def update_metadata(self, env_path, key, value):
        """Environment.update_metadata: meta.yml re-read at the remote-tracking branch, one key
        set or deleted, written back (as Box.to_yaml: keys in their order); errors ignored."""
        entries = self.repo.entries(env_dir(env_path)) or {}
        meta = load_box_yaml(self._blob(entries, META_FILE), META_FILE) \
            if META_FILE in entries else {}
        if value is None:
            del meta[key]
        else:
            meta[key] = value
        ok, body = self.write_artifacts(
            env_path, [(META_FILE, yaml.dump(meta, sort_keys=False,
                                             default_flow_style=False).encode())],
            "update metadata")
        if not ok:
            self.events.add("metadata_not_written", environment=env_path, key=key,
                            error=body["error"])

    def create(self, env):
        """Environment.create: the next free version <name>-N (reusing a failed one, which is
        removed first), the folder committed and pushed, then the builder called."""
        if not env["name"]:
            return {"error": "environment name must not be blank"}
        version = 1
        while self.repo.exists(env_dir(env["path"], "%s-%d" % (env["name"], version))):
            version += 1
        if version != 1:
            previous = "%s-%d" % (env["name"], version - 1)
            prev = self.read(str(PurePosixPath(env["path"], previous)))
            if prev.get("visible") and prev.get("state") == "failed":
                version -= 1
                if len(PurePosixPath(env["path"]).parts) != 2:
                    raise ValueError("Not a valid environment path")
                with self.lock:
                    tree = self.repo.remove(env_dir(env["path"]), previous)
                    self.repo.commit_and_push(tree, "remove failed environment",
                                              [env_dir(env["path"], previous)])
        env = dict(env, name="%s-%d" % (env["name"], version))
        response = self.create_new_env(env, BUILT_BY_SOFTPACK)
        if "message" not in response:
            return response
        builder_error = self.submit_env_to_builder(env)
        if builder_error is not None:
            return builder_error
        return {"message": "Successfully scheduled environment creation"}

    def submit_env_to_builder(self, env):
        """Environment.submit_env_to_builder: None, or an error body."""
        m = re.fullmatch(r"^(.*)-(\d+)$", env["name"])
        if not m:
            return {"error": "could not parse version from name: %r" % env["name"]}
        if any(p["name"].startswith("*") for p in env["packages"]):
            self.events.add("builder_not_called", environment=env["path"] + "/" + env["name"],
                            reason="requested recipes")
            return None
        body = {
            "name": "%s/%s" % (env["path"], m.group(1)),
            "version": str(m.group(2)),
            "model": {
                "description": env["description"],
                "packages": [{"name": p["name"], "version": p.get("version")}
                             for p in env["packages"]],
            },
        }
        url = "http://%s:%d/environments/build" % (self.builder_host, self.builder_port)
        try:
            conn = http.client.HTTPConnection(self.builder_host, self.builder_port,
                                              timeout=BUILDER_TIMEOUT)
            try:
                conn.request("POST", "/environments/build", body=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                answer = r.read().decode(errors="replace")
            finally:
                conn.close()
            if not 200 <= r.status <= 299:
                raise BuilderHTTPError("%d %s for url '%s': %s" % (r.status, r.reason, url, answer))
        except Exception as e:  # core: any exception or non-2xx answer is a BuilderError
            error = "Connection to builder failed: " + exception_text(e)
            self.events.add("builder_request", environment=env["path"] + "/" + env["name"],
                            body=body, ok=False, error=error)
            return {"error": error}
        self.events.add("builder_request", environment=env["path"] + "/" + env["name"],
                        body=body, ok=True, status=r.status, answer=answer)
        return None

    # The two endpoints the builder calls.

    def upload(self, query, files):
        """POST /upload?<path>: (status, body). files: (filename, bytes) in request order."""
        env_path = urllib.parse.unquote(query)
        record = {"environment": env_path, "files": [n for n, _ in files]}
        path = PurePosixPath(env_path)
        if not self.repo.exists(env_dir(str(path.parent), path.name)):
            response = self.create_new_env(input_from_path(env_path), BUILT_BY_SOFTPACK)
            if "message" not in response:
                # Core returns the error object itself, with 200.
                self.events.add("upload", status=200, answer=response, **record)
                return 200, response
        view = self.read(env_path)
        if "crash" in view:
            raise CoreCrash(view["crash"])
        new_state = "queued"
        to_write = []
        if view["visible"]:
            walked = True
            for name, data in files:
                if walked and name == BUILDER_OUT:
                    new_state = "failed"
                    try:
                        contents = data.decode()
                    except UnicodeDecodeError as e:
                        raise CoreCrash("builder.out is not UTF-8: %s" % e) from e
                    reason = "concretization" if CONCRETIZATION_PHRASE in contents else "build"
                    self.update_metadata(env_path, "failure_reason", reason)
                    view["failure_reason"] = reason
                if walked and name == MODULE_FILE:
                    new_state = "ready"
                    walked = False  # core's walk stops here; every file is still written
                to_write.append((name, data))
            if new_state != "queued" and view["username"]:
                self.events.add("email", to=view["username"], state=new_state,
                                failure_reason=view["failure_reason"])
                self.update_metadata(env_path, "username", None)
        else:
            to_write = list(files)
        ok, body = self.write_artifacts(env_path, to_write)
        record["walk_state"] = new_state
        if not ok:
            self.events.add("upload", status=500, error=body["error"], **record)
            return 500, None
        self.events.add("upload", status=200, **record)
        return 200, body

    def resend_pending_builds(self):
        """POST /resend-pending-builds: every queued environment (not waiting, failed or ready)
        sent to the builder again, in core's cache order."""
        successes = failures = 0
        resent = []
        for view in self.all_environments():
            if view["state"] != "queued":
                continue
            env = {"name": view["name"], "path": view["path"],
                   "description": view["description"], "packages": view["packages"]}
            resent.append(view["environment"])
            if self.submit_env_to_builder(env) is None:
                successes += 1
            else:
                failures += 1
        status = 200 if failures == 0 else 500
        body = {"message": "Successfully triggered resends" if failures == 0
                else "Failed to trigger all resends",
                "successes": successes, "failures": failures}
        self.events.add("resend", status=status, environments=resent, **body)
        return status, body


    def build_status(self):
        """POST /build-status: the builder's GET /environments/status read as core's
        BuildStatus.get_all does (a failed request counts as an empty list), then the average
        build time, the queue and the builds running."""
        url = "http://%s:%d/environments/status" % (self.builder_host, self.builder_port)
        try:
            conn = http.client.HTTPConnection(self.builder_host, self.builder_port,
                                              timeout=BUILDER_TIMEOUT)
            try:
                conn.request("GET", "/environments/status")
                r = conn.getresponse()
                answer = r.read()
            finally:
                conn.close()
            if not 200 <= r.status <= 299:
                raise BuilderHTTPError("%d %s for url '%s'" % (r.status, r.reason, url))
            listed = json.loads(answer)
        except Exception as e:
            self.events.add("build_status", ok=False,
                            error="Connection to builder failed: " + exception_text(e))
            listed = []
        try:
            statuses = [{
                "name": s["Name"],
                "requested": datetime.datetime.fromisoformat(s["Requested"]),
                "start": datetime.datetime.fromisoformat(s["BuildStart"])
                if s["BuildStart"] else None,
                "done": datetime.datetime.fromisoformat(s["BuildDone"])
                if s["BuildDone"] else None,
            } for s in listed]
            times = [(s["done"] - s["start"]).total_seconds() for s in statuses
                     if s["done"] is not None and s["start"] is not None]
            queued = sorted((s for s in statuses if s["start"] is None),
                            key=lambda s: s["requested"])
        except (KeyError, TypeError, ValueError) as e:
            raise CoreCrash("core cannot read the builder's status: " + exception_text(e)) from e
        body = {
            "avgBuildSeconds": statistics.mean(times) if times else None,
            "queue": [{"name": s["name"], "requested": s["requested"].isoformat()}
                      for s in queued if s["requested"] is not None],
            "building": [{"name": s["name"], "buildStart": s["start"].isoformat()}
                         for s in statuses if s["start"] is not None and s["done"] is None],
        }
        self.events.add("build_status", ok=True, entries=len(statuses), **body)
        return body


class BuilderHTTPError(Exception):
    """A non-2xx answer from the builder (httpx's HTTPStatusError in core)."""
