#!/bin/sh
# load.sh — the worst inputs within the loader's limits, and how long
# `reconciler validate --dir` takes on each (docs/performance.md, "Loading
# hostile input").
#
#   sh tests/bench/load.sh [CASE...]      (default: every case)
#
# Every case is one manifest file of at most 4 MiB (RC_SOURCE_MAX_FILE_SIZE)
# and 20000 documents (RC_MANIFEST_MAX_DOCS), generated with awk into a
# fresh directory.  Each is run once on the release build (build/reconciler,
# `make`; RC_BENCH overrides) under /usr/bin/time: user+system CPU seconds,
# peak RSS and the exit status (1 is fine: many cases are invalid on
# purpose).  Runs longer than BENCH_TIMEOUT seconds (default 600) are cut
# off and shown as "> N s".  Prints a Markdown table; exits 1 when a case
# takes more than BENCH_LOAD_TARGET CPU seconds (default 1; BENCH_NO_FAIL=1:
# always 0).  Not part of `make test`: timings belong here, not in tests.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
timeout_s=${BENCH_TIMEOUT:-600}
target=${BENCH_LOAD_TARGET:-1}

if [ ! -x "$rc" ]; then
	echo "load.sh: $rc missing: run make first" >&2
	exit 2
fi
work=$(mktemp -d /tmp/rc-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state/secrets"
chmod 700 "$work/state" "$work/state/secrets"

# gen CASE FILE: write the case's manifest to FILE
gen() {
	case $1 in
	env-100k)        # one service, 100,000 distinct env keys (a mapping)
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nenv:";
			for (i = 0; i < 100000; i++) printf "  K%06d: v\n", i }' ;;
	env-list-100k)   # the same as a list of KEY=VALUE
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nenv:";
			for (i = 0; i < 100000; i++) printf "  - K%06d=v\n", i }' ;;
	dup-keys-100k)   # 100,000 copies of one key in one mapping
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nenv:";
			for (i = 0; i < 100000; i++) print "  K: v" }' ;;
	env-4mib)        # one service, as many env keys as 4 MiB holds (320,000)
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nenv:";
			for (i = 0; i < 320000; i++) printf "  K%06d: v\n", i }' ;;
	dup-keys-4mib)   # as many copies of one key as 4 MiB holds (590,000)
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nenv:";
			for (i = 0; i < 590000; i++) print "  K: v" }' ;;
	unknown-keys-100k) # 100,000 unknown keys (each gets a "did you mean")
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1";
			for (i = 0; i < 100000; i++) printf "imgae%06d: x\n", i }' ;;
	services-20k)    # 20,000 shared services, each depending on the one before
		awk 'BEGIN { for (i = 0; i < 20000; i++) {
			printf "---\nkind: Service\nname: s%05d\nimage: app:1\n", i;
			if (i) printf "depends_on: [s%05d]\n", i - 1 } }' ;;
	customers-20k)   # 20,000 customers of one template, fixed ports
		awk 'BEGIN { print "kind: Settings\nports: {range: 1-65535}\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			print "---\nkind: Template\nname: t\nservices:\n  app: {image: app:1, port: 80}";
			for (i = 0; i < 19998; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t\nport: %d\n", i, 1000 + i }' ;;
	plans-10k)       # 10,000 plans, 10,000 customers naming one each
		awk 'BEGIN { print "kind: Settings\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			print "---\nkind: Template\nname: t\nservices:\n  app: {image: app:1}";
			for (i = 0; i < 9999; i++) printf "---\nkind: Plan\nname: p%05d\n", i;
			for (i = 0; i < 9999; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t\nplan: p%05d\n", i, i }' ;;
	undefined-plans-10k) # 10,000 plans, 10,000 customers naming plans that do not exist
		awk 'BEGIN { print "kind: Settings\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			print "---\nkind: Template\nname: t\nservices:\n  app: {image: app:1}";
			for (i = 0; i < 9999; i++) printf "---\nkind: Plan\nname: plan%05d\n", i;
			for (i = 0; i < 9999; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t\nplan: plan%05dx\n", i, i }' ;;
	templates-10k)   # 10,000 templates, 10,000 customers naming one each
		awk 'BEGIN { print "kind: Settings\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			for (i = 0; i < 9999; i++) printf "---\nkind: Template\nname: t%05d\nservices: {app: {image: app:1}}\n", i;
			for (i = 0; i < 9999; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t%05d\n", i, i }' ;;
	networks-20k)    # 20,000 shared networks with a subnet each, and one service on all of them
		awk 'BEGIN { for (i = 0; i < 19999; i++)
			printf "---\nkind: Network\nname: n%05d\nsubnet: 10.%d.%d.0/24\n", i, int(i / 256), i % 256;
			printf "---\nkind: Service\nname: s\nimage: app:1\nnetworks:\n";
			for (i = 0; i < 19999; i++) printf "  - n%05d\n", i }' ;;
	volumes-100k)    # one service with 100,000 volumes
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nvolumes:";
			for (i = 0; i < 100000; i++) printf "  - v%06d:/m/%06d\n", i, i }' ;;
	ports-100k)      # one service publishing 100,000 ports (65535 tcp, the rest udp)
		awk 'BEGIN { print "kind: Service\nname: s\nimage: app:1\nports:";
			for (i = 1; i <= 100000; i++) { p = (i - 1) % 65535 + 1;
				printf "  - \"%d:%d/%s\"\n", p, p, i <= 65535 ? "tcp" : "udp" } }' ;;
	port-ips-20k)    # 20,000 services on one host port, each on its own address
		awk 'BEGIN { for (i = 0; i < 19999; i++)
			printf "---\nkind: Service\nname: s%05d\nimage: app:1\nports: [\"10.%d.%d.1:80:80\"]\n", i, int(i / 256), i % 256 }' ;;
	deps-50k)        # one template service depending on 50,000 siblings and shared services
		awk 'BEGIN { print "kind: Template\nname: t\nservices:";
			for (i = 0; i < 3000; i++) printf "  s%05d: {image: app:1}\n", i;
			print "  app:\n    image: app:1\n    depends_on:";
			for (i = 0; i < 50000; i++) printf "      - s%05d\n", i % 3000 }' ;;
	bind-roots-40k)  # 40,000 bind roots and one service with 40,000 bind mounts under them
		awk 'BEGIN { print "kind: Settings\npolicy:\n  bind_roots:";
			for (i = 0; i < 40000; i++) printf "    - /srv/r%05d\n", i;
			print "---\nkind: Service\nname: s\nimage: app:1\nvolumes:";
			for (i = 0; i < 40000; i++) printf "  - /srv/r%05d/data:/m/%05d\n", 39999 - i, i }' ;;
	deps-networks)   # 400 template services on 200 networks, each depending on 400 shared
	                 # services on 200 other networks: 160,000 "shares no network" checks
		awk 'BEGIN { for (i = 0; i < 400; i++) printf "---\nkind: Network\nname: n%03d\n", i;
			for (i = 0; i < 400; i++) { printf "---\nkind: Service\nname: s%03d\nimage: app:1\nnetworks:\n", i;
				for (j = 0; j < 200; j++) printf "  - n%03d\n", j }
			print "---\nkind: Template\nname: t\nservices:";
			for (i = 0; i < 400; i++) { printf "  t%03d:\n    image: app:1\n    networks:\n", i;
				for (j = 200; j < 400; j++) printf "      - n%03d\n", j;
				printf "    depends_on:\n";
				for (j = 0; j < 400; j++) printf "      - s%03d\n", j } }' ;;
	long-scalars)    # 60 values of 64 KiB each
		awk 'BEGIN { s = "x"; while (length(s) < 65536) s = s s; s = substr(s, 1, 65000);
			print "kind: Service\nname: s\nimage: app:1\nlabels:";
			for (i = 0; i < 60; i++) printf "  l%02d: %s\n", i, s }' ;;
	deep-nesting)    # 100,000 flow mappings 31 levels deep
		awk 'BEGIN { o = ""; cl = ""; for (i = 0; i < 30; i++) { o = o "{a: "; cl = cl "}" }
			print "kind: Service\nname: s\nimage: app:1\nx:";
			for (i = 0; i < 20000; i++) printf "  k%05d: %s1%s\n", i, o, cl }' ;;
	expansion)       # at both expansion limits: 500 customers x 100 services = 50,000 units,
	                 # each with 19 env keys + the customer's 1 = 1,000,000 values
		awk 'BEGIN { print "kind: Settings\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			print "---\nkind: Template\nname: t\nservices:";
			for (i = 0; i < 100; i++) { printf "  s%03d:\n    image: app:1\n    env:\n", i;
				for (j = 0; j < 19; j++) printf "      K%02d: v\n", j }
			for (i = 0; i < 500; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t\nenv: {A: b}\n", i }' ;;
	expansion-past)  # one customer more: refused before anything is expanded
		awk 'BEGIN { print "kind: Settings\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			print "---\nkind: Template\nname: t\nservices:";
			for (i = 0; i < 100; i++) { printf "  s%03d:\n    image: app:1\n    env:\n", i;
				for (j = 0; j < 19; j++) printf "      K%02d: v\n", j }
			for (i = 0; i < 501; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t\nenv: {A: b}\n", i }' ;;
	expansion-bomb)  # 70 KB asking for 1,000 customers x 1,000 services = 1,000,000 units
		awk 'BEGIN { print "kind: Settings\nsubnets: {pool: 10.0.0.0/8, size: 29}";
			print "---\nkind: Template\nname: t\nservices:";
			for (i = 0; i < 1000; i++) printf "  s%03d: {image: app:1}\n", i;
			for (i = 0; i < 1000; i++) printf "---\nkind: Customer\nid: c%05d\ntemplate: t\n", i }' ;;
	*) echo "load.sh: unknown case '$1'" >&2; return 2 ;;
	esac
}

