/*
 * gitcred.c — the --remote credentials file.  See gitcred.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gitcred.h"

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void gitcred_release(struct gitcred *c)
{
	if (!c)
		return;
	free(c->username);
	wipe_free(c->password);
	free(c->ssh_key);
	free(c->ssh_pubkey);
	wipe_free(c->ssh_passphrase);
	*c = (struct gitcred){ 0 };
}

static void gitcred_releasep(struct gitcred *c) { gitcred_release(c); }

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* [*s, *e) without the spaces around it. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

static bool key_is(const char *k, size_t klen, const char *name)
{
	return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

int gitcred_parse(const char *file, const char *text, size_t len, struct gitcred *ret, struct rc_err *err)
{
	_cleanup_(gitcred_releasep) struct gitcred c = { 0 };
	const char *p = text, *end = text + len;
	unsigned line = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p, *e = le;
		p = nl ? nl + 1 : end;
		line++;
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		if (memchr(s, '\0', (size_t)(e - s)))
			return rc_errf(err, "credentials file '%s', line %u: a NUL byte (a text file is expected)", file,
				       line);
		const char *eq = memchr(s, '=', (size_t)(e - s));
		if (!eq)
			/* the line itself is never shown: it may be a secret */
			return rc_errf(err, "credentials file '%s', line %u: expected KEY=VALUE", file, line);
		const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
		trim(&ks, &ke);
		trim(&vs, &ve);
		size_t klen = (size_t)(ke - ks);
		char **slot = NULL;
		bool path = false;
		if (key_is(ks, klen, "username"))
			slot = &c.username;
		else if (key_is(ks, klen, "password") || key_is(ks, klen, "token")) {
			bool tok = key_is(ks, klen, "token");
			if (c.password && tok != c.token)
				return rc_errf(err, "credentials file '%s', line %u: %s given after %s (give one of "
					       "password= and token=)", file, line, tok ? "token" : "password",
					       c.token ? "token" : "password");
			slot = &c.password;
			c.token = tok;
		} else if (key_is(ks, klen, "ssh_key")) {
			slot = &c.ssh_key;
			path = true;
		} else if (key_is(ks, klen, "ssh_pubkey")) {
			slot = &c.ssh_pubkey;
			path = true;
		} else if (key_is(ks, klen, "ssh_passphrase"))
			slot = &c.ssh_passphrase;
		else if (klen == 0)
			return rc_errf(err, "credentials file '%s', line %u: a key is missing before '='", file, line);
		else
			return rc_errf(err, "credentials file '%s', line %u: unknown key '%.*s' (known: username, "
				       "password, token, ssh_key, ssh_pubkey, ssh_passphrase)", file, line,
				       klen > 40 ? 40 : (int)klen, ks);
		if (*slot)
			return rc_errf(err, "credentials file '%s', line %u: '%.*s' is given twice", file, line, (int)klen,
				       ks);
		if (vs == ve)
			return rc_errf(err, "credentials file '%s', line %u: '%.*s' has no value", file, line, (int)klen,
				       ks);
		if (path && *vs != '/')
			return rc_errf(err, "credentials file '%s', line %u: '%.*s' must be an absolute path", file, line,
				       (int)klen, ks);
		*slot = xstrndup(vs, (size_t)(ve - vs));
	}
	if ((c.ssh_pubkey || c.ssh_passphrase) && !c.ssh_key)
		return rc_errf(err, "credentials file '%s': %s is given without ssh_key", file,
			       c.ssh_pubkey ? "ssh_pubkey" : "ssh_passphrase");
	if (!c.password && !c.ssh_key && !c.username)
		return rc_errf(err, "credentials file '%s' holds no credentials (password=, token= or ssh_key=; see "
			       "spec/remote-credentials.md)", file);
	*ret = c;
	c = (struct gitcred){ 0 };
	return 0;
}

/* Open a file that holds a secret: private_file rules, and no group or other access. */
static int open_secret(const char *what, const char *path, struct rc_err *err)
{
	int fd = open_private(what, path, O_RDONLY, 0, err);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return rc_errf(err, "cannot stat %s '%s': %s", what, path, strerror(e));
	}
	if (st.st_mode & 077) {
		close(fd);
		return rc_errf(err, "%s '%s' has mode %04o: it must be readable by its owner only; chmod 600 '%s'", what,
			       path, (unsigned)(st.st_mode & 07777), path);
	}
	return fd;
}

int gitcred_load(const char *path, struct gitcred *ret, struct rc_err *err)
{
	int fd = open_secret("credentials file", path, err);
	if (fd < 0)
		return -1;
	/* read into one buffer that is wiped (no realloc leaves a copy behind) */
	char *data = xmalloc(RC_GITCRED_MAX_SIZE + 1);
	size_t len = 0;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, data + len, RC_GITCRED_MAX_SIZE + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = rc_errf(err, "cannot read credentials file '%s': %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > RC_GITCRED_MAX_SIZE) {
			rc = rc_errf(err, "credentials file '%s' is larger than %u bytes", path, RC_GITCRED_MAX_SIZE);
			break;
		}
	}
	close(fd);
	struct gitcred c = { 0 };
	if (rc == 0)
		rc = gitcred_parse(path, data, len, &c, err);
	explicit_bzero(data, RC_GITCRED_MAX_SIZE + 1);
	free(data);
	if (rc < 0)
		return -1;
	if (c.ssh_key) {
		struct rc_err e2;
		int kfd = open_secret("SSH key", c.ssh_key, &e2);
		if (kfd < 0) {
			rc_errf(err, "%s (named by credentials file '%s')", e2.msg, path);
			gitcred_release(&c);
			return -1;
		}
		close(kfd);
	}
	*ret = c;
	return 0;
}

const char *gitcred_http_user(const struct gitcred *c, const char *user_from_url)
{
	if (c->username)
		return c->username;
	if (user_from_url && *user_from_url)
		return user_from_url;
	return c->token ? RC_GITCRED_TOKEN_USER : NULL;
}

const char *gitcred_ssh_user(const struct gitcred *c, const char *user_from_url)
{
	if (c->username)
		return c->username;
	if (user_from_url && *user_from_url)
		return user_from_url;
	return RC_GITCRED_SSH_USER;
}

bool gitcred_url_has_password(const char *url)
{
	const char *at = NULL, *p = url_userinfo(url, &at);
	return p && memchr(p, ':', (size_t)(at - p)) != NULL;
}
