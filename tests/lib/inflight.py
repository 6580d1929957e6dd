#!/usr/bin/env python3
"""inflight.py LOG METHOD PATH-SUBSTRING -- the largest number of requests
matching METHOD and PATH-SUBSTRING that were in flight at once, read from a
sockproxy.py log (a request is in flight from its request line to the
response status line on the same connection).  Prints the number."""
import sys

log, method, sub = sys.argv[1], sys.argv[2], sys.argv[3]
inflight = {}  # conn -> matches
now = best = 0
for line in open(log):
    w = line.split()
    if w[0] == "req":
        match = w[2] == method and sub in w[3]
        inflight[w[1]] = match
        if match:
            now += 1
            best = max(best, now)
    elif w[0] == "resp" and inflight.pop(w[1], False):
        now -= 1
print(best)
