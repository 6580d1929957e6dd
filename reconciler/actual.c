/* actual.c — see actual.h. */
#include "actual.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spec.h"
#include "speckeys.h"
#include "util.h"

/* ---- canonical text as a lookup table ------------------------------------ */

/* One line of a canonical text: key (still escaped, as written) and value (unescaped). */
struct line {
	char *key;
	char *value;
	char *raw;    /* the whole line as written, without '\n' */
};
struct lines {
	struct line *v;
	size_t n;
};

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->key, ((const struct line *)b)->key);
}

static char *unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			i++;
			*o++ = s[i] == 'n' ? '\n' : s[i];
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void lines_parse(const char *text, struct lines *ret)
{
	struct lines l = { NULL, 0 };
	size_t cap = 0;
	for (const char *p = text ? text : ""; *p;) {
		size_t len = strcspn(p, "\n");
		if (len) {
			size_t k = 0;
			while (k < len && p[k] != '=')
				k += p[k] == '\\' && k + 1 < len ? 2 : 1;
			GROW(l.v, l.n + 1, cap);
			l.v[l.n].key = xstrndup(p, k < len ? k : len);
			l.v[l.n].value = k < len ? unescape(p + k + 1, len - k - 1) : xstrdup("");
			l.v[l.n].raw = xstrndup(p, len);
			l.n++;
		}
		p += len;
		if (*p)
			p++;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), line_cmp);
	*ret = l;
}

