/*
 * dk_host_parse() (docker_host.c): the host strings DOCKER_HOST and
 * --docker-host take, with the TLS environment, as the docker CLI reads
 * them: default ports 2375 and 2376, https://, [IPv6], the certificate
 * files' paths, and the refusals.  dk_client_open()'s file checks on a
 * missing ca.pem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docker.h"
#include "tap.h"
#include "util.h"

static const struct dk_tls_env plain = { .home = "/home/u" };
static const struct dk_tls_env verify = { .tls_verify = "1", .cert_path = "/certs", .home = "/home/u" };
static const struct dk_tls_env verify_home = { .tls_verify = "1", .cert_path = "", .home = "/home/u" };
static const struct dk_tls_env verify_empty = { .tls_verify = "", .home = "/home/u" };

static void host_is(const char *host, const struct dk_tls_env *env, const char *want_base, bool want_tls)
{
	struct dk_endpoint e = { 0 };
	struct rc_err err = { 0 };
	if (!ok(dk_host_parse(host, env, &e, &err) == 0, "'%s' parses (%s)", host, err.msg))
		return;
	is_str(e.base_url, want_base, "'%s': base URL", host);
	ok(e.tls == want_tls && !e.sock_path, "'%s': %s over TCP", host, want_tls ? "TLS" : "plain HTTP");
	dk_endpoint_release(&e);
}

static void refused(const char *host, const struct dk_tls_env *env, const char *want)
{
	struct dk_endpoint e = { .base_url = (char *)"untouched" };
	struct rc_err err = { 0 };
	ok(dk_host_parse(host, env, &e, &err) < 0 && strstr(err.msg, want) && strcmp(e.base_url, "untouched") == 0,
	   "'%s' refused, saying '%s': %s", host, want, err.msg);
}

static void test_unix(void)
{
	struct dk_endpoint e = { 0 };
	struct rc_err err = { 0 };
	ok(dk_host_parse(NULL, &verify, &e, &err) == 0 && e.sock_path && strcmp(e.sock_path, "/var/run/docker.sock") == 0 &&
	   !e.tls && !e.ca_file, "no host: the default socket, DOCKER_TLS_VERIFY does not apply");
	dk_endpoint_release(&e);
	ok(dk_host_parse("/run/d.sock", &plain, &e, &err) == 0 && strcmp(e.sock_path, "/run/d.sock") == 0 &&
	   strcmp(e.base_url, "http://localhost") == 0, "a bare path is a socket");
	dk_endpoint_release(&e);
	refused("unix://", &plain, "no socket path");
}

static void test_tcp(void)
{
	host_is("tcp://127.0.0.1", &plain, "http://127.0.0.1:2375", false);
	host_is("tcp://engine.example", &verify_empty, "http://engine.example:2375", false);
	host_is("tcp://127.0.0.1:4243", &plain, "http://127.0.0.1:4243", false);
	host_is("tcp://127.0.0.1:4243/", &plain, "http://127.0.0.1:4243", false);
	host_is("tcp://engine.example", &verify, "https://engine.example:2376", true);
	host_is("tcp://engine.example:12376", &verify, "https://engine.example:12376", true);
	host_is("https://engine.example", &plain, "https://engine.example:2376", true);
	host_is("https://10.0.0.2:443", &verify, "https://10.0.0.2:443", true);
	host_is("http://engine.example", &plain, "http://engine.example", false);
	host_is("http://engine.example:2375", &plain, "http://engine.example:2375", false);
	host_is("tcp://[::1]", &plain, "http://[::1]:2375", false);
	host_is("tcp://[fd00::2]:2376", &verify, "https://[fd00::2]:2376", true);
}

static void test_tls_files(void)
{
	struct dk_endpoint e = { 0 };
	struct rc_err err = { 0 };
	ok(dk_host_parse("tcp://h", &verify, &e, &err) == 0, "TLS host parses");
	is_str(e.ca_file, "/certs/ca.pem", "ca.pem in DOCKER_CERT_PATH");
	is_str(e.cert_file, "/certs/cert.pem", "cert.pem in DOCKER_CERT_PATH");
	is_str(e.key_file, "/certs/key.pem", "key.pem in DOCKER_CERT_PATH");
	dk_endpoint_release(&e);
	ok(dk_host_parse("tcp://h", &verify_home, &e, &err) == 0, "TLS host, no DOCKER_CERT_PATH");
	is_str(e.ca_file, "/home/u/.docker/ca.pem", "ca.pem in ~/.docker");
	dk_endpoint_release(&e);
	ok(dk_host_parse("tcp://h", &plain, &e, &err) == 0 && !e.ca_file && !e.cert_file, "plain: no files");
	dk_endpoint_release(&e);
	static const struct dk_tls_env nohome = { .tls_verify = "1" };
	refused("https://h", &nohome, "DOCKER_CERT_PATH");
}

static void ssh_is(const char *host, const char *dest, const char *port, const char *sock)
{
	struct dk_endpoint e = { 0 };
	struct rc_err err = { 0 };
	if (!ok(dk_host_parse(host, &verify, &e, &err) == 0, "'%s' parses (%s)", host, err.msg))
		return;
	is_str(e.ssh_dest, dest, "'%s': ssh destination", host);
	ok(port ? e.ssh_port && strcmp(e.ssh_port, port) == 0 : !e.ssh_port, "'%s': ssh port %s", host,
	   port ? port : "ssh's own");
	is_str(e.ssh_sock, sock, "'%s': the engine's socket there", host);
	ok(!e.tls && !e.sock_path && strcmp(e.base_url, "http://localhost") == 0,
	   "'%s': HTTP over the forwarded socket, made later; DOCKER_TLS_VERIFY does not apply", host);
	dk_endpoint_release(&e);
}

/* ssh://[user@]host[:port][/socket]: what ssh -L is given (docker_ssh.c) */
static void test_ssh(void)
{
	ssh_is("ssh://me@engine.example", "me@engine.example", NULL, "/var/run/docker.sock");
	ssh_is("ssh://engine", "engine", NULL, "/var/run/docker.sock");
	ssh_is("ssh://root@127.0.0.1:2222", "root@127.0.0.1", "2222", "/var/run/docker.sock");
	ssh_is("ssh://u@[::1]:22/run/user/1000/docker.sock", "u@::1", "22", "/run/user/1000/docker.sock");
}

