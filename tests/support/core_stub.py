#!/usr/bin/python3
"""A stand-in for softpack-core's two endpoints the builder calls, for the integration tests.

    core_stub.py PORT_FILE LOG_FILE [FAIL_FIRST_UPLOADS]

Listens on 127.0.0.1 (a free port, written to PORT_FILE). POST /resend-pending-builds and
POST /upload?<env path> are answered 200, except the first FAIL_FIRST_UPLOADS uploads, which get
503. An upload's multipart/form-data body is checked the way softpack-core reads it (every part
a "file" field with a filename) and each request is logged as one JSON line:
{"path": ..., "query": ..., "status": ..., "files": {filename: sha256}}.
"""
import email.parser
import email.policy
import hashlib
import http.server
import json
import sys
import urllib.parse

port_file, log_file = sys.argv[1], sys.argv[2]
fail_first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
uploads = 0


def parse_files(content_type, body):
    """filename -> sha256 of each part, or an error string."""
    if not content_type.startswith("multipart/form-data; boundary="):
        return "not multipart/form-data: " + content_type
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        return "malformed multipart body"
    files = {}
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        if part.get_param("name", header="content-disposition") != "file":
            return "a part that is not a file field: " + disposition
        name = part.get_filename()
        if not name:
            return "a part without a filename: " + disposition
        files[name] = hashlib.sha256(part.get_payload(decode=True) or b"").hexdigest()
    return files


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        global uploads
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        entry = {"path": url.path, "query": url.query}
        status = 200
        if url.path == "/upload":
            files = parse_files(self.headers.get("Content-Type", ""), body)
            if isinstance(files, str):
                status, entry["error"] = 400, files
            else:
                entry["files"] = files
                uploads += 1
                if uploads <= fail_first:
                    status = 503
        elif url.path != "/resend-pending-builds":
            status = 404
        entry["status"] = status
        with open(log_file, "a") as log:
            log.write(json.dumps(entry) + "\n")
        reply = b'{"message": "ok"}' if status == 200 else b'{"error": "unavailable"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
