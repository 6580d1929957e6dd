#!/usr/bin/env python3
"""converged.py — does the engine hold exactly the desired state?

    python3 tests/lib/converged.py RENDER.json STATE_DIR POOL_CIDR

RENDER.json is `reconciler render --json` of the manifests; the engine is
asked (docker CLI) for every container and network carrying the project's
label.  Checks, printing every violation and exiting 1 if any:
  - exactly one container per unit, named as rendered, none without a
    desired unit (no duplicates, no orphans);
  - each carries the rendered hash label, is running, and is healthy when
    it has a Docker health check (every unit is desired running);
  - exactly one network per desired network, none extra;
  - every network without a fixed subnet has one from POOL_CIDR, all
    distinct, and equal to the subnet allocations.json records for it;
  - every published `auto` host port equals the one allocations.json
    records for it, and no host port is published twice;
  - allocations.json holds nothing for units or networks no longer desired.
Prints a one-line summary on success.
"""
import ipaddress
import json
import subprocess
import sys

LABEL_PROJECT = "io.reconciler.project"


def docker_json(*args):
    out = subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def ids(kind, project):
    cmd = ["docker", kind, "ls", "-q", "--no-trunc", "--filter", f"label={LABEL_PROJECT}={project}"]
    if kind == "container":
        cmd.insert(3, "-a")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return out.split()


def main():
    render_path, state_dir, pool = sys.argv[1], sys.argv[2], ipaddress.ip_network(sys.argv[3])
    with open(render_path) as f:
        render = json.load(f)
    project = render["project"]
    problems = []

    try:
        with open(f"{state_dir}/allocations.json") as f:
            alloc = json.load(f)["data"]
    except FileNotFoundError:
        alloc = {"ports": [], "subnets": []}
    alloc_ports = {(p["unit"], p["container_port"], p["proto"]): p["host_port"] for p in alloc["ports"]}
    alloc_subnets = {s["network"]: s["subnet"] for s in alloc["subnets"]}

    # containers
    units = {u["id"]: u for u in render["units"]}
    cids = ids("container", project)
    cts = docker_json("inspect", *cids) if cids else []
    by_unit = {}
    for c in cts:
        unit = c["Config"]["Labels"].get("io.reconciler.unit")
        by_unit.setdefault(unit, []).append(c)
    for unit, cs in by_unit.items():
        names = ", ".join(c["Name"].lstrip("/") for c in cs)
        if unit not in units:
            problems.append(f"orphan container(s) of unit {unit!r}: {names}")
        elif len(cs) > 1:
            problems.append(f"unit {unit!r} has {len(cs)} containers: {names}")
    published = {}
    for uid, u in units.items():
        cs = by_unit.get(uid, [])
        if not cs:
            problems.append(f"unit {uid!r} has no container")
            continue
        c = cs[0]
        name = c["Name"].lstrip("/")
        if name != u["container"]:
            problems.append(f"unit {uid!r}: container named {name!r}, expected {u['container']!r}")
        h = c["Config"]["Labels"].get("io.reconciler.hash")
        if h != u["hash"]:
            problems.append(f"unit {uid!r}: hash label {h}, rendered {u['hash']}")
        st = c["State"]["Status"]
        if st != "running":
            problems.append(f"unit {uid!r}: state {st}, expected running")
        if "health.cmd" in u["spec"]:
            hs = (c["State"].get("Health") or {}).get("Status")
            if hs != "healthy":
                problems.append(f"unit {uid!r}: health {hs}, expected healthy")
        for key, val in u["spec"].items():
            if not key.startswith("ports."):
                continue
            cport, proto = key[len("ports."):].split("/")
            binds = (c["HostConfig"].get("PortBindings") or {}).get(f"{cport}/{proto}") or []
            hosts = [int(b["HostPort"]) for b in binds if b.get("HostPort")]
            if len(hosts) != 1:
                problems.append(f"unit {uid!r}: port {cport}/{proto} bound to {hosts}")
                continue
            for hp in hosts:
                if hp in published:
                    problems.append(f"host port {hp} published by {published[hp]!r} and {uid!r}")
                published[hp] = uid
            if val.endswith("auto"):
                want = alloc_ports.get((uid, int(cport), proto))
                if want != hosts[0]:
                    problems.append(f"unit {uid!r}: port {cport}/{proto} published on {hosts[0]}, "
                                    f"allocations.json says {want}")
    for (uid, cport, proto) in alloc_ports:
        if uid not in units:
            problems.append(f"allocations.json still holds port {cport}/{proto} of unit {uid!r}")

    # networks
    nets = {n["name"]: n for n in render["networks"]}
    nids = ids("network", project)
    got = docker_json("network", "inspect", *nids) if nids else []
    seen = {}
    for n in got:
        seen.setdefault(n["Name"], []).append(n)
    for name, ns in seen.items():
        if name not in nets:
            problems.append(f"orphan network {name!r}")
        elif len(ns) > 1:
            problems.append(f"network {name!r} exists {len(ns)} times")
    subnets = {}
    for name, n in nets.items():
        if name not in seen:
            problems.append(f"network {name!r} missing")
            continue
        cfg = (seen[name][0].get("IPAM") or {}).get("Config") or []
        sn = cfg[0]["Subnet"] if cfg else None
        if n["subnet"]:
            if sn != n["subnet"]:
                problems.append(f"network {name!r}: subnet {sn}, fixed {n['subnet']}")
            continue
        if n["customer"] is None:
            continue  # shared network without a fixed subnet: the engine's choice
        if sn is None or not ipaddress.ip_network(sn).subnet_of(pool):
            problems.append(f"network {name!r}: subnet {sn} not from the pool {pool}")
        if sn in subnets:
            problems.append(f"subnet {sn} given to {subnets[sn]!r} and {name!r}")
        subnets[sn] = name
        if alloc_subnets.get(name) != sn:
            problems.append(f"network {name!r}: subnet {sn}, allocations.json says {alloc_subnets.get(name)}")
    for name in alloc_subnets:
        if name not in nets:
            problems.append(f"allocations.json still holds the subnet of network {name!r}")

    for p in problems:
        print(f"converged: {p}")
    if problems:
        return 1
    print(f"converged: {len(units)} units, {len(nets)} networks, {len(published)} host ports, "
          f"{len(subnets)} pool subnets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
