#!/bin/sh
test_description='diff A B: what changes between two commits, without Docker (text, markdown, json golden files)'
. "$(dirname "$0")/../lib/test-lib.sh"

# Golden files: tests/golden/diff/<step>.{txt,md,json}; GOLDEN_UPDATE=1
# rewrites them (review with git diff).  Commit ids are replaced by <A>/<B>.
GOLDEN=$RC_TOP/tests/golden/diff
# diff never talks to Docker: point it at nothing.
DOCKER_HOST=unix:///nonexistent/docker.sock
export DOCKER_HOST
# Fixed names (nothing is created in Docker): the golden files stay stable.
IMG1=reconciler-test/app:1
IMG2=reconciler-test/app:2
SECRET1=s3cr3t-first-value-8c1f
SECRET2=s3cr3t-second-value-77ab
REPO=$TRASH/repo

write_base() {
	mkdir -p "$REPO/deploy/customers" &&
	cat >"$REPO/deploy/settings.yaml" <<-EOF &&
	kind: Settings
	project: acme
	ports: {range: 21000-21999}
	subnets: {pool: 10.231.0.0/16, size: 26}
	defaults: {stop_grace_period: 10s}
	EOF
	cat >"$REPO/deploy/plans.yaml" <<-EOF &&
	kind: Plan
	name: small
	cpus: 0.25
	memory: 64M
	pids: 64
	---
	kind: Plan
	name: big
	cpus: 0.5
	memory: 128M
	pids: 128
	EOF
	cat >"$REPO/deploy/shared.yaml" <<-EOF &&
	kind: Network
	name: backend
	internal: true
	---
	kind: Service
	name: db
	image: $IMG1
	plan: big
	env: {ROLE: database}
	networks: [backend]
	secrets: [db_password]
	health: {cmd: "true", interval: 1s, retries: 5}
	---
	kind: Service
	name: cache
	image: $IMG1
	plan: small
	env: {ROLE: cache}
	networks: [backend]
	EOF
	cat >"$REPO/deploy/template.yaml" <<-EOF &&
	kind: Template
	name: webapp
	services:
	  app:
	    image: $IMG1
	    port: 8080
	    networks: [backend]
	    env: {ROLE: app}
	    depends_on: {db: healthy, cache: started}
	  worker:
	    image: $IMG1
	    env: {ROLE: worker}
	    depends_on: {app: started}
	EOF
	customer alpha auto &&
	customer beta 21002
}

# customer ID PORT [PLAN]
customer() {
	cat >"$REPO/deploy/customers/$1.yaml" <<-EOF
	kind: Customer
	id: $1
	template: webapp
	plan: ${3:-small}
	port: $2
	env: {CUSTOMER: $1}
	EOF
}

# diff_golden NAME A B: run diff A..B in the three formats (exit 2 expected),
# compare with the golden files.
diff_golden() {
	name=$1 a=$(git -C "$REPO" rev-parse "$2") b=$(git -C "$REPO" rev-parse "$3")
	for fmt in txt md json; do
		case $fmt in
		txt) opt= ;;
		md) opt=--markdown ;;
		json) opt=--json ;;
		esac
		test_expect_code 2 "$RC" --repo "$REPO" --path deploy diff $opt "$2" "$3" >"$name.$fmt.raw" 2>"$name.$fmt.err" || {
			cat "$name.$fmt.err"
			return 1
		}
		test ! -s "$name.$fmt.err" || { cat "$name.$fmt.err"; return 1; }
		sed -e "s/$a/<A>/g" -e "s/$b/<B>/g" -e "s/$(echo "$a" | cut -c1-7)/<A>/g" \
			-e "s/$(echo "$b" | cut -c1-7)/<B>/g" "$name.$fmt.raw" >"$name.$fmt" || return 1
		if [ -n "${GOLDEN_UPDATE:-}" ]; then
			mkdir -p "$GOLDEN" && cp "$name.$fmt" "$GOLDEN/$name.$fmt" || return 1
		else
			test_cmp "$GOLDEN/$name.$fmt" "$name.$fmt" || return 1
		fi
	done
	# Never a secret value or digest (32 hex digits) in any format.
	! grep -e "$SECRET1" -e "$SECRET2" "$name".*.raw &&
	! grep -Ew '[0-9a-f]{32}' "$name".*.raw
}

