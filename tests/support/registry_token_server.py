#!/usr/bin/python3
"""A token server for docker-registry's `auth: token` mode, for the integration tests.

    registry_token_server.py DIR USER:PASSWORD SERVICE ISSUER

Makes DIR/key.pem and a self-signed DIR/cert.pem (the registry's `rootcertbundle`), listens on
127.0.0.1 (a free port, written to DIR/port) and answers `GET /token?service=...&scope=...`
as the Docker token authentication specification describes: with the right Basic credentials,
{"token": <JWT>, "access_token": <JWT>, "expires_in": 300}, the JWT signed RS256 by openssl
with the certificate in its `x5c` header, granting every action asked for in each scope;
otherwise 401. Every request is appended to DIR/requests.log (path and whether it was
authorised), never the credentials.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

directory, credentials, service, issuer = sys.argv[1:5]
key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", "/CN=softpack-test-token-issuer"],
               check=True, capture_output=True)
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                     capture_output=True).stdout
expected_auth = "Basic " + base64.b64encode(credentials.encode()).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_for(scopes):
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": issuer, "sub": credentials.split(":")[0], "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": str(now) + str(os.getpid()),
              "access": access}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                               input=signing_input.encode(), check=True,
                               capture_output=True).stdout
    return signing_input + "." + b64url(signature)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        ok = (url.path == "/token" and self.headers.get("Authorization") == expected_auth
              and query.get("service") == [service])
        with open(os.path.join(directory, "requests.log"), "a") as log:
            log.write(json.dumps({"path": url.path, "query": query, "authorised": ok}) + "\n")
        if ok:
            token = token_for(query.get("scope", []))
            body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b'{"errors": [{"code": "UNAUTHORIZED"}]}'
            self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(directory, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))
server.serve_forever()
