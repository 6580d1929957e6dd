#!/bin/sh
# check-layers.sh — the modules' layers (docs/architecture.md, "Layers"):
# a module may include the headers of its own layer and the layers below,
# never one above; and each third-party header stays in the modules that
# own it, never in a header of ours (but a private header, FOO_int.h, listed
# as an owner may: it is inside its module); and a private header is
# included only by FOO.c and FOO_*.c.  Exit 1 naming every violation.
#   sh tests/lib/check-layers.sh [SRCDIR]     (make check-layers; SRCDIR default reconciler)
# A new module must be given a layer here (and a line in docs/architecture.md).
set -u
src=${1:-reconciler}
cd "$(dirname "$0")/../.." || exit 1

# layer number, then the modules in it (a module is FILE.c + FILE.h; cmd_* are the CLI's)
layers='
0 util buf hash strmap cidr metrics
1 speckeys unit alloc spec order seckey custsecret gitcred health hostports bindpath bindroot workq depsched ready heal sdnotify
2 manifest manifest_int manifest_yaml manifest_diag manifest_values manifest_service manifest_fields manifest_kinds manifest_check manifest_expand manifest_swarm source hostpolicy docker docker_int docker_host docker_http docker_json docker_fields docker_inspect docker_container docker_network docker_image docker_events docker_swarm docker_service docker_ssh regauth control watch planfile httpd notify wakeproxy
3 planner swarm swarm_spec state state_int state_alloc state_applied state_units state_manifests state_journal state_builds owner requests extvol
4 apply apply_int apply_container apply_json apply_rollout apply_swarm observe observe_swarm actual drift drift_check drift_swarm report prefetch
5 converge
6 daemon daemon_int daemon_rollout daemon_heal daemon_control daemon_idle telemetry
7 cli main cmd_*
'
# third-party header (prefix) and the only modules that may include it (in their .c)
owners='
git2.h source
yaml.h manifest_yaml
curl/ docker docker_int docker_host docker_http docker_json docker_fields docker_inspect docker_container docker_network docker_image docker_events docker_swarm docker_service health main notify
cjson/ docker docker_int docker_host docker_http docker_json docker_fields docker_inspect docker_container docker_network docker_image docker_events docker_swarm docker_service state state_alloc state_applied state_units state_manifests state_journal planfile regauth notify apply_json
cJSON.h docker docker_int docker_host docker_http docker_json docker_fields docker_inspect docker_container docker_network docker_image docker_events docker_swarm docker_service state state_alloc state_applied state_units state_manifests state_journal planfile regauth notify apply_json
microhttpd.h httpd
systemd/ sdnotify
xxhash.h hash
openssl/ hash
'

for f in "$src"/*.c "$src"/*.h; do
	[ -e "$f" ] || continue
	printf '%s\n' "$f"
done | awk -v layers="$layers" -v owners="$owners" -v src="$src" '
function module(path,   m) {
	m = path
	sub(/.*\//, "", m)
	sub(/\.[ch]$/, "", m)
	return m
}
function layer_of(m) {
	if (m in layer)
		return layer[m]
	if (m ~ /^cmd_/)
		return layer["cmd_*"]
	return -1
}
BEGIN {
	n = split(layers, lines, "\n")
	for (i = 1; i <= n; i++) {
		k = split(lines[i], w, " ")
		for (j = 2; j <= k; j++)
			layer[w[j]] = w[1]
	}
	n = split(owners, lines, "\n")
	for (i = 1; i <= n; i++) {
		k = split(lines[i], w, " ")
		if (k < 2)
			continue
		nthird++
		third[nthird] = w[1]
		for (j = 2; j <= k; j++)
			owner[w[1], w[j]] = 1
	}
	bad = 0
}
{
	file = $0
	m = module(file)
	lm = layer_of(m)
	if (lm < 0) {
		printf "%s: module %s has no layer: give it one in tests/lib/check-layers.sh and docs/architecture.md\n", file, m
		bad++
		next
	}
	lineno = 0
	while ((getline line < file) > 0) {
		lineno++
		if (line ~ /^#[ \t]*include[ \t]*"/) {
			inc = line
			sub(/^#[ \t]*include[ \t]*"/, "", inc)
			sub(/".*/, "", inc)
			im = module(inc)
			if (im == m)
				continue
			li = layer_of(im)
			if (im ~ /_int$/) {
				owner_of = im
				sub(/_int$/, "", owner_of)
				if (m != owner_of && substr(m, 1, length(owner_of) + 1) != owner_of "_") {
					printf "%s:%d: includes \"%s\", the private header of %s\n", file, lineno, inc, owner_of
					bad++
				}
			}
			if (li < 0) {
				printf "%s:%d: includes \"%s\", which is no module of %s\n", file, lineno, inc, src
				bad++
			} else if (li + 0 > lm + 0) {
				printf "%s:%d: %s (layer %d) includes %s (layer %d), a higher layer\n", file, lineno, m, lm, im, li
				bad++
			}
		} else if (line ~ /^#[ \t]*include[ \t]*</) {
			inc = line
			sub(/^#[ \t]*include[ \t]*</, "", inc)
			sub(/>.*/, "", inc)
			for (t = 1; t <= nthird; t++) {
				p = third[t]
				if (substr(inc, 1, length(p)) != p)
					continue
				if (file ~ /\.h$/ && !(m ~ /_int$/ && (p, m) in owner)) {
					printf "%s:%d: <%s> in a header: third-party types stay inside their module\n", file, lineno, inc
					bad++
				} else if (!((p, m) in owner)) {
					printf "%s:%d: <%s> outside the modules that own it (tests/lib/check-layers.sh)\n", file, lineno, inc
					bad++
				}
			}
		}
	}
	close(file)
}
END {
	if (bad) {
		printf "check-layers: %d violation%s\n", bad, bad == 1 ? "" : "s"
		exit 1
	}
}
'
