#!/usr/bin/env python3
"""githttp.py ROOT AUTH LOG PIDFILE PORTFILE: a private smart-HTTP Git server on
127.0.0.1 for tests: `git http-backend` (CGI) for the repositories under ROOT,
behind HTTP basic auth.

AUTH is a file of "user:password" lines (read again for every request).
Every request appends one line to LOG, "METHOD PATH STATUS USER" (USER is "-"
without an Authorization header; the password is never written), so a test
can count requests and refusals.  The server binds a free port, writes it to
PORTFILE and its own pid to PIDFILE (python3 may be a shim: $! is not always
this process), and runs until SIGTERM.

Responses carry a Content-Length and the connection is kept alive, as a real
server's are (libgit2 1.5 cannot read a 401 whose body ends at the
connection's close, which busybox httpd sends)."""
import base64
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, AUTH, LOG, PIDFILE, PORTFILE = sys.argv[1:6]
BACKEND = os.path.join(
    subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip(),
    "git-http-backend")
log_lock = threading.Lock()


def note(method, path, status, user):
    with log_lock, open(LOG, "a") as f:
        f.write("%s %s %d %s\n" % (method, path, status, user))


def allowed(header):
    """(ok, user) for an Authorization header value."""
    if not header or not header.startswith("Basic "):
        return False, "-"
    try:
        user, _, pw = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except Exception:
        return False, "?"
    with open(AUTH) as f:
        pairs = [ln.rstrip("\n").split(":", 1) for ln in f if ":" in ln]
    return [user, pw] in pairs, user


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        path, _, query = self.path.partition("?")
        data = self.body()
        ok, user = allowed(self.headers.get("Authorization"))
        if not ok:
            note(self.command, path, 401, user)
            self.send(401, [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
                      b"authentication required\n")
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT, "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(data)),
            "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1",
        }
        for h in ("Content-Encoding", "Git-Protocol"):
            if self.headers.get(h):
                env["HTTP_" + h.upper().replace("-", "_")] = self.headers[h]
        out = subprocess.run([BACKEND], input=data, env=env, capture_output=True).stdout
        head, sep, body = out.partition(b"\r\n\r\n")
        if not sep:
            head, _, body = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        note(self.command, path, status, user)
        self.send(status, headers, body)

    do_GET = do_POST = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    with open(PIDFILE + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(PIDFILE + ".tmp", PIDFILE)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


main()
