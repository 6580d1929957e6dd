/*
 * docker_ssh.c — ssh:// engines (docker.h): OpenSSH's `ssh -L` forwards
 * the engine's socket on the remote host to a socket in a private
 * directory of ours, and the client talks HTTP to that socket as to a local
 * one.  See docker_int.h for the map of the client's files.
 *
 * Why a forward, not `ssh HOST docker system dial-stdio` (what the docker
 * CLI runs): that needs the docker CLI on the engine's host and one ssh
 * session per connection; a forward needs only sshd (with stream-local
 * forwarding, its default) and serves every connection of every clone
 * through one ssh process.
 *
 * The ssh process is forked by a thread of its own that then waits for it
 * (reading its standard error, keeping the last line for messages, and
 * reaping it): PR_SET_PDEATHSIG fires when the forking *thread* ends, so
 * forking from the caller's thread (which may be a short-lived one:
 * prefetch.c opens the client on one) would end ssh with that thread.
 * This one lives exactly as long as ssh, and dies with the process.
 * Between fork and exec only async-signal-safe calls.
 */
#include "docker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SSH_CONNECT_TIMEOUT_S 10
#define SSH_WAIT_NS ((int64_t)(SSH_CONNECT_TIMEOUT_S + 5) * NS_PER_S)
#define SSH_REVIVE_NS (5 * NS_PER_S)  /* an ended forward is started again at most this often */
#define SSH_ENV "RECONCILER_SSH"  /* the ssh client to run (tests give a wrapper); default `ssh` in PATH */

struct dk_ssh {
	atomic_int refs;
	char *dir, *sock;            /* our private directory (0700) and the forwarded socket in it */
	char **argv;                 /* ssh's command line, made before the fork */
	char *host, *dest;           /* for messages: the host string, user@host */
	pthread_t th;
	bool th_live;                /* th was made and not joined yet */
	pthread_mutex_t revive_mu;   /* one revival at a time (dk_ssh_revive()) */
	int64_t next_revive;         /* not before (monotonic ns) */
	pthread_mutex_t mu;          /* guards what follows */
	pid_t pid;                   /* 0: not forked yet, or reaped */
	bool exited;                 /* reaped (or never started) */
	int status;                  /* its wait status */
	int exec_errno;              /* exec failed with it */
	char last[512];              /* its last line on standard error */
};

/* The executable prog names (a path, or a name found in PATH), malloc'ed; NULL: none.  Resolved
 * before the fork: the child only calls execv(). */
static char *find_prog(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", *d ? d : ".", prog);
		if (access(f, X_OK) == 0)
			return f;
		free(f);
	}
	return NULL;
}

/* Keep the last non-empty line of chunk (appended to what was read of the current line). */
static void keep_lines(struct dk_ssh *s, char *line, size_t *len, const char *chunk, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = chunk[i];
		if (ch == '\n' || ch == '\r') {
			if (*len) {
				line[*len] = '\0';
				pthread_mutex_lock(&s->mu);
				snprintf(s->last, sizeof s->last, "%s", line);
				pthread_mutex_unlock(&s->mu);
				log_debug("docker: ssh: %s", line);
			}
			*len = 0;
		} else if (*len < 511) {
			line[(*len)++] = ch;
		}
	}
}

