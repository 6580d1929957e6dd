/* owner.c — see owner.h. */
#include "owner.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "unit.h"

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static char *real_or_given(const char *p)
{
	char *r = realpath(p, NULL);
	return r ? r : xstrdup(p);
}

char *owner_repo_identity(const char *repo, const char *dir, const char *remote)
{
	if (remote && *remote)
		return url_redact(remote);
	if (dir && *dir) {
		_cleanup_free_ char *r = real_or_given(dir);
		return xasprintf("dir:%s", r);
	}
	return real_or_given(repo && *repo ? repo : ".");
}

/* /etc/machine-id's first line, else NULL. */
static char *machine_id(void)
{
	FILE *f = fopen("/etc/machine-id", "re");
	if (!f)
		return NULL;
	char line[128];
	char *r = NULL;
	if (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line)
			r = xstrdup(line);
	}
	fclose(f);
	return r;
}

static char *host_name(void)
{
	char h[HOST_NAME_MAX + 1];
	if (gethostname(h, sizeof h) < 0)
		return xstrdup("unknown");
	h[HOST_NAME_MAX] = '\0';
	return xstrdup(h);
}

int owner_self_init(struct owner_self *ret, const char *project, const char *state_dir, const char *repo,
		    struct rc_err *err)
{
	char *real = realpath(state_dir, NULL);
	if (!real)
		return rc_errf(err, "cannot resolve the state directory '%s': %s", state_dir, strerror(errno));
	struct owner_self s = { .project = xstrdup(project), .state_dir = real, .host = host_name(),
				.repo = xstrdup(repo ? repo : "") };
	_cleanup_free_ char *machine = machine_id();
	struct buf b = BUF_INIT;
	buf_adds(&b, "reconciler-owner");
	buf_addc(&b, '\0');
	buf_adds(&b, machine ? machine : s.host);
	buf_addc(&b, '\0');
	buf_adds(&b, s.state_dir);
	buf_addc(&b, '\0');
	buf_adds(&b, project);
	rc_hash128_hex(b.data, b.len, s.id);
	buf_release(&b);
	*ret = s;
	return 0;
}

void owner_self_release(struct owner_self *s)
{
	free(s->project);
	free(s->state_dir);
	free(s->host);
	free(s->repo);
	memset(s, 0, sizeof(*s));
}

void owner_marker_release(struct owner_marker *m)
{
	free(m->id);
	free(m->project);
	free(m->repo);
	free(m->state_dir);
	free(m->host);
	memset(m, 0, sizeof(*m));
}

char *owner_volume_name(const char *project)
{
	return xasprintf("%s" RC_OWNER_VOLUME_SUFFIX, project);
}

int owner_look(struct dk_client *c, const char *project, struct owner_marker *ret, struct rc_err *err)
{
	_cleanup_free_ char *name = owner_volume_name(project);
	struct dk_volume *v = NULL;
	struct dk_status ds;
	if (dk_volume_inspect(c, name, &v, &ds, err) < 0) {
		if (ds.http != 404)
			return rc_err_prefix(err, "looking at the owner of project '%s'", project);
		*ret = (struct owner_marker){ 0 };
		return 0;
	}
	struct owner_marker m = { .present = true };
	m.id = dup_or_null(dk_label(v->labels, v->nlabels, RC_LABEL_OWNER));
	m.project = dup_or_null(dk_label(v->labels, v->nlabels, RC_LABEL_PROJECT));
	m.repo = dup_or_null(dk_label(v->labels, v->nlabels, RC_LABEL_OWNER_REPO));
	m.state_dir = dup_or_null(dk_label(v->labels, v->nlabels, RC_LABEL_OWNER_STATE));
	m.host = dup_or_null(dk_label(v->labels, v->nlabels, RC_LABEL_OWNER_HOST));
	dk_volume_free(v);
	*ret = m;
	return 0;
}

enum owner_verdict owner_judge(const struct owner_self *self, const struct owner_marker *m)
{
	if (!m->present)
		return OWNER_ABSENT;
	return str_eq(m->id, self->id) && str_eq(m->project, self->project) ? OWNER_MINE : OWNER_FOREIGN;
}

