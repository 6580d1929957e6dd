/* report.c — see report.h; the JSON schema is spec/plan-json.md. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spec.h"
#include "speckeys.h"
#include "util.h"

#define ARROW "\xe2\x86\x92"   /* → */
#define MAX_DEPENDENTS_SHOWN 5

/* ---- values ------------------------------------------------------------------- */

bool report_key_is_secret(const char *key, const char **ret_name)
{
	const char *name = str_startswith(key, "secrets.") ? key + strlen("secrets.")
			   : str_startswith(key, "secret.") ? key + strlen("secret.")
			   : sk_ckey_secret(key) ? key   /* a secret row of the spec-key table */
			   : NULL;
	if (name && ret_name)
		*ret_name = name;
	return name != NULL;
}

static bool parse_i64(const char *s, int64_t *ret)
{
	if (!s || !*s)
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return false;
	*ret = v;
	return true;
}

static void human_duration(int64_t ns, struct buf *out)
{
	const int64_t S = NS_PER_S, MS = NS_PER_MS, US = NS_PER_US;
	if (ns == 0) {
		buf_adds(out, "0s");
	} else if (ns % S == 0) {
		int64_t s = ns / S, h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
		if (h)
			buf_addf(out, "%" PRId64 "h", h);
		if (m)
			buf_addf(out, "%" PRId64 "m", m);
		if (sec)
			buf_addf(out, "%" PRId64 "s", sec);
	} else if (ns > S && ns < 60 * S && ns % MS == 0) {
		char frac[8];
		snprintf(frac, sizeof(frac), "%03" PRId64, (ns % S) / MS);
		for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
		buf_addf(out, "%" PRId64 ".%ss", ns / S, frac);
	} else if (ns % MS == 0) {
		buf_addf(out, "%" PRId64 "ms", ns / MS);
	} else if (ns % US == 0) {
		buf_addf(out, "%" PRId64 "us", ns / US);
	} else {
		buf_addf(out, "%" PRId64 "ns", ns);
	}
}