/* The thread: fork ssh (so that it dies with this thread: PR_SET_PDEATHSIG), read its stderr, reap it. */
static void *ssh_main(void *p)
{
	struct dk_ssh *s = p;
	int errp[2], execp[2];
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		pthread_mutex_lock(&s->mu);
		s->exec_errno = errno;
		s->exited = true;
		pthread_mutex_unlock(&s->mu);
		if (devnull >= 0)
			close(devnull);
		return NULL;
	}
	if (pipe2(execp, O_CLOEXEC) < 0) {
		pthread_mutex_lock(&s->mu);
		s->exec_errno = errno;
		s->exited = true;
		pthread_mutex_unlock(&s->mu);
		close(devnull);
		close(errp[0]);
		close(errp[1]);
		return NULL;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(126);
		if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
		    dup2(errp[1], STDERR_FILENO) < 0)
			_exit(126);
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  /* nothing of ours goes on (execp[1] until the exec) */
		execv(s->argv[0], s->argv);
		int e = errno;
		(void)!write(execp[1], &e, sizeof e);
		_exit(127);
	}
	int fork_errno = errno;
	close(devnull);
	close(errp[1]);
	close(execp[1]);
	pthread_mutex_lock(&s->mu);
	s->pid = pid > 0 ? pid : 0;
	if (pid < 0) {
		s->exec_errno = fork_errno;
		s->exited = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (pid < 0) {
		close(errp[0]);
		close(execp[0]);
		return NULL;
	}
	int e = 0;
	ssize_t got, r;
	while ((got = read(execp[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(execp[0]);
	char line[512], chunk[1024];
	size_t len = 0;
	while ((r = read(errp[0], chunk, sizeof chunk)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		keep_lines(s, line, &len, chunk, (size_t)r);
	}
	keep_lines(s, line, &len, "\n", 1);
	close(errp[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&s->mu);
	s->status = st;
	if (got == (ssize_t)sizeof e && e)
		s->exec_errno = e;
	s->exited = true;
	s->pid = 0;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static char **make_argv(const char *prog, const struct dk_endpoint *ep, const char *sock)
{
	const char *fixed[] = { "-nNT", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-o",
				"StreamLocalBindUnlink=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3" };
	size_t n = 0, cap = ARRAY_SIZE(fixed) + 12;
	char **v = xcalloc(cap, sizeof(*v));
	v[n++] = xstrdup(prog);
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		v[n++] = xstrdup(fixed[i]);
	v[n++] = xstrdup("-o");
	v[n++] = xasprintf("ConnectTimeout=%d", SSH_CONNECT_TIMEOUT_S);
	if (ep->ssh_port) {
		v[n++] = xstrdup("-p");
		v[n++] = xstrdup(ep->ssh_port);
	}
	v[n++] = xstrdup("-L");
	v[n++] = xasprintf("%s:%s", sock, ep->ssh_sock);
	v[n++] = xstrdup("--");
	v[n++] = xstrdup(ep->ssh_dest);
	v[n] = NULL;
	return v;
}

static void ssh_free(struct dk_ssh *s)
{
	if (s->sock) {
		unlink(s->sock);
		free(s->sock);
	}
	if (s->dir) {
		rmdir(s->dir);
		free(s->dir);
	}
	for (size_t i = 0; s->argv && s->argv[i]; i++)
		free(s->argv[i]);
	free(s->argv);
	free(s->host);
	free(s->dest);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->revive_mu);
	free(s);
}

/* End ssh (SIGTERM), reap it (the thread does), remove the socket and the directory. */
static void ssh_stop(struct dk_ssh *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->pid > 0 && !s->exited)
		kill(s->pid, SIGTERM);
	pthread_mutex_unlock(&s->mu);
	if (s->th_live)
		pthread_join(s->th, NULL);
	s->th_live = false;
	ssh_free(s);
}

void dk_ssh_unref(struct dk_ssh *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		ssh_stop(s);
}

struct dk_ssh *dk_ssh_ref(struct dk_ssh *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

void dk_ssh_said(struct dk_ssh *s, char *out, size_t n)
{
	out[0] = '\0';
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	snprintf(out, n, "%s", s->last);
	pthread_mutex_unlock(&s->mu);
}

/* Why ssh ended, into out. */
static void why_ended(struct dk_ssh *s, char *out, size_t n)
{
	pthread_mutex_lock(&s->mu);
	if (s->exec_errno)
		snprintf(out, n, "cannot run %s: %s", s->argv[0], strerror(s->exec_errno));
	else if (s->last[0])
		snprintf(out, n, "%s", s->last);
	else if (WIFEXITED(s->status))
		snprintf(out, n, "ssh exited with status %d", WEXITSTATUS(s->status));
	else
		snprintf(out, n, "ssh ended by signal %d", WIFSIGNALED(s->status) ? WTERMSIG(s->status) : 0);
	pthread_mutex_unlock(&s->mu);
}

/* Start ssh (its thread) and wait until the forwarded socket is there.  -1 with err: ssh's words,
 * or no forward in time (ssh is then told to end); the caller joins the thread (th_live). */
static int spawn(struct dk_ssh *s, struct rc_err *err)
{
	pthread_mutex_lock(&s->mu);
	s->exited = false;
	s->status = 0;
	s->exec_errno = 0;
	s->last[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	unlink(s->sock);  /* a socket the last ssh left */
	if (pthread_create(&s->th, NULL, ssh_main, s) != 0)
		return rc_errf(err, "docker host '%s': cannot start a thread for ssh", s->host);
	s->th_live = true;
	/* ssh makes the local socket once it is logged in and the forward is set up */
	int64_t end = now_ns() + SSH_WAIT_NS;
	for (;;) {
		struct stat sb;
		pthread_mutex_lock(&s->mu);
		bool ended = s->exited;
		pid_t pid = s->pid;
		pthread_mutex_unlock(&s->mu);
		if (ended) {
			char why[600];
			why_ended(s, why, sizeof why);
			return rc_err_fault(err, "docker host '%s': ssh to %s failed: %s", s->host, s->dest, why);
		}
		if (stat(s->sock, &sb) == 0 && S_ISSOCK(sb.st_mode))
			return 0;
		if (now_ns() >= end) {
			if (pid > 0)
				kill(pid, SIGTERM);
			return rc_err_fault(err, "docker host '%s': ssh to %s made no forward within %d s", s->host,
					    s->dest, (int)(SSH_WAIT_NS / NS_PER_S));
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void dk_ssh_revive(struct dk_ssh *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	bool ended = s->exited;
	pthread_mutex_unlock(&s->mu);
	if (!ended)
		return;
	pthread_mutex_lock(&s->revive_mu);
	pthread_mutex_lock(&s->mu);
	ended = s->exited;
	pthread_mutex_unlock(&s->mu);
	int64_t now = now_ns();
	if (ended && now >= s->next_revive) {
		s->next_revive = now + SSH_REVIVE_NS;
		char why[600];
		why_ended(s, why, sizeof why);
		if (s->th_live)
			pthread_join(s->th, NULL);
		s->th_live = false;
		struct rc_err err = { 0 };
		if (spawn(s, &err) < 0)
			log_warn("docker: the ssh forward to %s ended (%s); starting it again: %s", s->dest, why, err.msg);
		else
			log_info("docker: the ssh forward to %s ended (%s); started again", s->dest, why);
	}
	pthread_mutex_unlock(&s->revive_mu);
}

int dk_ssh_start(const char *host, struct dk_endpoint *ep, struct dk_ssh **ret, struct rc_err *err)
{
	const char *env = getenv(SSH_ENV);
	const char *prog = env && *env ? env : "ssh";
	_cleanup_free_ char *exe = find_prog(prog);
	if (!exe)
		return rc_errf(err, "docker host '%s': no ssh client: '%s' is not %s (ssh:// engines run OpenSSH's "
			       "ssh to forward the engine's socket: install openssh-client)", host, prog,
			       strchr(prog, '/') ? "an executable" : "in PATH");
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *tmpl = xasprintf("%s/reconciler-ssh.XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
	if (!mkdtemp(tmpl))  /* 0700 */
		return rc_errf(err, "docker host '%s': making a private directory %s: %s", host, tmpl, strerror(errno));
	struct dk_ssh *s = xcalloc(1, sizeof(*s));
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->revive_mu, NULL);
	s->dir = TAKE_PTR(tmpl);
	s->sock = xasprintf("%s/docker.sock", s->dir);
	if (strlen(s->sock) > 107) {
		rc_errf(err, "docker host '%s': the forwarded socket's path %s is longer than 107 bytes (set TMPDIR)", host,
			s->sock);
		ssh_free(s);
		return -1;
	}
	s->argv = make_argv(exe, ep, s->sock);
	s->host = xstrdup(host);
	s->dest = xstrdup(ep->ssh_dest);
	if (spawn(s, err) < 0) {
		ssh_stop(s);
		return -1;
	}
	log_debug("docker: ssh forwards %s to %s:%s", s->sock, ep->ssh_dest, ep->ssh_sock);
	free(ep->sock_path);
	ep->sock_path = xstrdup(s->sock);
	*ret = s;
	return 0;
}
