#!/usr/bin/env python3
"""sockproxy.py LISTEN TARGET: forward connections on the unix socket LISTEN to
the unix socket TARGET, both ways, until SIGTERM, which drops every connection
at once.  Tests point reconciler at LISTEN to take the engine away and bring it
back without stopping the dockerd that other tests share."""
import os
import signal
import socket
import sys
import threading

listen, target = sys.argv[1], sys.argv[2]
try:
    os.unlink(listen)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen)
srv.listen(64)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


while True:
    client, _ = srv.accept()
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(target)
    except OSError:
        client.close()
        continue
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
