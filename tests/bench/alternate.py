#!/usr/bin/env python3
"""alternate.py ROUNDS WARMUP CMD... -- median wall time of each command, in
rounds that run every command once, the order reversed every other round, so
that a machine whose speed drifts (a shared VM) slows all of them alike.
hyperfine measures one command's runs as a block, which on this machine
moved ratios by 20 % from one run of the bench to the next.

Each CMD is split like a shell word list (shlex); a last word "<FILE" feeds
FILE on stdin.  No shell is started.  Prints one line per command:
"<median ms> <min ms> <max ms>".
"""
import shlex
import statistics
import subprocess
import sys
import time


def parse(cmd):
    words = shlex.split(cmd)
    stdin = None
    if words and words[-1].startswith("<"):
        stdin = words.pop()[1:]
    return words, stdin


def run(argv, stdin):
    f = open(stdin, "rb") if stdin else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
    finally:
        if stdin:
            f.close()
    if r.returncode != 0:
        sys.exit("alternate.py: %s exited %d" % (" ".join(argv), r.returncode))
    return (t1 - t0) * 1000


def main():
    rounds, warmup = int(sys.argv[1]), int(sys.argv[2])
    cmds = [parse(c) for c in sys.argv[3:]]
    times = [[] for _ in cmds]
    for r in range(warmup + rounds):
        order = list(range(len(cmds)))
        if r % 2:
            order.reverse()
        for i in order:
            t = run(*cmds[i])
            if r >= warmup:
                times[i].append(t)
    for t in times:
        print("%.1f %.1f %.1f" % (statistics.median(t), min(t), max(t)))


if __name__ == "__main__":
    main()
