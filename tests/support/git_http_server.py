#!/usr/bin/python3
"""A smart-HTTP git server for tests only: git-http-backend behind HTTP Basic auth.

    git_http_server.py --root DIR --user NAME --password SECRET --port-file FILE [--port N]

Serves the bare repositories under DIR at http://127.0.0.1:PORT/<name>.git. Every request
needs the user and password; git-http-backend then runs as a CGI program with REMOTE_USER set,
which is what enables pushes (receive-pack). The port actually bound (--port 0, the default,
picks a free one) is written to FILE once the server accepts connections. One line per request
goes to stderr: method, path, status and whether credentials were sent; never the credentials.
Standard library only.
"""

import argparse
import base64
import hmac
import http.server
import os
import subprocess
import sys

BACKEND = "/usr/lib/git-core/git-http-backend"


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "softpack-test-git/1"

    def log_message(self, fmt, *args):  # the default logs to stderr with the client address
        pass

    def do_GET(self):
        self.handle_git()

    def do_POST(self):
        self.handle_git()

    def authorized(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[len("Basic "):], validate=True)
        except ValueError:
            return False
        expected = f"{self.server.user}:{self.server.password}".encode()
        return hmac.compare_digest(given, expected)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_git(self):
        sent_credentials = "Authorization" in self.headers
        if not self.authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="softpack-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.note(401, sent_credentials)
            return
        path, _, query = self.path.partition("?")
        body = self.read_body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.0",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.server.user,
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
        }
        for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                            ("Git-Protocol", "GIT_PROTOCOL")):
            if header in self.headers:
                env[var] = self.headers[header]
        cgi = subprocess.run([BACKEND], input=body, env=env, capture_output=True, check=False)
        if cgi.stderr:
            sys.stderr.write(cgi.stderr.decode(errors="replace"))
        head, _, payload = cgi.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = cgi.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if cgi.returncode != 0 and not cgi.stdout:
            status, headers, payload = 500, [], b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.note(status, sent_credentials)

    def note(self, status, sent_credentials):
        creds = "with credentials" if sent_credentials else "without credentials"
        sys.stderr.write(f"{self.command} {self.path} {status} ({creds})\n")
        sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.root = os.path.abspath(args.root)
    server.user = args.user
    server.password = args.password
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