test_expect_success 'setup: a repository with a sequence of commits, secrets in the state dir' '
	mkdir -p "$STATE/secrets" &&
	printf %s "$SECRET1" >"$STATE/secrets/db_password" &&
	printf %s "$SECRET2" >"$STATE/secrets/db_password_v2" &&
	chmod 600 "$STATE/secrets/db_password" "$STATE/secrets/db_password_v2" &&
	repo_init "$REPO" &&
	write_base && repo_commit "$REPO" base && git -C "$REPO" tag base &&
	customer gamma auto && repo_commit "$REPO" "add gamma" && git -C "$REPO" tag add-customer &&
	customer alpha auto big && repo_commit "$REPO" "alpha: big plan" && git -C "$REPO" tag change-plan &&
	sed -i "s|^    image: $IMG1|    image: $IMG2|" "$REPO/deploy/template.yaml" &&
	grep -q "$IMG2" "$REPO/deploy/template.yaml" &&
	repo_commit "$REPO" "webapp: new image" && git -C "$REPO" tag change-image &&
	sed -i "s|secrets: \[db_password\]|secrets: [db_password_v2]|" "$REPO/deploy/shared.yaml" &&
	repo_commit "$REPO" "rotate db password" && git -C "$REPO" tag rotate-secret &&
	sed -i "s|ROLE: database|ROLE: primary|" "$REPO/deploy/shared.yaml" &&
	repo_commit "$REPO" "db: primary" && git -C "$REPO" tag change-shared &&
	echo "state: stopped" >>"$REPO/deploy/customers/beta.yaml" &&
	repo_commit "$REPO" "stop beta" && git -C "$REPO" tag stop-customer &&
	git -C "$REPO" rm -q deploy/customers/gamma.yaml &&
	repo_commit "$REPO" "remove gamma" && git -C "$REPO" tag remove-customer &&
	echo doc >"$REPO/README" && repo_commit "$REPO" "docs" && git -C "$REPO" tag docs-only &&
	sed -i "s|^internal: true|internal: false\nsubnet: 10.240.0.0/24|" "$REPO/deploy/shared.yaml" &&
	grep -q "^subnet: 10.240.0.0/24" "$REPO/deploy/shared.yaml" &&
	repo_commit "$REPO" "backend: a subnet of its own, not internal" && git -C "$REPO" tag change-network &&
	printf "kind: Customer\nid: delta\ntemplate: nosuch\nport: [\n" >"$REPO/deploy/customers/delta.yaml" &&
	repo_commit "$REPO" "broken" && git -C "$REPO" tag broken
'

test_expect_success 'add a customer: its network and containers created, a port and a subnet allocated' '
	diff_golden add-customer base add-customer &&
	grep "+   network acme-gamma will be created" add-customer.txt &&
	grep "allocates a /26 subnet from 10.231.0.0/16" add-customer.txt &&
	grep "allocates a host port for 8080/tcp from 21000-21999" add-customer.txt &&
	grep "+   network acme-gamma-via-backend will be created" add-customer.txt &&
	grep "^Plan: 2 to create, 0 to update in place, 0 to recreate, 0 to remove; networks: 2 to create.$" add-customer.txt
'

test_expect_success 'change a plan: update in place, resources humanized' '
	diff_golden change-plan add-customer change-plan &&
	grep "~   alpha/app (acme-alpha-app) will be updated in place" change-plan.txt &&
	grep "memory: 64 MiB → 128 MiB" change-plan.txt &&
	grep "cpus: 0.25 → 0.5" change-plan.txt &&
	! grep -e "beta/" -e "gamma/" change-plan.txt
'

test_expect_success 'change an image: recreate every unit of the template' '
	diff_golden change-image change-plan change-image &&
	test "$(grep -c "^  -/+ .*/app (acme-.*-app) will be recreated" change-image.txt)" = 3 &&
	grep "image: reconciler-test/app:1 → reconciler-test/app:2" change-image.txt &&
	! grep -e "acme-db" -e "acme-cache" change-image.txt
