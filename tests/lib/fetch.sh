# fetches CONTAINER HOST: can CONTAINER fetch http://HOST:8080/health (3 s at
# most; busybox wget's own -T crashes)?  A name is resolved first with the
# container's DNS (busybox's nslookup: the static busybox's wget cannot
# resolve names itself); a name that does not resolve cannot be fetched.
# Sourced by the tests of networks and isolation (t0750, t0790).
fetches() {
	host=$2
	case $host in
	*[!0-9.]*)
		host=$(docker exec "$1" nslookup "$host" 2>/dev/null |
			sed -n "/^Name:/,\$ s/^Address:[[:space:]]*\([0-9.]*\).*/\1/p" | head -n 1)
		test -n "$host" || return 1
		;;
	esac
	docker exec "$1" timeout 3 wget -q -O /dev/null "http://$host:8080/health" 2>/dev/null
}