static void human_size(int64_t b, struct buf *out)
{
	static const struct { int64_t mul; const char *unit; } units[] = {
		{ INT64_C(1) << 40, "TiB" }, { INT64_C(1) << 30, "GiB" },
		{ INT64_C(1) << 20, "MiB" }, { INT64_C(1) << 10, "KiB" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (b && b % units[i].mul == 0) {
			buf_addf(out, "%" PRId64 " %s", b / units[i].mul, units[i].unit);
			return;
		}
	buf_addf(out, "%" PRId64 " B", b);
}

static void human_cpus(int64_t nano, struct buf *out)
{
	char frac[16];
	const int64_t S = NS_PER_S;  /* NanoCpus: 1e9 is one CPU */
	snprintf(frac, sizeof(frac), "%09" PRId64, nano % S);
	size_t n = strlen(frac);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	buf_addf(out, "%" PRId64 "%s%s", nano / S, n ? "." : "", frac);
}

static bool key_is_duration(const char *key)
{
	static const char *const keys[] = { "stop_grace", "health.interval", "health.timeout",
					    "health.start_period", "restart.backoff", "restart.max_backoff",
					    "rollout.delay", "rollout.monitor" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

void report_humanize(const char *key, const char *value, struct buf *out)
{
	int64_t v;
	if (parse_i64(value, &v)) {
		if (strcmp(key, "cpus") == 0) {
			human_cpus(v, out);
			return;
		}
		if (strcmp(key, "memory") == 0 || strcmp(key, "memory_reservation") == 0 ||
		    sk_ckey_human(key) == SKH_SIZE) {
			human_size(v, out);
			return;
		}
		if (key_is_duration(key)) {
			human_duration(v, out);
			return;
		}
	}
	/* a repository's text on its way to a terminal: an ESC, a CR or a C1 control in an env or
	 * label value would rewrite the reviewer's screen (str_shown(): \xNN) */
	_cleanup_free_ char *shown = str_shown(value);
	buf_adds(out, shown);
}

/* ---- per-action view ------------------------------------------------------------ */

/* NOTE_INFO: for humans only (text and Markdown), not an allocation. */
enum note_kind { NOTE_ALLOCATE, NOTE_FREE, NOTE_DEPENDENTS, NOTE_INFO };

struct note {
	enum note_kind kind;
	const char *resource;   /* "host_port", "subnet" (allocations) */
	char *subject;          /* "8080/tcp" (port), network name (subnet); dependents: unit list */
	char *value;            /* "20005", "10.210.0.64/26", or NULL when not known */
	char *text;             /* for humans */
};

struct view {
	const struct plan_action *a;
	char *customer;         /* NULL: shared */
	char *cause;            /* what the field changes do not already say; may be "" */
	struct note *notes;
	size_t nnotes, capnotes;
	char **dependents;      /* borrowed unit ids */
	size_t ndependents;
};

struct views {
	struct view *v;
	size_t n;
};

static struct note *note_add(struct view *w, enum note_kind k, const char *resource)
{
	GROW(w->notes, w->nnotes + 1, w->capnotes);
	struct note *n = &w->notes[w->nnotes++];
	memset(n, 0, sizeof(*n));
	n->kind = k;
	n->resource = resource;
	return n;
}

/* The planner's cause, worded for two commits when diff ("missing" → "new unit"). */
static const char *full_cause(const struct plan_action *a, bool diff)
{
	const char *cause = a->cause ? a->cause : "";
	if (diff) {
		if ((a->kind == PLAN_CREATE || a->kind == PLAN_NET_CREATE) && strcmp(cause, "missing") == 0)
			return a->kind == PLAN_CREATE ? "new unit" : "new network";
		if (a->kind == PLAN_START && strcmp(cause, "stopped") == 0)
			return "desired state: running";
	}
	return cause;
}

static char *residual_cause(const struct plan_action *a, bool diff)
{
	const char *cause = full_cause(a, diff);
	if (a->changes.n) {
		struct buf d = BUF_INIT;
		planner_describe_changes(&a->changes, &d);
		size_t cl = strlen(cause), dl = d.len;
		char *r = NULL;
		if (cl == dl && strcmp(cause, buf_cstr(&d)) == 0)
			r = xstrdup("");
		else if (cl >= dl + 2 && strcmp(cause + cl - dl, buf_cstr(&d)) == 0 &&
			 strncmp(cause + cl - dl - 2, "; ", 2) == 0)
			r = xstrndup(cause, cl - dl - 2);
		buf_release(&d);
		if (r)
			return r;
	}
	return xstrdup(cause);
}

static const struct rc_unit *find_unit(const struct rc_desired *d, const char *id)
{
	return d && id ? rc_desired_unit(d, id) : NULL;
}

static const struct rc_network *find_net(const struct rc_desired *d, const char *name)
{
	return d && name ? rc_desired_network(d, name) : NULL;
}

static const struct plan_container *find_container(const struct plan_observed *o, const char *id)
{
	for (size_t i = 0; o && id && i < o->ncontainers; i++)
		if (str_eq(o->containers[i].id, id))
			return &o->containers[i];
	return NULL;
}

static const struct plan_net *find_obs_net(const struct plan_observed *o, const char *id, const char *name)
{
	for (size_t i = 0; o && i < o->nnetworks; i++)
		if ((id && str_eq(o->networks[i].id, id)) || (!id && str_eq(o->networks[i].name, name)))
			return &o->networks[i];
	return NULL;
}

/* Customer of a unit id when nothing better is known: "<customer>/<service>". */
static char *customer_of_id(const char *id)
{
	const char *slash = id ? strchr(id, '/') : NULL;
	return slash ? xstrndup(id, (size_t)(slash - id)) : NULL;
}

/* Ports of a canonical text that are `auto` ("ports.8080/tcp=auto" → "8080/tcp"). */
static size_t spec_auto_ports(const char *spec, char ***ret, size_t *ret_fixed)
{
	char **v = NULL;
	size_t n = 0, cap = 0, fixed = 0;
	const char *p = spec ? spec : "";
	while (*p) {
		size_t len = strcspn(p, "\n");
		if (len > 6 && strncmp(p, "ports.", 6) == 0) {
			const char *eq = memchr(p, '=', len);
			if (eq) {
				size_t vl = (size_t)(p + len - eq - 1);
				if (vl >= 4 && strncmp(p + len - 4, "auto", 4) == 0) {
					GROW(v, n + 1, cap);
					v[n++] = xstrndup(p + 6, (size_t)(eq - p - 6));
				} else {
					fixed++;
				}
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	*ret = v;
	*ret_fixed = fixed;
	return n;
}

static bool value_is_auto(const char *v)
{
	return v && str_endswith(v, "auto");
}

static void note_port_alloc(struct view *w, const struct rc_desired *d, const char *port, uint16_t host)
{
	struct note *n = note_add(w, NOTE_ALLOCATE, "host_port");
	n->subject = xstrdup(port);
	if (host) {
		n->value = xasprintf("%u", host);
		n->text = xasprintf("allocates host port %u for %s", host, port);
	} else if (d && d->settings.port_lo) {
		n->text = xasprintf("allocates a host port for %s from %u-%u", port, d->settings.port_lo,
				    d->settings.port_hi);
	} else {
		n->text = xasprintf("allocates a host port for %s", port);
	}
}

static void note_port_free(struct view *w, const char *port, uint16_t host)
{
	struct note *n = note_add(w, NOTE_FREE, "host_port");
	n->subject = xstrdup(port);
	if (host) {
		n->value = xasprintf("%u", host);
		n->text = xasprintf("frees host port %u (was allocated for %s)", host, port);
	} else {
		n->text = xasprintf("frees the host port allocated for %s", port);
	}
}

/* The host port d's unit has for "8080/tcp", 0 if unknown. */
static uint16_t unit_host_port(const struct rc_unit *u, const char *port)
{
	for (size_t i = 0; u && i < u->nports; i++) {
		char k[64];
		snprintf(k, sizeof(k), "%u/%s", u->ports[i].container_port,
			 u->ports[i].proto ? u->ports[i].proto : "tcp");
		if (strcmp(k, port) == 0)
			return u->ports[i].host_port;
	}
	return 0;
}

static void add_allocations(const struct report_input *in, struct view *w)
{
	const struct plan_action *a = w->a;
	const struct rc_desired *d = in->desired;
	switch (a->kind) {
	case PLAN_CREATE:
		for (size_t i = 0; a->desired && i < a->desired->nports; i++) {
			const struct rc_port *p = &a->desired->ports[i];
			if (!p->host_auto)
				continue;
			char port[64];
			snprintf(port, sizeof(port), "%u/%s", p->container_port, p->proto ? p->proto : "tcp");
			note_port_alloc(w, d, port, p->host_port);
		}
		break;
	case PLAN_RECREATE:
		for (size_t i = 0; i < a->changes.n; i++) {
			const struct spec_change *c = &a->changes.v[i];
			if (!str_startswith(c->key, "ports."))
				continue;
			const char *port = c->key + strlen("ports.");
			bool was = value_is_auto(c->before), is = value_is_auto(c->after);
			if (was && !is)
				note_port_free(w, port, 0);
			else if (!was && is)
				note_port_alloc(w, d, port, unit_host_port(a->desired, port));
		}
		break;
	case PLAN_REMOVE: {
		const struct plan_container *pc = find_container(in->observed, a->container_id);
		const char *spec = pc ? pc->spec : NULL;
		struct buf b = BUF_INIT;
		const struct rc_unit *bu = find_unit(in->before, a->unit);
		if (!spec && bu) {
			spec_canonical(bu, true, &b);
			spec = buf_cstr(&b);
		}
		char **ports = NULL;
		size_t fixed = 0, n = spec_auto_ports(spec, &ports, &fixed);
		for (size_t i = 0; i < n; i++) {
			uint16_t host = unit_host_port(bu, ports[i]);
			/* From Docker: the one published port that is not a fixed one. */
			if (!host && n == 1 && pc && pc->nhost_ports == fixed + 1 && fixed == 0)
				host = pc->host_ports[0];
			note_port_free(w, ports[i], host);
			free(ports[i]);
		}
		free(ports);
		buf_release(&b);
		break;
	}
	case PLAN_NET_CREATE: {
		const struct rc_network *n = a->desired_net;
		if (!n)
			break;
		if (!n->subnet && !n->customer) {   /* a shared network: nothing of ours is allocated */
			struct note *t = note_add(w, NOTE_INFO, NULL);
			t->text = xstrdup("subnet: the engine's choice");
			break;
		}
		struct note *t = note_add(w, NOTE_ALLOCATE, "subnet");
		t->subject = xstrdup(a->network);
		if (n->subnet) {
			t->value = xstrdup(n->subnet);
			t->text = xasprintf("subnet %s", n->subnet);
		} else if (d && d->settings.subnet_pool) {
			t->text = xasprintf("allocates a /%d subnet from %s", d->settings.subnet_prefix,
					    d->settings.subnet_pool);
		} else {
			t->text = xstrdup("allocates a subnet");
		}
		break;
	}
	case PLAN_NET_REMOVE: {
		const struct plan_net *on = find_obs_net(in->observed, a->network_id, a->network);
		const struct rc_network *bn = find_net(in->before, a->network);
		const char *subnet = on && on->subnet ? on->subnet : bn ? bn->subnet : NULL;
		struct note *t = note_add(w, NOTE_FREE, "subnet");
		t->subject = xstrdup(a->network);
		if (subnet) {
			t->value = xstrdup(subnet);
			t->text = xasprintf("frees subnet %s", subnet);
		} else {
			t->text = xstrdup("frees its subnet");
		}
		break;
	}
	default:
		break;
	}
}

static bool name_in(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return true;
	return false;
}

/*
 * A network recreated: the units on it (their containers are stopped,
 * reconnected and started again) and the shared services that reach
 * customers over it (reconnected while they run), as its dependents.
 */
static void add_net_members(const struct report_input *in, struct view *w)
{
	const struct plan_action *a = w->a;
	const struct rc_desired *d = in->desired;
	struct buf restarted = BUF_INIT, rejoined = BUF_INIT;
	size_t nr = 0, nj = 0;
	for (size_t i = 0; d && a->network && i < d->nunits; i++) {
		const struct rc_unit *u = &d->units[i];
		bool on = name_in(u->networks, u->nnetworks, a->network);
		if (!on && !name_in(u->links, u->nlinks, a->network))
			continue;
		w->dependents = xrealloc(w->dependents, (w->ndependents + 1) * sizeof(char *));
		w->dependents[w->ndependents++] = u->id;
		struct buf *b = on ? &restarted : &rejoined;
		size_t *n = on ? &nr : &nj;
		if (*n < MAX_DEPENDENTS_SHOWN)
			buf_addf(b, "%s%s", *n ? ", " : "", u->id);
		(*n)++;
	}
	if (nr > MAX_DEPENDENTS_SHOWN)
		buf_addf(&restarted, " and %zu more", nr - MAX_DEPENDENTS_SHOWN);
	if (nj > MAX_DEPENDENTS_SHOWN)
		buf_addf(&rejoined, " and %zu more", nj - MAX_DEPENDENTS_SHOWN);
	if (nr)
		note_add(w, NOTE_DEPENDENTS, NULL)->text = xasprintf("stops, reconnects and starts again %s",
								    buf_cstr(&restarted));
	if (nj)
		note_add(w, NOTE_DEPENDENTS, NULL)->text = xasprintf("reconnects %s", buf_cstr(&rejoined));
	buf_release(&restarted);
	buf_release(&rejoined);
}

static void add_dependents(const struct report_input *in, struct view *w)
{
	const struct plan_action *a = w->a;
	const struct rc_desired *d = in->desired;
	if (a->kind == PLAN_NET_RECREATE) {
		add_net_members(in, w);
		return;
	}
	if (!d || !a->unit || (a->kind != PLAN_RECREATE && a->kind != PLAN_STOP))
		return;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t j = 0; j < d->units[i].ndeps; j++)
			if (str_eq(d->units[i].deps[j].unit, a->unit)) {
				w->dependents = xrealloc(w->dependents, (w->ndependents + 1) * sizeof(char *));
				w->dependents[w->ndependents++] = d->units[i].id;
				break;
			}
	if (!w->ndependents)
		return;
	struct note *t = note_add(w, NOTE_DEPENDENTS, NULL);
	struct buf b = BUF_INIT;
	buf_adds(&b, "depended on by ");
	for (size_t i = 0; i < w->ndependents && i < MAX_DEPENDENTS_SHOWN; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", w->dependents[i]);
	if (w->ndependents > MAX_DEPENDENTS_SHOWN)
		buf_addf(&b, " and %zu more", w->ndependents - MAX_DEPENDENTS_SHOWN);
	t->text = buf_detach(&b, NULL);
}

/* Customers are kept as strings owned by the views array (see views_release). */
static char *view_customer(const struct report_input *in, const struct plan_action *a)
{
	if (a->desired)
		return a->desired->customer ? xstrdup(a->desired->customer) : NULL;
	if (a->desired_net)
		return a->desired_net->customer ? xstrdup(a->desired_net->customer) : NULL;
	if (a->unit) {
		const struct rc_unit *u = find_unit(in->before, a->unit);
		if (!u)
			u = find_unit(in->desired, a->unit);
		if (u)
			return u->customer ? xstrdup(u->customer) : NULL;
		return customer_of_id(a->unit);
	}
	if (a->network) {
		const struct rc_network *n = find_net(in->before, a->network);
		if (!n)
			n = find_net(in->desired, a->network);
		if (n)
			return n->customer ? xstrdup(n->customer) : NULL;
		/* From Docker: the network's manifest-level id is a customer id when
		 * some unit of the plan belongs to that customer. */
		const struct plan_net *on = find_obs_net(in->observed, a->network_id, a->network);
		const char *project = in->desired ? in->desired->settings.project : NULL;
		const struct plan *p = in->plan;
		for (size_t i = 0; i < p->n; i++) {
			_cleanup_free_ char *c = p->v[i].unit ? customer_of_id(p->v[i].unit) : NULL;
			if (!c)
				continue;
			if (on && on->label && strcmp(c, on->label) == 0)
				return xstrdup(c);
			/* Per-customer networks are named <project>-<customer> (unit.h). */
			_cleanup_free_ char *name = project ? xasprintf("%s-%s", project, c) : NULL;
			if (name && strcmp(name, a->network) == 0)
				return xstrdup(c);
		}
	}
	return NULL;
}

static void views_build(const struct report_input *in, struct views *ret)
{
	const struct plan *p = in->plan;
	ret->n = p->n;
	ret->v = xcalloc(p->n + 1, sizeof(*ret->v));
	for (size_t i = 0; i < p->n; i++) {
		struct view *w = &ret->v[i];
		w->a = &p->v[i];
		w->customer = view_customer(in, w->a);
		w->cause = residual_cause(w->a, in->diff);
		add_allocations(in, w);
		add_dependents(in, w);
	}
}

static void views_release(struct views *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		struct view *w = &vs->v[i];
		free(w->customer);
		free(w->cause);
		for (size_t j = 0; j < w->nnotes; j++) {
			free(w->notes[j].subject);
			free(w->notes[j].value);
			free(w->notes[j].text);
		}
		free(w->notes);
		free(w->dependents);
	}
	free(vs->v);
	vs->v = NULL;
	vs->n = 0;
}

/* ---- summary ---------------------------------------------------------------------- */

static void count_action(struct report_summary *s, enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE: s->net_create++; break;
	case PLAN_CREATE: s->create++; break;
	case PLAN_RECREATE: s->recreate++; break;
	case PLAN_UPDATE: s->update++; break;
	case PLAN_START: s->start++; break;
	case PLAN_STOP: s->stop++; break;
	case PLAN_REMOVE: s->remove++; break;
	case PLAN_NET_REMOVE: s->net_remove++; break;
	case PLAN_NET_RECREATE: s->net_recreate++; break;
	}
}

void report_summarize(const struct plan *p, struct report_summary *ret)
{
	struct report_summary s = { 0 };
	for (size_t i = 0; i < p->n; i++)
		count_action(&s, p->v[i].kind);
	s.conflicts = p->nconflicts;
	*ret = s;
}

/*
 * "3 to create, 1 to update in place, 2 to recreate, 1 to remove" then
 * start/stop and networks when not zero.  all=false leaves out every zero.
 */
static void summary_phrase(const struct report_summary *s, bool all, struct buf *out)
{
	const struct { size_t n; const char *what; bool always; } parts[] = {
		{ s->create, "to create", true },     { s->update, "to update in place", true },
		{ s->recreate, "to recreate", true }, { s->remove, "to remove", true },
		{ s->start, "to start", false },      { s->stop, "to stop", false },
	};
	bool first = true;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		if (!parts[i].n && !(all && parts[i].always))
			continue;
		buf_addf(out, "%s%zu %s", first ? "" : ", ", parts[i].n, parts[i].what);
		first = false;
	}
	if (s->net_create || s->net_remove || s->net_recreate) {
		buf_adds(out, first ? "networks: " : "; networks: ");
		if (s->net_create)
			buf_addf(out, "%zu to create", s->net_create);
		if (s->net_recreate)
			buf_addf(out, "%s%zu to recreate", s->net_create ? ", " : "", s->net_recreate);
		if (s->net_remove)
			buf_addf(out, "%s%zu to remove", s->net_create || s->net_recreate ? ", " : "", s->net_remove);
	}
}

static void summary_line(const struct plan *p, struct buf *out)
{
	struct report_summary s;
	report_summarize(p, &s);
	if (p->n == 0) {
		buf_adds(out, "No changes.");
		return;
	}
	buf_adds(out, "Plan: ");
	summary_phrase(&s, true, out);
	buf_addc(out, '.');
}

/* Words for the text format: "will be created". */
static const char *kind_verb(enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE:
	case PLAN_CREATE: return "will be created";
	case PLAN_RECREATE:
	case PLAN_NET_RECREATE: return "will be recreated";
	case PLAN_UPDATE: return "will be updated in place";
	case PLAN_START: return "will be started";
	case PLAN_STOP: return "will be stopped";
	case PLAN_REMOVE:
	case PLAN_NET_REMOVE: return "will be removed";
	}
	return "?";
}

/* Names for Markdown and JSON. */
static const char *kind_word(enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE: return "network_create";
	case PLAN_CREATE: return "create";
	case PLAN_RECREATE: return "recreate";
	case PLAN_UPDATE: return "update";
	case PLAN_START: return "start";
	case PLAN_STOP: return "stop";
	case PLAN_REMOVE: return "remove";
	case PLAN_NET_REMOVE: return "network_remove";
	case PLAN_NET_RECREATE: return "network_recreate";
	}
	return "?";
}

static const char *kind_md(enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE: return "create network";
	case PLAN_CREATE: return "create";
	case PLAN_RECREATE: return "recreate";
	case PLAN_UPDATE: return "update in place";
	case PLAN_START: return "start";
	case PLAN_STOP: return "stop";
	case PLAN_REMOVE: return "remove";
	case PLAN_NET_REMOVE: return "remove network";
	case PLAN_NET_RECREATE: return "recreate network";
	}
	return "?";
}

static bool is_network_kind(enum plan_kind k)
{
	return k == PLAN_NET_CREATE || k == PLAN_NET_REMOVE || k == PLAN_NET_RECREATE;
}

/* ---- one field change, for humans ----------------------------------------------- */

/* "cpus: 0.25 → 0.5", "env.X: (unset) → on", "secret db_password changed".
 * code: wrap values in Markdown code spans. */
static void md_code(struct buf *out, const char *s);

static void change_human(const struct spec_change *c, bool code, struct buf *out)
{
	const char *secret;
	if (report_key_is_secret(c->key, &secret)) {
		if (code) {
			buf_adds(out, "secret ");
			md_code(out, secret);
		} else {
			buf_addf(out, "secret %s", secret);
		}
		buf_addf(out, " %s", !c->before ? "added" : !c->after ? "removed" : "changed");
		return;
	}
	struct buf v = BUF_INIT;
	/* the key as a person writes it: the canonical text's "\=" and "\\" are "=" and "\" here
	 * (placement.constraint.node.labels.tier==gold) */
	for (const char *p = c->key; *p; p++) {
		if (p[0] == '\\' && (p[1] == '=' || p[1] == '\\'))
			p++;
		buf_addc(&v, *p);
	}
	if (code)
		md_code(out, buf_cstr(&v));
	else
		buf_adds(out, buf_cstr(&v));
	buf_adds(out, ": ");
	for (int side = 0; side < 2; side++) {
		const char *val = side ? c->after : c->before;
		if (side)
			buf_adds(out, " " ARROW " ");
		if (!val) {
			buf_adds(out, "(unset)");
			continue;
		}
		buf_reset(&v);
		report_humanize(c->key, val, &v);
		if (code)
			md_code(out, buf_cstr(&v));
		else
			buf_adds(out, buf_cstr(&v));
	}
	buf_release(&v);
}

/* Is this change of a's unit one the refresh found made outside Git (in->drifted)? */
static bool change_is_drift(const struct report_input *in, const struct plan_action *a, const struct spec_change *c)
{
	if (!a->unit || (a->kind != PLAN_UPDATE && a->kind != PLAN_RECREATE))
		return false;
	for (size_t i = 0; i < in->ndrifted; i++)
		if (strcmp(in->drifted[2 * i], a->unit) == 0 && strcmp(in->drifted[2 * i + 1], c->key) == 0)
			return true;
	return false;
}

/* ---- text ------------------------------------------------------------------------- */

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_MAGENTA "\033[35m"
#define C_DIM "\033[2m"

static const char *kind_color(enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE:
	case PLAN_CREATE: return C_GREEN;
	case PLAN_RECREATE:
	case PLAN_NET_RECREATE: return C_MAGENTA;
	case PLAN_UPDATE: return C_YELLOW;
	case PLAN_START:
	case PLAN_STOP: return C_CYAN;
	case PLAN_REMOVE:
	case PLAN_NET_REMOVE: return C_RED;
	}
	return "";
}

