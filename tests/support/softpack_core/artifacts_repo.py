"""The stand-in's clone of the artifacts repository, kept the way softpack-core keeps its own.

softpack-core (softpack_core/artifacts.py) clones the repository once, bare, when it starts,
and never fetches again. It reads environments from the remote-tracking branch
(refs/remotes/origin/<branch>), builds each new tree on its local branch (HEAD), commits there
and pushes. A push that the remote refuses (someone else pushed first) raises; the local commit
stays, so every later push is refused too. This module does the same with the git command line,
and records every commit and push, refused ones included, in the event log.
"""
import os
import shutil
import subprocess
import tempfile


class GitError(Exception):
    """A git operation failed (pygit2.GitError in core: not a RuntimeError)."""


class PushRejected(GitError):
    """The remote refused the push."""


class ArtifactsRepo:
    def __init__(self, url, clone_dir, branch, author, email, events):
        self.url = url
        self.git_dir = os.path.join(clone_dir, ".git")
        self.branch = branch
        self.author = author
        self.email = email
        self.events = events
        self.local_ref = "refs/heads/" + branch
        self.tracking_ref = "refs/remotes/origin/" + branch

    def git(self, *args, data=None, env=None, check=True):
        run_env = dict(os.environ, GIT_DIR=self.git_dir, GIT_TERMINAL_PROMPT="0",
                       LC_ALL="C")
        run_env.update(env or {})
        r = subprocess.run(["git", *args], input=data, env=run_env, capture_output=True,
                           timeout=60)
        if check and r.returncode != 0:
            raise GitError("git %s: %s" % (" ".join(args), r.stderr.decode(errors="replace").strip()))
        return r

    def out(self, *args, **kwargs):
        return self.git(*args, **kwargs).stdout.decode().strip()

    def clone(self):
        """Core's clone_repo: removes <path>/.git and clones the branch bare, with
        remote-tracking branches (as libgit2's bare clone leaves them)."""
        if os.path.isdir(self.git_dir):
            shutil.rmtree(self.git_dir)
        os.makedirs(self.git_dir)
        self.git("init", "--quiet", "--bare")
        self.git("remote", "add", "origin", self.url)
        self.git("fetch", "--quiet", "origin")
        head = self.git("rev-parse", "--verify", "--quiet", self.tracking_ref + "^{commit}",
                        check=False)
        if head.returncode != 0:
            raise GitError("the artifacts repository %s has no branch %s" % (self.url, self.branch))
        self.git("update-ref", self.local_ref, head.stdout.decode().strip())
        self.git("symbolic-ref", "HEAD", self.local_ref)
        self.events.add("clone", url=self.url, branch=self.branch,
                        commit=head.stdout.decode().strip())

    # Reading, at the remote-tracking branch (core's Artifacts.tree()).

    def exists(self, path):
        return self.git("cat-file", "-e", "%s:%s" % (self.tracking_ref, path),
                        check=False).returncode == 0

    def entries(self, path):
        """name -> (type, oid) of the tree at path, or None when there is no tree there."""
        r = self.git("ls-tree", "-z", "%s:%s" % (self.tracking_ref, path), check=False)
        if r.returncode != 0:
            return None
        found = {}
        for line in r.stdout.split(b"\0"):
            if line:
                info, name = line.split(b"\t", 1)
                _, kind, oid = info.split(b" ")
                found[name.decode()] = (kind.decode(), oid.decode())
        return found

    def blob(self, oid):
        return self.git("cat-file", "blob", oid).stdout

    # Writing, on the local branch (core's create_files / remove / commit_and_push).

    def _index(self):
        return tempfile.NamedTemporaryFile(prefix="standin-index-", dir=self.git_dir)

    def _unindex(self, pathspec, env):
        """Drops the index entries under pathspec (mode 0 lines of --index-info: plumbing that
        needs no work tree)."""
        listed = self.git("ls-files", "-z", "--", pathspec, env=env).stdout
        lines = b"".join(b"0 " + b"0" * 40 + b"\t" + p + b"\0" for p in listed.split(b"\0") if p)
        if lines:
            self.git("update-index", "-z", "--index-info", data=lines, env=env)

    def create_files(self, folder, files, new_folder=False):
        """The tree of HEAD with `files` ((name, bytes) pairs) written into `folder`.

        As core's create_files with overwrite=True: with new_folder the folder is replaced by
        just these files; otherwise it must exist (KeyError). Then the new tree may differ from
        HEAD's in at least one and at most len(files) files (RuntimeError)."""
        root = self.out("rev-parse", "HEAD^{tree}")
        with self._index() as index:
            env = {"GIT_INDEX_FILE": index.name}
            self.git("read-tree", root, env=env)
            if new_folder:
                self._unindex(folder + "/", env)
            elif self.git("cat-file", "-t", "%s:%s" % (root, folder), check=False).stdout != b"tree\n":
                raise KeyError(folder)
            for name, data in files:
                if not name or "/" in name or name in (".", "..", ".git"):
                    raise GitError("failed to insert entry: invalid name for a tree entry - %s" % name)
                oid = self.out("hash-object", "-w", "--stdin", data=data)
                self.git("update-index", "--add", "--cacheinfo",
                         "100644,%s,%s/%s" % (oid, folder, name), env=env)
            tree = self.out("write-tree", env=env)
        changed = self.out("diff-tree", "-r", "--name-only", root, tree).splitlines()
        if len(changed) > len(files):
            raise RuntimeError("Too many changes to the repo")
        if len(changed) < 1:
            raise RuntimeError("No changes made to the environment")
        return tree

    def remove(self, folder, name):
        """The tree of HEAD without folder/name (core's remove)."""
        root = self.out("rev-parse", "HEAD^{tree}")
        with self._index() as index:
            env = {"GIT_INDEX_FILE": index.name}
            self.git("read-tree", root, env=env)
            self._unindex("%s/%s" % (folder, name), env)
            return self.out("write-tree", env=env)

    def commit_and_push(self, tree, message, files=()):
        """Commits `tree` on the local branch, then pushes the branch without fetching first.

        A refused push raises PushRejected after the commit was made, as in core."""
        parent = self.out("rev-parse", self.local_ref)
        ident = {"GIT_AUTHOR_NAME": self.author, "GIT_AUTHOR_EMAIL": self.email,
                 "GIT_COMMITTER_NAME": self.author, "GIT_COMMITTER_EMAIL": self.email}
        commit = self.out("commit-tree", tree, "-p", parent, "-m", message, env=ident)
        self.git("update-ref", self.local_ref, commit, parent)
        self.events.add("commit", commit=commit, message=message, files=list(files))
        r = self.git("push", "--porcelain", "origin", "%s:%s" % (self.local_ref, self.local_ref),
                     check=False)
        detail = (r.stdout + r.stderr).decode(errors="replace").strip()
        if r.returncode != 0:
            self.events.add("push_rejected", commit=commit, message=message, detail=detail)
            raise PushRejected("push of %s (%s) was refused: %s" % (commit, message, detail))
        self.events.add("push", commit=commit, message=message)
        return commit

    def sync_state(self):
        """The local branch, the remote-tracking branch and the remote's branch (ls-remote,
        which reads the remote without changing the clone)."""
        remote = self.git("ls-remote", "origin", self.local_ref, check=False)
        return {
            "local": self.out("rev-parse", self.local_ref),
            "tracking": self.out("rev-parse", self.tracking_ref),
            "remote": remote.stdout.decode().split("\t")[0] if remote.returncode == 0 else None,
        }
