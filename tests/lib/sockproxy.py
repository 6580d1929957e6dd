#!/usr/bin/env python3
"""sockproxy.py LISTEN TARGET [LOG [CONTROL]]: forward HTTP/1.1 requests on the
unix socket LISTEN to the unix socket TARGET, until SIGTERM, which drops every
connection at once.  Tests point reconciler at LISTEN to take the engine away
and bring it back, or to make it fail, without touching the dockerd that other
tests share.

With LOG (not "-"), every request line a client sends and every response
status line the engine sends back (when it starts a chunk read) is appended to
LOG, in the order the proxy saw them: "req CONN METHOD PATH" / "resp CONN
STATUS".  From that order a test can tell which requests were in flight at the
same time (tests/lib/inflight.py) without measuring any time.

With CONTROL, the proxy injects faults.  CONTROL is a file read again at every
request (a request on a kept-alive connection too): missing, empty or "pass"
forwards it; otherwise its first line is "MODE [REGEX]" and a request whose
"METHOD PATH" matches REGEX (re.search; every request without one) gets MODE:

  garbage    answered 200 with a body that is not JSON
  truncate   answered 200 with a Content-Length its body never reaches, then
             closed (half the engine's body, or a bare '{"Id":"')
  hang       never answered (the connection stays open until the client goes)
  drip       the engine's answer, one byte every 250 ms
  reset      closed without an answer

Every faulted request except the event stream and pulls is first forwarded to
the engine (which acts on it: only the answer is lost or mangled, as when an
engine fails after doing the work).  Each fault is appended to CONTROL.log as
"fault MODE METHOD PATH"."""
import os
import re
import signal
import socket
import sys
import threading
import time

listen, target = sys.argv[1], sys.argv[2]
logpath = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
control = sys.argv[4] if len(sys.argv) > 4 else None
log = open(logpath, "a", buffering=1) if logpath else None
log_lock = threading.Lock()
MODES = ("garbage", "truncate", "hang", "drip", "reset")


def note(text):
    if not log:
        return
    with log_lock:
        log.write(text + "\n")


def fault_note(mode, reqline):
    with log_lock:
        with open(control + ".log", "a") as f:
            f.write("fault %s %s\n" % (mode, reqline))


def fault_for(reqline):
    """The fault mode for this request, or None."""
    if not control:
        return None
    try:
        with open(control) as f:
            line = f.readline().strip()
    except OSError:
        return None
    if not line or line == "pass":
        return None
    mode, _, rx = line.partition(" ")
    if mode not in MODES:
        sys.stderr.write("sockproxy: unknown mode '%s' in %s: passing\n" % (mode, control))
        return None
    if rx.strip() and not re.search(rx.strip(), reqline):
        return None
    return mode


def read_request(sock, buf):
    """One request from sock: (bytes, rest of buf) or (None, _) at the end."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for h in head.split(b"\r\n")[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(rest) < n:
        data = sock.recv(65536)
        if not data:
            return None, b""
        rest += data
    return head + b"\r\n\r\n" + rest[:n], rest[n:]


def relay(src, dst, conn, state):
    """Transparent: the engine's answers on a kept-alive connection, to the client."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if data.startswith(b"HTTP/1."):
                note("resp %d %s" % (conn, data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[1]))
            dst.sendall(data)
    except OSError:
        pass
    if not state.get("detached"):
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def engine_answer(req):
    """Forward req on a connection of its own (closed by the engine after it) and return the answer."""
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.settimeout(120)
    out = b""
    try:
        up.connect(target)
        head, _, body = req.partition(b"\r\n\r\n")
        lines = [h for h in head.split(b"\r\n") if not h.lower().startswith(b"connection:")]
        up.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
        while True:
            data = up.recv(65536)
            if not data:
                break
            out += data
    except OSError:
        pass
    up.close()
    return out


def http_body(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        plain = b""
        while body:
            size, _, body = body.partition(b"\r\n")
            try:
                n = int(size.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0:
                break
            plain += body[:n]
            body = body[n + 2:]
        return plain
    return body


def inject(client, mode, req, reqline):
    fault_note(mode, reqline)
    streaming = " /v1.41/events" in reqline or "/images/create" in reqline
    answer = b"" if streaming else engine_answer(req)
    try:
        if mode == "garbage":
            body = b"\x00\xffthis is not JSON <html>"
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                           b"Connection: close\r\n\r\n" % len(body) + body)
        elif mode == "truncate":
            body = http_body(answer)
            part = body[:len(body) // 2] if len(body) > 1 else b'{"Id":"'
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                           b"\r\n" % (len(part) + 4096) + part)
        elif mode == "hang":
            while client.recv(65536):
                pass
        elif mode == "drip":
            for i in range(len(answer)):
                client.sendall(answer[i:i + 1])
                time.sleep(0.25)
            while client.recv(65536):
                pass
        # reset: nothing
    except OSError:
        pass
    try:
        client.close()
    except OSError:
        pass


def serve(client, conn):
    buf = b""
    up = None
    state = {}
    try:
        while True:
            req, buf = read_request(client, buf)
            if req is None:
                break
            reqline = req.split(b"\r\n", 1)[0].decode("latin-1")
            w = reqline.split(" ")
            note("req %d %s %s" % (conn, w[0], w[1] if len(w) > 1 else ""))
            mode = fault_for(" ".join(w[:2]))
            if mode:
                if up:
                    state["detached"] = True
                    try:
                        up.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    up.close()
                inject(client, mode, req, " ".join(w[:2]))
                return
            if up is None:
                up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    up.connect(target)
                except OSError:
                    break
                threading.Thread(target=relay, args=(up, client, conn, state), daemon=True).start()
            up.sendall(req)
    except OSError:
        pass
    for s in (client, up):
        if s:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


try:
    os.unlink(listen)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen)
srv.listen(64)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

nconn = 0
while True:
    client, _ = srv.accept()
    nconn += 1
    threading.Thread(target=serve, args=(client, nconn), daemon=True).start()
