#!/usr/bin/env python3
"""recreate.py NAME IMAGE -- replace a container by hand, the way an operator
would with `docker rm -f` and a `docker run` that copies everything but the
image: same name, Config (labels, env, command, healthcheck), HostConfig and
networks (with their aliases), created from IMAGE and started if the old one
was running.  Talks to the engine over DOCKER_HOST's unix socket (default
/var/run/docker.sock); exits non-zero with the engine's message on error.
"""
import http.client
import json
import os
import socket
import sys
import urllib.parse


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(method, url, body=None):
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    conn = UnixConnection(host[len("unix://"):] if host.startswith("unix://") else host)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, "/v1.41" + url, json.dumps(body) if body is not None else None, headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        sys.exit("recreate.py: %s %s: %d %s" % (method, url, resp.status, data.decode(errors="replace")))
    return json.loads(data) if data else None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: recreate.py NAME IMAGE")
    name, image = sys.argv[1], sys.argv[2]
    old = call("GET", "/containers/%s/json" % urllib.parse.quote(name))
    cfg = old["Config"]
    cfg["Image"] = image
    cfg["HostConfig"] = old["HostConfig"]
    nets = old["NetworkSettings"]["Networks"] or {}
    keep = {}
    for net, ep in nets.items():
        keep[net] = {"Aliases": [a for a in (ep.get("Aliases") or []) if not old["Id"].startswith(a)]}
    first = sorted(keep)[:1]
    cfg["NetworkingConfig"] = {"EndpointsConfig": {n: keep[n] for n in first}}
    call("DELETE", "/containers/%s?force=1" % old["Id"])
    new = call("POST", "/containers/create?name=%s" % urllib.parse.quote(name), cfg)
    for n in sorted(keep)[1:]:
        call("POST", "/networks/%s/connect" % urllib.parse.quote(n),
             {"Container": new["Id"], "EndpointConfig": keep[n]})
    if old["State"]["Running"]:
        call("POST", "/containers/%s/start" % new["Id"])
    print(new["Id"])


if __name__ == "__main__":
    main()