static void render_text(const struct report_input *in, const struct views *vs, bool color, struct buf *out)
{
	const struct plan *p = in->plan;
	if (p->nconflicts) {
		buf_addf(out, "%sError: %zu conflict%s; the plan cannot run until %s resolved:%s\n",
			 color ? C_BOLD C_RED : "", p->nconflicts, p->nconflicts == 1 ? "" : "s",
			 p->nconflicts == 1 ? "it is" : "they are", color ? C_RESET : "");
		for (size_t i = 0; i < p->nconflicts; i++)
			buf_addf(out, "  %s!%s %s\n", color ? C_RED : "", color ? C_RESET : "", p->conflicts[i]);
		buf_addc(out, '\n');
	}
	for (size_t i = 0; i < vs->n; i++) {
		const struct view *w = &vs->v[i];
		const struct plan_action *a = w->a;
		const char *col = color ? kind_color(a->kind) : "";
		buf_addf(out, "  %s%-3s%s ", col, planner_action_marker(a->kind), color ? C_RESET : "");
		if (is_network_kind(a->kind))
			buf_addf(out, "network %s", a->network ? a->network : "?");
		else if (a->unit)
			buf_addf(out, "%s (%s)", a->unit, a->container_name ? a->container_name : "?");
		else
			buf_addf(out, "container %s", a->container_name ? a->container_name : "?");
		buf_addf(out, " %s", kind_verb(a->kind));
		if (*w->cause)
			buf_addf(out, ": %s", w->cause);
		if (a->protected_)
			buf_adds(out, " [protected: needs approval]");
		buf_addc(out, '\n');
		for (size_t j = 0; j < a->changes.n; j++) {
			buf_adds(out, "        ");
			change_human(&a->changes.v[j], false, out);
			if (change_is_drift(in, a, &a->changes.v[j]))
				buf_adds(out, "  (changed outside Git: drift)");
			buf_addc(out, '\n');
		}
		for (size_t j = 0; j < w->nnotes; j++)
			buf_addf(out, "        %s%s%s\n", color ? C_DIM : "", w->notes[j].text, color ? C_RESET : "");
	}
	if (vs->n)
		buf_addc(out, '\n');
	if (color)
		buf_adds(out, C_BOLD);
	summary_line(p, out);
	if (color)
		buf_adds(out, C_RESET);
	buf_addc(out, '\n');
}