static void lines_release(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
		free(l->v[i].raw);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The line for (unescaped) key, or NULL. */
static const struct line *lines_find(const struct lines *l, const char *key)
{
	struct buf k = BUF_INIT;
	spec_escape(&k, key, true);
	struct line probe = { .key = buf_detach(&k, NULL) };
	const struct line *r = l->n ? bsearch(&probe, l->v, l->n, sizeof(*l->v), line_cmp) : NULL;
	free(probe.key);
	return r;
}

static const char *lines_get(const struct lines *l, const char *key)
{
	const struct line *ln = lines_find(l, key);
	return ln ? ln->value : NULL;
}

static bool lines_has(const struct lines *l, const char *key)
{
	return lines_find(l, key) != NULL;
}

static bool lines_has_prefix(const struct lines *l, const char *prefix)
{
	for (size_t i = 0; i < l->n; i++)
		if (str_startswith(l->v[i].key, prefix))
			return true;
	return false;
}

static bool parse_i64(const char *s, int64_t *ret)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* ---- small helpers -------------------------------------------------------- */

static bool argv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static char **argv_dup(char *const *v, size_t n)
{
	char **r = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool image_has_env(const struct dk_image *img, const char *pair)
{
	if (!img)
		return false;
	for (size_t i = 0; i < img->config.nenv; i++)
		if (strcmp(img->config.env[i], pair) == 0)
			return true;
	return false;
}

/* A field the image may have supplied: read it back when expected, or when it is not the image's. */
static bool keep_scalar(const struct lines *exp, const char *key, const char *actual, const struct dk_image *img,
			const char *image_value)
{
	if (!actual)
		return false;
	return lines_has(exp, key) || !img || !str_eq(actual, image_value);
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ---- the conversion ------------------------------------------------------- */

/* Does the expected text hold a line of row r (its key, or one of its KEY.* lines)? */
static bool expects_row(const struct lines *exp, const struct sk_row *r)
{
	if (r->type != SKT_SET && r->type != SKT_MAP)
		return lines_has(exp, r->ckey);
	_cleanup_free_ char *prefix = xasprintf("%s.", r->ckey);
	return lines_has_prefix(exp, prefix);
}

/* The spec-key table's fields, each by its row's read-back rule (speckeys.h). */
static void read_fields(const struct dk_container *ct, const struct dk_image *img, const struct lines *exp,
			struct rc_unit *a)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		const struct sk_value *v = &ct->fields[i];
		bool keep = false;
		switch (r->readback) {
		case SKR_NONZERO:
			keep = true;
			break;
		case SKR_IMAGE:
			/* a string the image may have supplied: read it back when expected, or when it is not
			 * the image's */
			keep = keep_scalar(exp, r->ckey, v->str, img, img ? img->config.fields[i].str : NULL);
			break;
		case SKR_EXPECTED:
			keep = expects_row(exp, r);
			break;
		}
		if (keep)
			sk_value_copy(&a->fields[i], v);
	}
}

static void read_health(const struct dk_container *ct, const struct dk_image *img, const struct lines *exp,
			const struct lines *label, struct rc_unit *a, struct lines *copied)
{
	if (!ct->has_health || ct->nhealth_test == 0)
		return;
	if (strcmp(ct->health_test[0], "NONE") == 0) {
		/* Disabled in the engine: an HTTP check is the reconciler's own, described by the label only. */
		if (!lines_has(label, "health.http"))
			return;
		size_t cap = 0;
		for (size_t i = 0; i < label->n; i++) {
			if (!str_startswith(label->v[i].key, "health."))
				continue;
			GROW(copied->v, copied->n + 1, cap);
			copied->v[copied->n++].raw = label->v[i].raw; /* borrowed */
		}
		return;
	}
	bool is_image = img && img->config.has_health &&
			argv_eq(ct->health_test, ct->nhealth_test, img->config.health_test, img->config.nhealth_test) &&
			ct->health_interval_ns == img->config.health_interval_ns &&
			ct->health_timeout_ns == img->config.health_timeout_ns &&
			ct->health_start_period_ns == img->config.health_start_period_ns &&
			ct->health_retries == img->config.health_retries;
	if (is_image && !lines_has_prefix(exp, "health."))
		return;
	a->health.kind = RC_HEALTH_CMD;
	if (strcmp(ct->health_test[0], "CMD-SHELL") == 0 && ct->nhealth_test == 2) {
		a->health.cmd = xstrdup(ct->health_test[1]);
	} else {
		struct buf b = BUF_INIT;
		buf_addc(&b, '[');
		for (size_t i = 0; i < ct->nhealth_test; i++) {
			if (i)
				buf_addc(&b, ',');
			buf_add_json_str(&b, ct->health_test[i]);
		}
		buf_addc(&b, ']');
		a->health.cmd = buf_detach(&b, NULL);
	}
	const struct dk_image_config *ic = img && img->config.has_health ? &img->config : NULL;
	if (lines_has(exp, "health.interval") || !ic || ct->health_interval_ns != ic->health_interval_ns)
		a->health.interval_ns = ct->health_interval_ns;
	if (lines_has(exp, "health.timeout") || !ic || ct->health_timeout_ns != ic->health_timeout_ns)
		a->health.timeout_ns = ct->health_timeout_ns;
	if (lines_has(exp, "health.start_period") || !ic || ct->health_start_period_ns != ic->health_start_period_ns)
		a->health.start_period_ns = ct->health_start_period_ns;
	if (lines_has(exp, "health.retries") || !ic || ct->health_retries != ic->health_retries)
		a->health.retries = ct->health_retries;
}

static void read_mounts(const struct dk_container *ct, const struct lines *label, struct rc_unit *a)
{
	a->mounts = xcalloc(ct->nmounts + 1, sizeof(*a->mounts));
	a->secrets = xcalloc(ct->nmounts + 1, sizeof(*a->secrets));
	for (size_t i = 0; i < ct->nmounts; i++) {
		const struct dk_mount_info *m = &ct->mounts[i];
		/* a target mounted twice (Mounts and Binds): the first */
		if (i > 0 && strcmp(ct->mounts[i - 1].target, m->target) == 0)
			continue;
		struct rc_mount *am = &a->mounts[a->nmounts++];
		am->target = xstrdup(m->target);
		am->read_only = m->read_only;
		switch (m->type) {
		case DK_MOUNT_VOLUME: am->kind = RC_MOUNT_VOLUME; break;
		case DK_MOUNT_BIND: am->kind = RC_MOUNT_BIND; break;
		case DK_MOUNT_TMPFS: am->kind = RC_MOUNT_TMPFS; break;
		}
		am->source = m->type == DK_MOUNT_TMPFS ? NULL : xstrdup(m->source ? m->source : "");
		if (m->type != DK_MOUNT_BIND || !m->read_only || !m->source)
			continue;
		_cleanup_free_ char *mkey = xasprintf("mounts.%s", m->target);
		const char *declared = lines_get(label, mkey);
		if (!declared || !str_startswith(declared, "secret:"))
			continue;
		const char *name = declared + strlen("secret:");
		size_t nlen = strcspn(name, ":");
		if (strlen(basename_of(m->source)) != nlen || strncmp(basename_of(m->source), name, nlen) != 0)
			continue;
		am->kind = RC_MOUNT_SECRET;
		free(am->source);
		am->source = xstrndup(name, nlen);
		bool seen = false;
		for (size_t k = 0; k < a->nsecrets && !seen; k++)
			seen = strcmp(a->secrets[k].name, am->source) == 0;
		if (seen)
			continue;
		struct rc_secret *s = &a->secrets[a->nsecrets++];
		s->name = xstrdup(am->source);
		_cleanup_free_ char *skey = xasprintf("secrets.%s", s->name);
		snprintf(s->digest, sizeof(s->digest), "%s", lines_get(label, skey) ? lines_get(label, skey) : "");
	}
}

/* networks.i lines: expected ones at their index when attached, then the others by name. */
static void network_lines(const struct dk_container *ct, const struct lines *exp, const char *const *links,
			  size_t nlinks, struct lines *extra)
{
	size_t nexp = 0, cap = extra->n;
	bool *used = xcalloc(ct->nnetworks + 1, sizeof(bool));
	for (;; nexp++) {
		char key[32];
		snprintf(key, sizeof(key), "networks.%zu", nexp);
		const char *name = lines_get(exp, key);
		if (!name)
			break;
		for (size_t k = 0; k < ct->nnetworks; k++) {
			if (used[k] || strcmp(ct->networks[k].name, name) != 0)
				continue;
			used[k] = true;
			struct buf b = BUF_INIT;
			buf_addf(&b, "%s=", key);
			spec_escape(&b, name, false);
			GROW(extra->v, extra->n + 1, cap);
			extra->v[extra->n++].raw = buf_detach(&b, NULL);
			break;
		}
	}
	size_t idx = nexp;
	for (size_t k = 0; k < ct->nnetworks; k++) { /* sorted by name */
		if (used[k])
			continue;
		if (nexp == 0 && strcmp(ct->networks[k].name, "bridge") == 0)
			continue;
		bool link = false;
		for (size_t l = 0; l < nlinks && !link; l++)
			link = strcmp(links[l], ct->networks[k].name) == 0;
		if (link)
			continue;
		struct buf b = BUF_INIT;
		buf_addf(&b, "networks.%zu=", idx++);
		spec_escape(&b, ct->networks[k].name, false);
		GROW(extra->v, extra->n + 1, cap);
		extra->v[extra->n++].raw = buf_detach(&b, NULL);
	}
	free(used);
}

const char *actual_image_ref(const struct dk_container *ct)
{
	/* Containers are created from the image ID their reference resolved
	 * to, the reference kept in a label: that is what the unit asked for.
	 * A container made from anything else (by hand, or by an older
	 * reconciler from the reference) shows its Config.Image. */
	const char *ref = dk_label(ct->labels, ct->nlabels, RC_LABEL_IMAGE);
	if (ref && ct->image && ct->image_id && strcmp(ct->image, ct->image_id) == 0)
		return ref;
	return ct->image;
}

/* image (the reference asked for), and command and entrypoint when written or not the image's */
static void read_process(const struct dk_container *ct, const struct dk_image *img, const struct lines *exp,
			 struct rc_unit *a)
{
	a->image = dup_or_null(actual_image_ref(ct));
	if (ct->cmd && (lines_has(exp, "command") ||
			(ct->ncmd && !(img && argv_eq(ct->cmd, ct->ncmd, img->config.cmd, img->config.ncmd))))) {
		a->command = argv_dup(ct->cmd, ct->ncmd);
		a->ncommand = ct->ncmd;
	}
	if (ct->entrypoint &&
	    (lines_has(exp, "entrypoint") ||
	     (ct->nentrypoint &&
	      !(img && argv_eq(ct->entrypoint, ct->nentrypoint, img->config.entrypoint, img->config.nentrypoint))))) {
		a->entrypoint = argv_dup(ct->entrypoint, ct->nentrypoint);
		a->nentrypoint = ct->nentrypoint;
	}
}

/* env (an image's variable only when written), labels (written ones, never reconciler's) */
static void read_env_labels(const struct dk_container *ct, const struct dk_image *img, const struct lines *exp,
			    struct rc_unit *a)
{
	a->env = xcalloc(ct->nenv + 1, sizeof(*a->env));
	for (size_t i = 0; i < ct->nenv; i++) {
		const char *eq = strchr(ct->env[i], '=');
		size_t klen = eq ? (size_t)(eq - ct->env[i]) : strlen(ct->env[i]);
		if (klen == 0)
			continue;
		_cleanup_free_ char *k = xstrndup(ct->env[i], klen);
		_cleanup_free_ char *ek = xasprintf("env.%s", k);
		if (!lines_has(exp, ek) && image_has_env(img, ct->env[i]))
			continue;
		a->env[a->nenv].key = TAKE_PTR(k);
		a->env[a->nenv].value = xstrdup(eq ? eq + 1 : "");
		a->nenv++;
	}
	a->labels = xcalloc(ct->nlabels + 1, sizeof(*a->labels));
	for (size_t i = 0; i < ct->nlabels; i++) {
		_cleanup_free_ char *lk = xasprintf("labels.%s", ct->labels[i].key);
		if (str_startswith(ct->labels[i].key, "io.reconciler.") || !lines_has(exp, lk))
			continue;
		a->labels[a->nlabels].key = xstrdup(ct->labels[i].key);
		a->labels[a->nlabels].value = xstrdup(ct->labels[i].value);
		a->nlabels++;
	}
}

/* ports: one per container port and protocol, its first binding */
static void read_ports(const struct dk_container *ct, struct rc_unit *a)
{
	a->ports = xcalloc(ct->nport_bindings + 1, sizeof(*a->ports));
	for (size_t i = 0; i < ct->nport_bindings; i++) {
		const struct dk_port_binding *b = &ct->port_bindings[i];
		if (i > 0 && b->container_port == ct->port_bindings[i - 1].container_port &&
		    str_eq(b->proto, ct->port_bindings[i - 1].proto))
			continue; /* one line per port: the first binding */
		struct rc_port *p = &a->ports[a->nports++];
		p->container_port = b->container_port;
		p->host_port = b->host_port;
		p->host_ip = dup_or_null(b->host_ip);
		p->proto = xstrdup(b->proto ? b->proto : "tcp");
	}
}

/* stop_grace (the written value when Docker's seconds agree), pid, ipc, cap_add, devices */
static void read_host(const struct dk_container *ct, const struct lines *exp, struct rc_unit *a)
{
	int64_t exp_grace = 0;
	parse_i64(lines_get(exp, "stop_grace"), &exp_grace);
	int64_t secs = ct->stop_timeout_s < 0 ? 0 : ct->stop_timeout_s;
	a->stop_grace_ns = exp_grace >= 0 && exp_grace / NS_PER_S == secs ? exp_grace : secs * NS_PER_S;

	a->pid_host = str_eq(ct->pid_mode, "host");
	a->ipc_host = str_eq(ct->ipc_mode, "host");
	if (ct->ncap_add) {
		a->cap_add = argv_dup(ct->cap_add, ct->ncap_add);
		a->ncap_add = ct->ncap_add;
	}
	if (ct->ndevices) {
		a->devices = argv_dup(ct->devices, ct->ndevices);
		a->ndevices = ct->ndevices;
		qsort(a->devices, a->ndevices, sizeof(char *), strp_cmp);
	}
}

/* cpus, memory, memory_reservation, pids (an unlimited one as written), restart */
static void read_resources(const struct dk_container *ct, const struct lines *exp, struct rc_unit *a)
{
	a->nano_cpus = ct->nano_cpus;
	a->memory = ct->memory;
	a->memory_reservation = ct->memory_reservation;
	int64_t exp_pids = 0;
	bool has_exp_pids = parse_i64(lines_get(exp, "pids"), &exp_pids);
	if (ct->pids_limit > 0)
		a->pids_limit = ct->pids_limit;
	else if (has_exp_pids && exp_pids <= 0)
		a->pids_limit = exp_pids;
	const char *policy = ct->restart_policy ? ct->restart_policy : "no";
	if (lines_has(exp, "restart.policy") || strcmp(policy, "no") != 0)
		a->restart.policy = xstrdup(policy);
	a->restart.max_retries = ct->restart_max_retries;
}

/* The canonical text with the extra lines (networks after gaps, health lines borrowed from the
 * label) merged in, sorted, to out. */
static void merge_lines(const char *text, struct lines *extra, const struct lines *copied, struct buf *out)
{
	char **all = NULL;
	size_t n = 0, cap = 0;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		GROW(all, n + 1, cap);
		all[n++] = xstrndup(p, len);
		p += len;
		if (*p)
			p++;
	}
	for (size_t i = 0; i < extra->n; i++) {
		GROW(all, n + 1, cap);
		all[n++] = TAKE_PTR(extra->v[i].raw);
	}
	for (size_t i = 0; i < copied->n; i++) {
		GROW(all, n + 1, cap);
		all[n++] = xstrdup(copied->v[i].raw);
	}
	if (n)
		qsort(all, n, sizeof(char *), strp_cmp);
	for (size_t i = 0; i < n; i++) {
		buf_adds(out, all[i]);
		buf_addc(out, '\n');
		free(all[i]);
	}
	free(all);
}