all="env-100k env-4mib env-list-100k dup-keys-100k dup-keys-4mib unknown-keys-100k services-20k customers-20k plans-10k
undefined-plans-10k templates-10k networks-20k volumes-100k ports-100k port-ips-20k deps-50k bind-roots-40k deps-networks long-scalars
deep-nesting expansion expansion-past expansion-bomb"
[ $# -gt 0 ] || set -- $all

fail=0
echo "| case | bytes | exit | CPU (user+sys) | peak RSS |"
echo "| --- | --- | --- | --- | --- |"
for name in "$@"; do
	dir=$work/$name
	mkdir -p "$dir"
	gen "$name" >"$dir/m.yaml" || exit 2
	bytes=$(wc -c <"$dir/m.yaml")
	/usr/bin/time -f '%U %S %M' -o "$work/time" timeout "$timeout_s" \
		"$rc" -q validate --dir "$dir" --state-dir "$work/state" >/dev/null 2>&1
	status=$?
	if [ $status = 124 ]; then
		cpu="> $timeout_s s"
		kib=?
		fail=1
	else
		# GNU time puts "Command exited with non-zero status N" first
		tail -n 1 "$work/time" >"$work/time1"
		cpu=$(awk '{ printf "%.2f s", $1 + $2 }' "$work/time1")
		kib=$(awk '{ printf "%.1f MiB", $3 / 1024 }' "$work/time1")
		awk -v t="$target" '{ exit !($1 + $2 > t) }' "$work/time1" && fail=1
	fi
	echo "| $name | $bytes | $status | $cpu | $kib |"
	rm -rf "$dir"
done
[ -n "${BENCH_NO_FAIL:-}" ] && exit 0
exit $fail