/* ---- markdown --------------------------------------------------------------------- */

static void md_code(struct buf *out, const char *s)
{
	/* A code span delimited by more backticks than any run inside it. */
	size_t run = 0, longest = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	size_t fence = longest + 1;
	bool pad = *s == '`' || (*s && s[strlen(s) - 1] == '`') || !*s;
	for (size_t i = 0; i < fence; i++)
		buf_addc(out, '`');
	if (pad)
		buf_addc(out, ' ');
	buf_adds(out, s);
	if (pad)
		buf_addc(out, ' ');
	for (size_t i = 0; i < fence; i++)
		buf_addc(out, '`');
}

/* Text outside code spans: escape what Markdown or HTML would interpret. */
static void md_text(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_adds(out, "&lt;"); break;
		case '>': buf_adds(out, "&gt;"); break;
		case '&': buf_adds(out, "&amp;"); break;
		case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '#':
			buf_addc(out, '\\');
			buf_addc(out, *s);
			break;
		default: buf_addc(out, *s);
		}
	}
}

static int customer_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	if (!x || !y)
		return x ? 1 : y ? -1 : 0;   /* shared (NULL) first */
	return strcmp(x, y);
}

static void render_md_action(const struct report_input *in, const struct view *w, struct buf *out)
{
	const struct plan_action *a = w->a;
	buf_adds(out, "- ");
	md_code(out, planner_action_marker(a->kind));
	buf_addf(out, " **%s** ", kind_md(a->kind));
	if (is_network_kind(a->kind)) {
		md_code(out, a->network ? a->network : "?");
	} else {
		md_code(out, a->unit ? a->unit : "(no unit)");
		if (a->container_name) {
			buf_adds(out, " (");
			md_code(out, a->container_name);
			buf_adds(out, ")");
		}
	}
	if (*w->cause) {
		buf_adds(out, ": ");
		md_text(out, w->cause);
	}
	if (a->protected_)
		buf_adds(out, " — *protected: needs approval*");
	buf_addc(out, '\n');
	for (size_t j = 0; j < a->changes.n; j++) {
		buf_adds(out, "  - ");
		change_human(&a->changes.v[j], true, out);
		if (change_is_drift(in, a, &a->changes.v[j]))
			buf_adds(out, " *(changed outside Git: drift)*");
		buf_addc(out, '\n');
	}
	for (size_t j = 0; j < w->nnotes; j++) {
		buf_adds(out, "  - *");
		md_text(out, w->notes[j].text);
		buf_adds(out, "*\n");
	}
}