static void test_refused(void)
{
	refused("ssh://", &plain, "no address");
	refused("ssh://me@", &plain, "no address");
	refused("ssh://-oProxyCommand=x", &plain, "not a host name");
	refused("ssh://-me@h", &plain, "user name");
	refused("ssh://m;e@h", &plain, "user name");
	refused("ssh://h:0", &plain, "invalid port '0'");
	refused("ssh://h/", &plain, "absolute path");
	refused("ssh://h/a:b", &plain, "absolute path");
	refused("npipe:////./pipe/docker_engine", &plain, "unsupported docker host");
	refused("tcp://", &plain, "no address");
	refused("tcp://:2375", &plain, "no address");
	refused("tcp://h:", &plain, "invalid port ''");
	refused("tcp://h:0", &plain, "invalid port '0'");
	refused("tcp://h:65536", &plain, "invalid port '65536'");
	refused("tcp://h:23x", &plain, "invalid port '23x'");
	refused("tcp://::1", &plain, "in brackets");
	refused("tcp://[::1", &plain, "unterminated");
	refused("tcp://[::1]x", &plain, "after the address");
	refused("tcp://u@h", &plain, "user names");
	refused("http://h:2375", &verify, "DOCKER_TLS_VERIFY is set");
}

/* dk_client_open() reads the files before it connects: a missing ca.pem is named. */
static void test_open_missing_ca(void)
{
	char dir[] = "/tmp/rc-t-docker-host.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", dir, 1);
	struct dk_client *c = NULL;
	struct rc_err err = { 0 };
	struct dk_opts o = { .host = "tcp://127.0.0.1:9" };
	_cleanup_free_ char *want = xasprintf("%s/ca.pem: cannot read: No such file or directory", dir);
	ok(dk_client_open(&o, &c, &err) < 0 && !c && strstr(err.msg, want), "missing ca.pem: %s", err.msg);
	_cleanup_free_ char *ca = xasprintf("%s/ca.pem", dir), *cert = xasprintf("%s/cert.pem", dir);
	FILE *f = fopen(ca, "w");
	if (f)
		fclose(f);
	f = fopen(cert, "w");
	if (f)
		fclose(f);
	ok(dk_client_open(&o, &c, &err) < 0 && !c && strstr(err.msg, "key.pem: cannot read") &&
	   strstr(err.msg, "both cert.pem and key.pem"), "cert.pem without key.pem: %s", err.msg);
	unsetenv("DOCKER_TLS_VERIFY");
	unsetenv("DOCKER_CERT_PATH");
	remove(ca);
	remove(cert);
	rmdir(dir);
}

int main(void)
{
	test_unix();
	test_tcp();
	test_tls_files();
	test_ssh();
	test_refused();
	test_open_missing_ca();
	return done_testing();
}
