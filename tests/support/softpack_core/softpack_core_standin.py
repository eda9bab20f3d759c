#!/usr/bin/python3
"""A stand-in for softpack-core, for softpack-builder's conformance test. See README.md.

    softpack_core_standin.py --artifacts URL --clone DIR --builder-port PORT
                             --port-file FILE --events FILE [--port N] [--branch main]
                             [--builder-host 127.0.0.1] [--author softpack]
                             [--email softpack@sanger.ac.uk] [--upload-answer-delay SECONDS]

At start it clones the artifacts repository (bare, into DIR/.git, removing an old clone) and
reads every environment, as core does; then it listens on 127.0.0.1 (port N, default any free
port, written to FILE). Every clone, commit, push (refused ones too), builder request, upload,
resend and e-mail core would send is appended to the events file as one JSON line.
"""
import argparse
import asyncio
import datetime
import json
import os
import socket
import sys
import threading
from typing import List, Optional

import uvicorn
from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from artifacts_repo import ArtifactsRepo  # noqa: E402
from environments import Core, CoreCrash, exception_text  # noqa: E402


class Events:
    """The event log: in memory for /standin/events, and one JSON line each in a file."""

    def __init__(self, path):
        self.path = path
        self.items = []
        self.lock = threading.Lock()

    def add(self, kind, **fields):
        event = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                 "kind": kind, **fields}
        with self.lock:
            self.items.append(event)
            with open(self.path, "a") as f:
                f.write(json.dumps(event) + "\n")
        if kind == "push_rejected":
            print("softpack-core stand-in: PUSH REJECTED: %s" % event["detail"], file=sys.stderr,
                  flush=True)


class PackageInput(BaseModel):
    name: str
    version: Optional[str] = None


class EnvironmentInput(BaseModel):
    """Core's EnvironmentInput (the body of its POST /create-environment)."""
    name: str
    path: str
    description: str
    packages: List[PackageInput]
    username: Optional[str] = ""
    tags: Optional[List[str]] = None


def internal_error(events, where, e):
    """What an exception escaping a core handler gives: 500 'Internal Server Error'."""
    events.add("error", where=where, error=exception_text(e))
    return PlainTextResponse("Internal Server Error", status_code=500)


def make_app(core, events, answer_delay=0.0):
    app = FastAPI()

    # Core's handler is a plain `def` (run in a thread pool), as here.
    @app.post("/create-environment")
    def create_environment(env: EnvironmentInput):
        try:
            body = core.create(env.dict())
        except Exception as e:  # e.g. a refused push: core lets it escape
            return internal_error(events, "/create-environment", e)
        events.add("create", input=env.dict(), answer=body)
        return body

    # Core's /upload and /resend-pending-builds are `async def` handlers that call git and the
    # builder synchronously, so nothing else is served meanwhile; these do the same.
    @app.post("/upload")
    async def upload(request: Request, file: List[UploadFile]):
        files = [(f.filename or "", await f.read()) for f in file]
        try:
            status, body = core.upload(request.url.query, files)
        except Exception as e:
            return internal_error(events, "/upload?" + request.url.query, e)
        if answer_delay and status == 200:
            # Fault injection: the upload is committed, but the answer comes late (a slow
            # push, a lost response), so the builder may give up on it and upload again.
            await asyncio.sleep(answer_delay)
        if status != 200:
            return PlainTextResponse("Internal Server Error", status_code=status)
        return body

    @app.post("/resend-pending-builds")
    async def resend_pending_builds():
        try:
            status, body = core.resend_pending_builds()
        except Exception as e:
            return internal_error(events, "/resend-pending-builds", e)
        return JSONResponse(body, status_code=status)

    @app.post("/build-status")
    async def build_status():
        try:
            return core.build_status()
        except Exception as e:
            return internal_error(events, "/build-status", e)

    @app.get("/get-environments")
    def get_environments():
        return core.all_environments()

    # The stand-in's own queries.

    @app.get("/standin/environment")
    def environment(request: Request):
        """Core's view of the environment named by the raw query string."""
        return core.read(request.url.query)

    @app.get("/standin/events")
    def standin_events():
        with events.lock:
            return list(events.items)

    @app.get("/standin/git")
    def standin_git():
        with events.lock:
            rejected = [e for e in events.items if e["kind"] == "push_rejected"]
            pushes = sum(1 for e in events.items if e["kind"] == "push")
        return {"pushes": pushes, "rejected_pushes": rejected, **core.repo.sync_state()}

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True, help="the artifacts repository URL")
    parser.add_argument("--clone", required=True, help="core's artifacts.path")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--author", default="softpack")
    parser.add_argument("--email", default="softpack@sanger.ac.uk")
    parser.add_argument("--builder-host", default="127.0.0.1")
    parser.add_argument("--builder-port", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--events", required=True)
    parser.add_argument("--upload-answer-delay", type=float, default=0.0,
                        help="fault injection: answer an upload that wrote files this many seconds late")
    args = parser.parse_args()

    events = Events(args.events)
    repo = ArtifactsRepo(args.artifacts, args.clone, args.branch, args.author, args.email, events)
    repo.clone()
    core = Core(repo, args.builder_host, args.builder_port, events, threading.Lock())
    try:
        loaded = core.all_environments()
    except CoreCrash as e:
        events.add("start_failed", error=str(e))
        print("softpack-core stand-in: core would not start: %s" % e, file=sys.stderr)
        return 1
    events.add("started", environments=[v["environment"] for v in loaded])

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server = uvicorn.Server(uvicorn.Config(make_app(core, events, args.upload_answer_delay),
                                             log_level="info"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