static void render_markdown(const struct report_input *in, const struct views *vs, struct buf *out)
{
	const struct plan *p = in->plan;
	buf_addf(out, "### reconciler %s", in->diff ? "diff" : "plan");
	if (in->from || in->to) {
		buf_adds(out, " ");
		if (in->from)
			buf_addf(out, "`%.7s`", in->from);
		else
			buf_adds(out, "Docker");
		buf_addf(out, " " ARROW " ");
		if (in->to)
			buf_addf(out, "`%.7s`", in->to);
		else
			buf_adds(out, "desired");
	}
	buf_adds(out, "\n\n**");
	summary_line(p, out);
	buf_adds(out, "**\n");
	if (p->nconflicts) {
		buf_addf(out, "\n> [!CAUTION]\n> **%zu conflict%s**: the plan cannot run until %s resolved.\n",
			 p->nconflicts, p->nconflicts == 1 ? "" : "s", p->nconflicts == 1 ? "it is" : "they are");
		for (size_t i = 0; i < p->nconflicts; i++) {
			buf_adds(out, "> - ");
			md_text(out, p->conflicts[i]);
			buf_addc(out, '\n');
		}
	}
	/* Distinct customers, shared (NULL) first. */
	const char **cs = xcalloc(vs->n + 1, sizeof(char *));
	size_t nc = 0;
	for (size_t i = 0; i < vs->n; i++)
		cs[nc++] = vs->v[i].customer;
	qsort(cs, nc, sizeof(*cs), customer_cmp);
	for (size_t i = 0; i < nc; i++) {
		if (i > 0 && customer_cmp(&cs[i], &cs[i - 1]) == 0)
			continue;
		const char *c = cs[i];
		struct report_summary s = { 0 };
		for (size_t j = 0; j < vs->n; j++)
			if (str_eq(vs->v[j].customer, c))
				count_action(&s, vs->v[j].a->kind);
		buf_adds(out, "\n<details><summary>");
		if (c) {
			buf_adds(out, "customer <b>");
			md_text(out, c);
			buf_adds(out, "</b>");
		} else {
			buf_adds(out, "<b>shared</b>");
		}
		buf_adds(out, ": ");
		summary_phrase(&s, false, out);
		buf_adds(out, "</summary>\n\n");
		for (size_t j = 0; j < vs->n; j++)
			if (str_eq(vs->v[j].customer, c))
				render_md_action(in, &vs->v[j], out);
		buf_adds(out, "\n</details>\n");
	}
	free(cs);
}

