#!/usr/bin/env python3
"""sockproxy.py LISTEN TARGET [LOG]: forward connections on the unix socket
LISTEN to the unix socket TARGET, both ways, until SIGTERM, which drops every
connection at once.  Tests point reconciler at LISTEN to take the engine away
and bring it back without stopping the dockerd that other tests share.

With LOG, every request line a client sends and every response status line
the engine sends back (when it starts a chunk read) is appended to LOG, in the
order the proxy saw them: "req CONN METHOD PATH" / "resp CONN STATUS".  From
that order a test can tell which requests were in flight at the same time
(tests/lib/inflight.py) without measuring any time."""
import os
import signal
import socket
import sys
import threading

listen, target = sys.argv[1], sys.argv[2]
log = open(sys.argv[3], "a", buffering=1) if len(sys.argv) > 3 else None
log_lock = threading.Lock()
METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ")


def note(conn, up, data):
    if not log:
        return
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    if not up and data.startswith(METHODS):
        method, path = line.split(" ")[:2]
        text = "req %d %s %s" % (conn, method, path)
    elif up and data.startswith(b"HTTP/1."):
        text = "resp %d %s" % (conn, line.split(" ")[1])
    else:
        return
    with log_lock:
        log.write(text + "\n")
try:
    os.unlink(listen)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen)
srv.listen(64)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


def pipe(src, dst, conn, up):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            note(conn, up, data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


nconn = 0
while True:
    client, _ = srv.accept()
    nconn += 1
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(target)
    except OSError:
        client.close()
        continue
    threading.Thread(target=pipe, args=(client, upstream, nconn, False), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client, nconn, True), daemon=True).start()