'

test_expect_success 'rotate a secret: only its users recreated, the value never printed' '
	diff_golden rotate-secret change-image rotate-secret &&
	grep "^  -/+ db (acme-db) will be recreated" rotate-secret.txt &&
	grep "secret db_password removed" rotate-secret.txt &&
	grep "secret db_password_v2 added" rotate-secret.txt &&
	test "$(grep -c "will be" rotate-secret.txt)" = 1 &&
	grep "\"field\": \"secrets.db_password_v2\", \"secret\": true, \"changed\": true" rotate-secret.json
'

test_expect_success 'change a shared service others depend on: recreated, dependents named' '
	diff_golden change-shared rotate-secret change-shared &&
	grep "env.ROLE: database → primary" change-shared.txt &&
	grep "depended on by alpha/app, beta/app, gamma/app" change-shared.txt &&
	grep "\"dependents\": \\[\"alpha/app\", \"beta/app\", \"gamma/app\"\\]" change-shared.json
'

test_expect_success 'stop a customer: its containers stopped, nothing recreated' '
	diff_golden stop-customer change-shared stop-customer &&
	test "$(grep -c "will be stopped: desired state: stopped" stop-customer.txt)" = 2 &&
	test "$(grep -c "will be" stop-customer.txt)" = 2
'

test_expect_success 'remove a customer: containers and network removed, port and subnet freed' '
	diff_golden remove-customer stop-customer remove-customer &&
	grep "^  -   gamma/app (acme-gamma-app) will be removed" remove-customer.txt &&
	grep "^  -   network acme-gamma will be removed" remove-customer.txt &&
	grep "^  -   network acme-gamma-via-backend will be removed" remove-customer.txt &&
	grep "frees the host port allocated for 8080/tcp" remove-customer.txt &&
	grep "frees its subnet" remove-customer.txt &&
	grep "<summary>customer <b>gamma</b>: 2 to remove; networks: 2 to remove</summary>" remove-customer.md
'

test_expect_success 'a shared network gets a subnet and is no longer internal: recreated, with its links' '
	diff_golden change-network docs-only change-network &&
	grep "^  -/+ network acme-backend will be recreated$" change-network.txt &&
	grep "^        internal: true → false$" change-network.txt &&
	grep "^        subnet: (unset) → 10.240.0.0/24$" change-network.txt &&
	grep "^        stops, reconnects and starts again cache, db$" change-network.txt &&
	grep "^  -/+ network acme-alpha-via-backend will be recreated$" change-network.txt &&
	grep "^  -/+ network acme-beta-via-backend will be recreated$" change-network.txt &&
	test "$(grep -c "will be" change-network.txt)" = 3 &&
	grep "^Plan: 0 to create, 0 to update in place, 0 to recreate, 0 to remove; networks: 3 to recreate.$" \
		change-network.txt &&
	grep "\"network_recreate\": 3" change-network.json &&
	grep "\"dependents\": \[\"alpha/app\", \"cache\", \"db\"\]" change-network.json
'

test_expect_success 'the reverse direction: the customer comes back' '
	test_expect_code 2 "$RC" --repo "$REPO" --path deploy diff remove-customer stop-customer >back.txt &&
	grep "^  +   network acme-gamma will be created" back.txt
'

test_expect_success 'no changes: exit 0, "No changes." in every format' '
	test_expect_code 0 "$RC" --repo "$REPO" --path deploy diff remove-customer remove-customer >same.txt &&
	test "$(cat same.txt)" = "No changes." &&
	test_expect_code 0 "$RC" --repo "$REPO" --path deploy diff --markdown remove-customer remove-customer >same.md &&
	grep "^\*\*No changes.\*\*$" same.md &&
	test_expect_code 0 "$RC" --repo "$REPO" --path deploy diff --json remove-customer remove-customer >same.json &&
	grep "\"changed\": false" same.json &&
	grep "\"actions\": \[\]" same.json