/* A volume of the marker's name that reconciler did not make for this project. */
static bool not_a_marker(const struct owner_marker *m, const char *project)
{
	return !m->id || !str_eq(m->project, project);
}

char *owner_describe(const struct owner_marker *m)
{
	if (!m->id)
		return xstrdup("a volume without owner labels (not made by reconciler)");
	return xasprintf("state directory %s on host %s (repository %s)", m->state_dir ? m->state_dir : "(unknown)",
			 m->host ? m->host : "(unknown)", m->repo ? m->repo : "(unknown)");
}

int owner_refusal(const struct owner_self *self, const struct owner_marker *m, struct rc_err *err)
{
	_cleanup_free_ char *who = owner_describe(m);
	_cleanup_free_ char *name = owner_volume_name(self->project);
	if (not_a_marker(m, self->project))
		return rc_errf(err, "project '%s': the volume '%s' that marks the project's owner is %s; "
				    "nothing was changed; remove or rename that volume if it is not needed",
			       self->project, name, who);
	return rc_errf(err, "project '%s' is owned by %s, not by this state directory (%s on host %s); "
			    "nothing was changed; to take it over deliberately: reconciler --take-over apply "
			    "(`plan --take-over` shows what that would do)",
		       self->project, who, self->state_dir, self->host);
}

int owner_check(struct dk_client *c, const struct owner_self *self, bool take_over, struct owner_marker *ret_seen,
		struct rc_err *err)
{
	struct owner_marker m = { 0 };
	if (owner_look(c, self->project, &m, err) < 0)
		return -1;
	int rc = 0;
	if (owner_judge(self, &m) == OWNER_FOREIGN && (!take_over || not_a_marker(&m, self->project))) {
		owner_refusal(self, &m, err);
		rc = 1;
	}
	*ret_seen = m;
	return rc;
}

static int create_marker(struct dk_client *c, const struct owner_self *self, const char *name, struct rc_err *err)
{
	char id[RC_HASH_HEX_LEN + 1];
	memcpy(id, self->id, sizeof id);
	struct rc_kv labels[] = {
		{ (char *)RC_LABEL_MANAGED, (char *)RC_MANAGED_BY },
		{ (char *)RC_LABEL_PROJECT, self->project },
		{ (char *)RC_LABEL_OWNER, id },
		{ (char *)RC_LABEL_OWNER_REPO, self->repo },
		{ (char *)RC_LABEL_OWNER_STATE, self->state_dir },
		{ (char *)RC_LABEL_OWNER_HOST, self->host },
	};
	if (dk_volume_create(c, name, labels, ARRAY_SIZE(labels), NULL, NULL, err) < 0)
		return rc_err_prefix(err, "claiming project '%s'", self->project);
	return 0;
}

int owner_claim(struct dk_client *c, const struct owner_self *self, const struct owner_marker *seen,
		bool take_over, bool *ret_refused, struct rc_err *err)
{
	*ret_refused = false;
	enum owner_verdict v = owner_judge(self, seen);
	if (v == OWNER_MINE)
		return 0;
	_cleanup_free_ char *name = owner_volume_name(self->project);
	if (v == OWNER_FOREIGN) {
		/* a volume reconciler did not make for this project is never removed, take-over or not */
		if (!take_over || not_a_marker(seen, self->project)) {
			*ret_refused = true;
			return owner_refusal(self, seen, err);
		}
		struct dk_status ds;
		if (dk_volume_remove(c, name, false, &ds, err) < 0 && ds.http != 404)
			return rc_err_prefix(err, "taking over project '%s'", self->project);
	}
	if (create_marker(c, self, name, err) < 0)
		return -1;
	/* two claimants at once: the engine keeps the first volume made (a create of an existing name
	 * answers 201 with it), so look again */
	struct owner_marker now = { 0 };
	if (owner_look(c, self->project, &now, err) < 0)
		return -1;
	int rc = 1;
	if (owner_judge(self, &now) != OWNER_MINE) {
		*ret_refused = now.present;
		rc = now.present ? owner_refusal(self, &now, err)
				 : rc_errf(err, "claiming project '%s': the volume '%s' vanished right after it was made",
					   self->project, name);
	}
	owner_marker_release(&now);
	return rc;
}