void actual_canonical(const struct actual_input *in, struct buf *out)
{
	const struct dk_container *ct = in->ct;
	const struct dk_image *img = in->image;
	struct lines exp, label;
	lines_parse(in->expected, &exp);
	lines_parse(dk_label(ct->labels, ct->nlabels, RC_LABEL_SPEC), &label);
	struct rc_unit a = { 0 };

	read_process(ct, img, &exp, &a);
	/* the engine has no notion of a job: what the container was made as is in its spec label */
	a.job = lines_has(&label, "run");
	read_fields(ct, img, &exp, &a);
	read_env_labels(ct, img, &exp, &a);
	read_ports(ct, &a);
	read_mounts(ct, &label, &a);

	struct lines copied = { NULL, 0 }; /* health.* lines borrowed from the label */
	read_health(ct, img, &exp, &label, &a, &copied);

	/* what the image was built from is no engine field: the container's spec label says it, as the
	 * image's reference (compared by ID) says whether the container runs that build */
	size_t cap = copied.n;
	for (size_t i = 0; i < label.n; i++)
		if (str_startswith(label.v[i].key, "build.")) {
			GROW(copied.v, copied.n + 1, cap);
			copied.v[copied.n++].raw = label.v[i].raw; /* borrowed */
		}

	read_host(ct, &exp, &a);
	read_resources(ct, &exp, &a);
	/* spec_canonical() numbers networks densely; ours may have gaps: add them after, and re-sort. */
	struct buf text = BUF_INIT;
	spec_canonical(&a, true, &text);
	struct lines extra = { NULL, 0 };
	network_lines(ct, &exp, in->links, in->nlinks, &extra);

	merge_lines(buf_cstr(&text), &extra, &copied, out);
	free(extra.v);
	free(copied.v);
	buf_release(&text);
	rc_unit_release(&a);
	lines_release(&exp);
	lines_release(&label);
}

void actual_expected(const struct rc_unit *u, struct buf *out)
{
	struct rc_unit v = *u; /* shallow: only the ports array is replaced */
	struct rc_port *ports = xcalloc(u->nports + 1, sizeof(*ports));
	for (size_t i = 0; i < u->nports; i++) {
		ports[i] = u->ports[i];
		ports[i].host_auto = false;
	}
	v.ports = ports;
	spec_canonical(&v, true, out);
	free(ports);
}