/* ---- json ------------------------------------------------------------------------- */

static void json_str_or_null(struct buf *b, const char *s)
{
	if (s)
		buf_add_json_str(b, s);
	else
		buf_adds(b, "null");
}

static void render_json(const struct report_input *in, const struct views *vs, struct buf *out)
{
	const struct plan *p = in->plan;
	struct report_summary s;
	report_summarize(p, &s);
	buf_addf(out, "{\n  \"format\": \"reconciler-plan\",\n  \"version\": 1,\n  \"command\": \"%s\",\n",
		 in->diff ? "diff" : "plan");
	buf_adds(out, "  \"from\": ");
	json_str_or_null(out, in->from);
	buf_adds(out, ",\n  \"to\": ");
	json_str_or_null(out, in->to);
	buf_addf(out, ",\n  \"changed\": %s,\n", p->n ? "true" : "false");
	buf_addf(out, "  \"summary\": {\"create\": %zu, \"update\": %zu, \"recreate\": %zu, \"remove\": %zu, "
		      "\"start\": %zu, \"stop\": %zu, \"network_create\": %zu, \"network_remove\": %zu, "
		      "\"network_recreate\": %zu, \"conflicts\": %zu},\n",
		 s.create, s.update, s.recreate, s.remove, s.start, s.stop, s.net_create, s.net_remove, s.net_recreate,
		 s.conflicts);
	buf_adds(out, "  \"conflicts\": [");
	for (size_t i = 0; i < p->nconflicts; i++) {
		buf_adds(out, i ? ",\n    " : "\n    ");
		buf_add_json_str(out, p->conflicts[i]);
	}
	buf_adds(out, p->nconflicts ? "\n  ],\n" : "],\n");
	buf_adds(out, "  \"actions\": [");
	for (size_t i = 0; i < vs->n; i++) {
		const struct view *w = &vs->v[i];
		const struct plan_action *a = w->a;
		buf_adds(out, i ? ",\n    {" : "\n    {");
		buf_addf(out, "\"kind\": \"%s\", \"marker\": ", kind_word(a->kind));
		buf_add_json_str(out, planner_action_marker(a->kind));
		buf_adds(out, ",\n     \"unit\": ");
		json_str_or_null(out, a->unit);
		buf_adds(out, ", \"container\": ");
		json_str_or_null(out, is_network_kind(a->kind) ? NULL : a->container_name);
		buf_adds(out, ", \"network\": ");
		json_str_or_null(out, a->network);
		buf_adds(out, ", \"customer\": ");
		json_str_or_null(out, w->customer);
		buf_adds(out, ",\n     \"cause\": ");
		buf_add_json_str(out, full_cause(a, in->diff));
		buf_addf(out, ", \"wave\": %d, \"protected\": %s,\n     \"changes\": [", a->wave,
			 a->protected_ ? "true" : "false");
		for (size_t j = 0; j < a->changes.n; j++) {
			const struct spec_change *c = &a->changes.v[j];
			buf_adds(out, j ? ",\n       {\"field\": " : "\n       {\"field\": ");
			buf_add_json_str(out, c->key);
			if (report_key_is_secret(c->key, NULL)) {
				buf_addf(out, ", \"secret\": true, \"changed\": true, \"added\": %s, \"removed\": %s}",
					 c->before ? "false" : "true", c->after ? "false" : "true");
				continue;
			}
			buf_adds(out, ", \"before\": ");
			json_str_or_null(out, c->before);
			buf_adds(out, ", \"after\": ");
			json_str_or_null(out, c->after);
			if (change_is_drift(in, a, c))
				buf_adds(out, ", \"drift\": true");
			buf_adds(out, "}");
		}
		buf_adds(out, a->changes.n ? "\n     ],\n     \"allocations\": [" : "],\n     \"allocations\": [");
		bool first = true;
		for (size_t j = 0; j < w->nnotes; j++) {
			const struct note *t = &w->notes[j];
			if (t->kind == NOTE_DEPENDENTS || t->kind == NOTE_INFO)
				continue;
			buf_adds(out, first ? "\n       {" : ",\n       {");
			first = false;
			buf_addf(out, "\"effect\": \"%s\", \"resource\": \"%s\", \"for\": ",
				 t->kind == NOTE_ALLOCATE ? "allocate" : "free", t->resource);
			json_str_or_null(out, t->subject);
			buf_adds(out, ", \"value\": ");
			json_str_or_null(out, t->value);
			buf_adds(out, "}");
		}
		buf_adds(out, first ? "],\n     \"dependents\": [" : "\n     ],\n     \"dependents\": [");
		for (size_t j = 0; j < w->ndependents; j++) {
			if (j)
				buf_adds(out, ", ");
			buf_add_json_str(out, w->dependents[j]);
		}
		buf_adds(out, "]}");
	}
	buf_adds(out, vs->n ? "\n  ]\n}\n" : "]\n}\n");
}

void report_render(const struct report_input *in, const struct report_opts *opts, struct buf *out)
{
	struct views vs = { 0 };
	views_build(in, &vs);
	switch (opts->format) {
	case REPORT_TEXT: render_text(in, &vs, opts->color, out); break;
	case REPORT_MARKDOWN: render_markdown(in, &vs, out); break;
	case REPORT_JSON: render_json(in, &vs, out); break;
	}
	views_release(&vs);
}