'

test_expect_success 'a commit that only touches other files: no changes' '
	test_expect_code 0 "$RC" --repo "$REPO" --path deploy diff remove-customer docs-only >docs.txt &&
	test "$(cat docs.txt)" = "No changes."
'

test_expect_success 'an invalid commit: its file:line:col: diagnostics, exit 1, nothing on stdout' '
	test_expect_code 1 "$RC" --repo "$REPO" --path deploy diff remove-customer broken >bad.out 2>bad.err &&
	test ! -s bad.out &&
	grep "^deploy/customers/delta.yaml:[0-9]*:[0-9]*: " bad.err &&
	grep "^invalid: .* (broken, commit " bad.err &&
	test_expect_code 1 "$RC" --repo "$REPO" --path deploy diff broken remove-customer >bad2.out 2>bad2.err &&
	grep "^deploy/customers/delta.yaml:" bad2.err
'

test_expect_success 'usage errors and unknown revisions exit 1' '
	test_expect_code 1 "$RC" --repo "$REPO" --path deploy diff base 2>usage.err &&
	grep "usage:" usage.err &&
	test_expect_code 1 "$RC" --repo "$REPO" --path deploy diff base nosuchrev 2>rev.err &&
	grep "nosuchrev" rev.err &&
	test_expect_code 1 "$RC" --dir "$REPO/deploy" diff base add-customer 2>dir.err &&
	grep -- "--dir" dir.err &&
	test_expect_code 1 "$RC" --repo "$REPO" --path deploy diff --json --markdown base add-customer
'

test_expect_success 'no state directory (CI): secrets digest as empty, diff still works' '
	test_expect_code 2 "$RC" --state-dir "$TRASH/no-such-state" --repo "$REPO" --path deploy \
		diff base add-customer >nostate.txt &&
	test_cmp add-customer.txt nostate.txt
'

test_expect_success 'diff never contacts Docker (DOCKER_HOST points nowhere), --out writes a file' '
	test "$DOCKER_HOST" = unix:///nonexistent/docker.sock &&
	test_expect_code 2 "$RC" --repo "$REPO" --path deploy --docker-host unix:///nonexistent/x.sock \
		--out out.md diff --markdown base add-customer >out.stdout &&
	test ! -s out.stdout &&
	grep "<details>" out.md
'

test_expect_success 'colour only on a terminal: NO_COLOR and pipes get plain text' '
	! grep "$(printf "\033")" add-customer.txt change-plan.txt remove-customer.txt
'


# A repository writer's value on a reviewer's terminal: ESC, CR and C1
# controls in an env or label value are shown as \xNN, never sent raw (a
# clear-screen or a carriage return could hide a line of the plan).
test_expect_success 'control characters of values reach no terminal: diff and render show them as \xNN' '
	repo_init esc &&
	cat >esc/app.yaml <<-\EOT &&
	kind: Service
	name: app
	image: app:1
	env: {NOTE: plain}
	EOT
	repo_commit esc plain &&
	cat >esc/app.yaml <<-\EOT &&
	kind: Service
	name: app
	image: app:1
	env: {NOTE: "ok\r\u001b[2J\u009b31m"}
	labels: {note: "x\u001b[1m"}
	EOT
	repo_commit esc controls &&
	test_expect_code 2 "$RC" --repo esc diff HEAD~1 HEAD >esc.txt &&
	test_expect_code 2 "$RC" --repo esc diff --markdown HEAD~1 HEAD >esc.md &&
	"$RC" --repo esc render >esc.render &&
	! grep "$(printf "\033")" esc.txt esc.md esc.render &&
	! grep "$(printf "\r")" esc.txt esc.md esc.render &&
	test_grep -F "env.NOTE: plain" esc.txt &&
	test_grep -F "ok\x0d\x1b[2J\xc2\x9b31m" esc.txt &&
	test_grep -F "labels.note: (unset)" esc.txt &&
	test_grep -F "x\x1b[1m" esc.md &&
	test_grep -F "env.NOTE=ok\x0d\x1b[2J\xc2\x9b31m" esc.render
'

test_done
