/* state_units.c — units.json (state.h): per-unit runtime facts. */
#include "state_int.h"

#include <cJSON.h>
#include <string.h>

void state_units_clear(struct rc_state *st)
{
	for (size_t i = 0; i < st->nrestarts; i++)
		free(st->restarts[i].unit);
	free(st->restarts);
	st->restarts = NULL;
	st->nrestarts = st->crestarts = 0;
	for (size_t i = 0; i < st->ndisabled; i++) {
		free(st->disabled[i].unit);
		free(st->disabled[i].reason);
		free(st->disabled[i].hash);
	}
	free(st->disabled);
	st->disabled = NULL;
	st->ndisabled = st->cdisabled = 0;
	for (size_t i = 0; i < st->nsleeping; i++)
		free(st->sleeping[i].unit);
	free(st->sleeping);
	st->sleeping = NULL;
	st->nsleeping = st->csleeping = 0;
	for (size_t i = 0; i < st->nhealth; i++) {
		free(st->health[i].unit);
		free(st->health[i].result);
	}
	free(st->health);
	st->health = NULL;
	st->nhealth = st->chealth = 0;
	for (size_t i = 0; i < st->nawaiting; i++) {
		free_const(st->awaiting[i].unit);
		free_const(st->awaiting[i].hash);
		free_const(st->awaiting[i].commit);
	}
	free(st->awaiting);
	st->awaiting = NULL;
	st->nawaiting = st->cawaiting = 0;
	for (size_t i = 0; i < st->ninplace; i++) {
		free(st->inplace[i].id);
		free(st->inplace[i].hash);
		free(st->inplace[i].resources);
	}
	free(st->inplace);
	st->inplace = NULL;
	st->ninplace = st->cinplace = 0;
}

struct cJSON *state_units_emit(const struct rc_state *st)
{
	cJSON *data = sj_obj(), *restarts = sj_arr(), *disabled = sj_arr(), *awaiting = sj_arr();
	for (size_t i = 0; i < st->nrestarts; i++) {
		cJSON *r = sj_obj();
		sj_put_str(r, "unit", st->restarts[i].unit);
		sj_put_num(r, "failures", st->restarts[i].r.failures);
		sj_put_num(r, "last_failure", (double)st->restarts[i].r.last_failure);
		sj_put_num(r, "backoff_ns", (double)st->restarts[i].r.backoff_ns);
		cJSON_AddItemToArray(restarts, r);
	}
	for (size_t i = 0; i < st->ndisabled; i++) {
		cJSON *d = sj_obj();
		sj_put_str(d, "unit", st->disabled[i].unit);
		sj_put_num(d, "time", (double)st->disabled[i].time);
		sj_put_str(d, "reason", st->disabled[i].reason);
		if (st->disabled[i].hash)
			sj_put_str(d, "hash", st->disabled[i].hash);
		cJSON_AddItemToArray(disabled, d);
	}
	if (st->nsleeping) {  /* optional: added later */
		cJSON *sl = sj_arr();
		for (size_t i = 0; i < st->nsleeping; i++) {
			cJSON *x = sj_obj();
			sj_put_str(x, "unit", st->sleeping[i].unit);
			sj_put_num(x, "since", (double)st->sleeping[i].since);
			cJSON_AddItemToArray(sl, x);
		}
		cJSON_AddItemToObject(data, "sleeping", sl);
	}
	cJSON *health = sj_obj();  /* by unit id */
	for (size_t i = 0; i < st->nhealth; i++) {
		const struct health *h = &st->health[i];
		cJSON *x = sj_obj();
		sj_put_num(x, "last_check", (double)h->h.last_check);
		sj_put_str(x, "result", h->result);
		sj_put_num(x, "probe_ms", (double)h->h.probe_ms);
		sj_put_num(x, "next_repair", (double)h->h.next_repair);
		cJSON_AddItemToObject(health, h->unit, x);
	}
	cJSON_AddItemToObject(data, "health", health);
	for (size_t i = 0; i < st->nawaiting; i++) {
		cJSON *a = sj_obj();
		sj_put_str(a, "unit", st->awaiting[i].unit);
		sj_put_str(a, "hash", st->awaiting[i].hash);
		sj_put_str(a, "commit", st->awaiting[i].commit);
		sj_put_num(a, "since", (double)st->awaiting[i].since);
		sj_put_bool(a, "approved", st->awaiting[i].approved);
		cJSON_AddItemToArray(awaiting, a);
	}
	cJSON *inplace = sj_arr();
	for (size_t i = 0; i < st->ninplace; i++) {
		cJSON *x = sj_obj();
		sj_put_str(x, "container", st->inplace[i].id);
		sj_put_str(x, "hash", st->inplace[i].hash);
		sj_put_str(x, "resources", st->inplace[i].resources);
		cJSON_AddItemToArray(inplace, x);
	}
	cJSON_AddItemToObject(data, "in_place", inplace);
	cJSON_AddItemToObject(data, "restarts", restarts);
	cJSON_AddItemToObject(data, "disabled", disabled);
	cJSON_AddItemToObject(data, "awaiting_approval", awaiting);
	return data;
}

int state_units_parse(struct rc_state *st, const struct cJSON *data)
{
	const struct cJSON *restarts = sj_get_arr(data, "restarts"), *disabled = sj_get_arr(data, "disabled"),
		    *awaiting = sj_get_arr(data, "awaiting_approval"), *inplace = sj_get_arr(data, "in_place"), *x;
	if (!restarts || !disabled || !awaiting || !inplace)
		return -1;
	cJSON_ArrayForEach(x, inplace) {
		const char *id, *hash, *res;
		if (sj_get_str(x, "container", false, &id) < 0 || sj_get_str(x, "hash", false, &hash) < 0 ||
		    sj_get_str(x, "resources", false, &res) < 0)
			return -1;
		state_set_inplace(st, id, hash, res);
	}
	cJSON_ArrayForEach(x, restarts) {
		const char *unit;
		int64_t failures;
		struct state_restarts r;
		if (sj_get_str(x, "unit", false, &unit) < 0 ||
		    sj_get_int(x, "failures", 0, INT32_MAX, &failures) < 0 ||
		    sj_get_int(x, "last_failure", 0, SJ_INT53, &r.last_failure) < 0 ||
		    sj_get_int(x, "backoff_ns", 0, SJ_INT53, &r.backoff_ns) < 0)
			return -1;
		r.failures = (int)failures;
		state_set_restarts(st, unit, &r);
	}
	cJSON_ArrayForEach(x, disabled) {
		const char *unit, *reason, *hash;
		int64_t t;
		if (sj_get_str(x, "unit", false, &unit) < 0 || sj_get_str(x, "reason", true, &reason) < 0 ||
		    sj_get_str(x, "hash", true, &hash) < 0 || sj_get_int(x, "time", 0, SJ_INT53, &t) < 0)
			return -1;
		state_set_disabled_at(st, unit, t, reason, hash);
	}
	const struct cJSON *sleeping = cJSON_GetObjectItemCaseSensitive(data, "sleeping");  /* optional */
	if (sleeping && !cJSON_IsArray(sleeping))
		return -1;
	cJSON_ArrayForEach(x, sleeping) {
		const char *unit;
		int64_t t;
		if (sj_get_str(x, "unit", false, &unit) < 0 || sj_get_int(x, "since", 0, SJ_INT53, &t) < 0)
			return -1;
		state_set_sleeping(st, unit, t);
	}
	const struct cJSON *health = cJSON_GetObjectItemCaseSensitive(data, "health");  /* optional: added later */
	if (health && !cJSON_IsObject(health))
		return -1;
	cJSON_ArrayForEach(x, health) {
		const char *unit = x->string, *result;
		struct state_health h = { 0 };
		if (!unit || sj_get_str(x, "result", true, &result) < 0 ||
		    sj_get_int(x, "last_check", 0, SJ_INT53, &h.last_check) < 0 ||
		    sj_get_int(x, "probe_ms", -1, SJ_INT53, &h.probe_ms) < 0 ||
		    sj_get_int(x, "next_repair", 0, SJ_INT53, &h.next_repair) < 0)
			return -1;
		h.result = result;
		state_set_health(st, unit, &h);
	}
	cJSON_ArrayForEach(x, awaiting) {
		const char *unit, *hash, *commit;
		int64_t since;
		bool approved;
		if (sj_get_str(x, "unit", false, &unit) < 0 || sj_get_str(x, "hash", false, &hash) < 0 ||
		    sj_get_str(x, "commit", true, &commit) < 0 || sj_get_int(x, "since", 0, SJ_INT53, &since) < 0 ||
		    sj_get_bool(x, "approved", &approved) < 0)
			return -1;
		state_set_awaiting(st, unit, hash, commit, since);
		if (approved)
			(void)state_approve(st, unit, NULL);
	}
	return 0;
}

static struct restarts *find_restarts(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->nrestarts; i++)
		if (strcmp(st->restarts[i].unit, unit) == 0)
			return &st->restarts[i];
	return NULL;
}

struct state_restarts state_get_restarts(const struct rc_state *st, const char *unit)
{
	const struct restarts *r = find_restarts(st, unit);
	return r ? r->r : (struct state_restarts){ 0, 0, 0 };
}

void state_set_restarts(struct rc_state *st, const char *unit, const struct state_restarts *v)
{
	struct restarts *r = find_restarts(st, unit);
	if (!r) {
		GROW(st->restarts, st->nrestarts + 1, st->crestarts);
		r = &st->restarts[st->nrestarts++];
		r->unit = xstrdup(unit);
	} else if (memcmp(&r->r, v, sizeof(*v)) == 0) {
		return;
	}
	r->r = *v;
	st->dirty[F_UNITS] = true;
}

void state_del_restarts(struct rc_state *st, const char *unit)
{
	struct restarts *r = find_restarts(st, unit);
	if (!r)
		return;
	free(r->unit);
	*r = st->restarts[--st->nrestarts];
	st->dirty[F_UNITS] = true;
}

static struct disabled *find_disabled(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->ndisabled; i++)
		if (strcmp(st->disabled[i].unit, unit) == 0)
			return &st->disabled[i];
	return NULL;
}

bool state_is_disabled(const struct rc_state *st, const char *unit, const char **ret_reason)
{
	const struct disabled *d = find_disabled(st, unit);
	if (d && ret_reason)
		*ret_reason = d->reason;
	return d != NULL;
}

void state_set_disabled(struct rc_state *st, const char *unit, int64_t time, const char *reason)
{
	state_set_disabled_at(st, unit, time, reason, NULL);
}

void state_set_disabled_at(struct rc_state *st, const char *unit, int64_t time, const char *reason, const char *hash)
{
	struct disabled *d = find_disabled(st, unit);
	if (!d) {
		GROW(st->disabled, st->ndisabled + 1, st->cdisabled);
		d = &st->disabled[st->ndisabled++];
		d->unit = xstrdup(unit);
	} else {
		free(d->reason);
		free(d->hash);
	}
	d->time = time;
	d->reason = xstrdup_or_null(reason);
	d->hash = xstrdup_or_null(hash);
	st->dirty[F_UNITS] = true;
}

const char *state_disabled_hash(const struct rc_state *st, const char *unit)
{
	const struct disabled *d = find_disabled(st, unit);
	return d ? d->hash : NULL;
}

void state_del_disabled(struct rc_state *st, const char *unit)
{
	struct disabled *d = find_disabled(st, unit);
	if (!d)
		return;
	free(d->unit);
	free(d->reason);
	free(d->hash);
	*d = st->disabled[--st->ndisabled];
	st->dirty[F_UNITS] = true;
}

static struct health *find_health(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->nhealth; i++)
		if (strcmp(st->health[i].unit, unit) == 0)
			return &st->health[i];
	return NULL;
}

bool state_get_health(const struct rc_state *st, const char *unit, struct state_health *ret)
{
	const struct health *h = find_health(st, unit);
	if (!h)
		return false;
	*ret = h->h;
	ret->result = h->result;
	return true;
}

void state_set_health(struct rc_state *st, const char *unit, const struct state_health *v)
{
	struct health *h = find_health(st, unit);
	/* a new result or repair time is saved at once; a later check or another latency with the
	 * same result only along with the next write (or after 10 s), not on every probe */
	bool news = !h || h->h.next_repair != v->next_repair || !str_eq(h->result, v->result) ||
		    v->last_check - h->h.last_check >= 10;
	if (!h) {
		GROW(st->health, st->nhealth + 1, st->chealth);
		h = &st->health[st->nhealth++];
		h->unit = xstrdup(unit);
		h->result = NULL;
	}
	free(h->result);
	h->h = *v;
	h->result = xstrdup_or_null(v->result);
	h->h.result = NULL;
	if (news)
		st->dirty[F_UNITS] = true;
}

static void del_health(struct rc_state *st, const char *unit)
{
	struct health *h = find_health(st, unit);
	if (!h)
		return;
	free(h->unit);
	free(h->result);
	*h = st->health[--st->nhealth];
	st->dirty[F_UNITS] = true;
}

const char **state_disabled_units(const struct rc_state *st, size_t *ret_n)
{
	const char **v = xcalloc(st->ndisabled + 1, sizeof(*v));
	for (size_t i = 0; i < st->ndisabled; i++)
		v[i] = st->disabled[i].unit;
	qsort(v, st->ndisabled, sizeof(*v), strp_cmp);
	*ret_n = st->ndisabled;
	return v;
}

static struct state_awaiting *find_awaiting(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->nawaiting; i++)
		if (strcmp(st->awaiting[i].unit, unit) == 0)
			return &st->awaiting[i];
	return NULL;
}

static int awaiting_cmp(const void *a, const void *b)
{
	return strcmp(((const struct state_awaiting *)a)->unit, ((const struct state_awaiting *)b)->unit);
}

void state_set_awaiting(struct rc_state *st, const char *unit, const char *hash, const char *commit,
			int64_t since)
{
	struct state_awaiting *a = find_awaiting(st, unit);
	if (a && str_eq(a->hash, hash) && str_eq(a->commit, commit))
		return; /* same change still waiting: keep its time and approval */
	if (a) {
		free_const(a->hash);
		free_const(a->commit);
	} else {
		GROW(st->awaiting, st->nawaiting + 1, st->cawaiting);
		a = &st->awaiting[st->nawaiting++];
		a->unit = xstrdup(unit);
	}
	a->hash = xstrdup(hash);
	a->commit = xstrdup_or_null(commit);
	a->since = since;
	a->approved = false;
	qsort(st->awaiting, st->nawaiting, sizeof(st->awaiting[0]), awaiting_cmp);
	st->dirty[F_UNITS] = true;
}

const struct state_awaiting *state_get_awaiting(const struct rc_state *st, const char *unit)
{
	return find_awaiting(st, unit);
}

int state_approve(struct rc_state *st, const char *unit, struct rc_err *err)
{
	struct state_awaiting *a = find_awaiting(st, unit);
	if (!a)
		return rc_errf(err, "no change of unit '%s' is awaiting approval", unit);
	if (!a->approved) {
		a->approved = true;
		st->dirty[F_UNITS] = true;
	}
	return 0;
}

bool state_is_approved(const struct rc_state *st, const char *unit, const char *hash)
{
	const struct state_awaiting *a = find_awaiting(st, unit);
	return a && a->approved && str_eq(a->hash, hash);
}

void state_del_awaiting(struct rc_state *st, const char *unit)
{
	struct state_awaiting *a = find_awaiting(st, unit);
	if (!a)
		return;
	free_const(a->unit);
	free_const(a->hash);
	free_const(a->commit);
	size_t i = (size_t)(a - st->awaiting);
	memmove(a, a + 1, (st->nawaiting - i - 1) * sizeof(*a));
	st->nawaiting--;
	st->dirty[F_UNITS] = true;
}

static bool is_live(const char *unit, const char *const *live, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(live[i], unit) == 0)
			return true;
	return false;
}

static struct sleeping *find_sleeping(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->nsleeping; i++)
		if (strcmp(st->sleeping[i].unit, unit) == 0)
			return &st->sleeping[i];
	return NULL;
}

bool state_is_sleeping(const struct rc_state *st, const char *unit, int64_t *ret_since)
{
	const struct sleeping *s = find_sleeping(st, unit);
	if (s && ret_since)
		*ret_since = s->since;
	return s != NULL;
}

void state_set_sleeping(struct rc_state *st, const char *unit, int64_t since)
{
	struct sleeping *s = find_sleeping(st, unit);
	if (!s) {
		GROW(st->sleeping, st->nsleeping + 1, st->csleeping);
		s = &st->sleeping[st->nsleeping++];
		s->unit = xstrdup(unit);
	}
	s->since = since;
	st->dirty[F_UNITS] = true;
}

void state_del_sleeping(struct rc_state *st, const char *unit)
{
	struct sleeping *s = find_sleeping(st, unit);
	if (!s)
		return;
	free(s->unit);
	*s = st->sleeping[--st->nsleeping];
	st->dirty[F_UNITS] = true;
}

const char **state_sleeping_units(const struct rc_state *st, size_t *ret_n)
{
	const char **v = xcalloc(st->nsleeping + 1, sizeof(*v));
	for (size_t i = 0; i < st->nsleeping; i++)
		v[i] = st->sleeping[i].unit;
	qsort(v, st->nsleeping, sizeof(*v), strp_cmp);
	*ret_n = st->nsleeping;
	return v;
}

static const char *disabled_dep(const struct rc_state *st, const struct rc_desired *d, const struct rc_unit *u,
				int depth)
{
	for (size_t i = 0; i < u->ndeps && depth < 64; i++) {
		if (state_is_disabled(st, u->deps[i].unit, NULL))
			return u->deps[i].unit;
		const struct rc_unit *x = rc_desired_unit(d, u->deps[i].unit);
		const char *dep = x ? disabled_dep(st, d, x, depth + 1) : NULL;
		if (dep)
			return dep;
	}
	return NULL;
}

const char *state_disabled_dependency(const struct rc_state *st, const struct rc_desired *d, const struct rc_unit *u)
{
	return disabled_dep(st, d, u, 0);
}

size_t state_apply_sleeping(const struct rc_state *st, struct rc_desired *d)
{
	size_t n = 0;
	for (size_t i = 0; d && i < st->nsleeping; i++) {
		struct rc_unit *u = rc_desired_unit(d, st->sleeping[i].unit);
		if (u && u->running) {
			u->running = false;
			n++;
		}
	}
	return n;
}

void state_prune_units(struct rc_state *st, const char *const *live, size_t n)
{
	for (size_t i = st->nsleeping; i-- > 0;)
		if (!is_live(st->sleeping[i].unit, live, n))
			state_del_sleeping(st, st->sleeping[i].unit);
	for (size_t i = st->nrestarts; i-- > 0;)
		if (!is_live(st->restarts[i].unit, live, n))
			state_del_restarts(st, st->restarts[i].unit);
	for (size_t i = st->ndisabled; i-- > 0;) {
		if (is_live(st->disabled[i].unit, live, n))
			continue;
		/* said in the journal: the mark of a unit an operator may be looking for */
		_cleanup_free_ char *unit = xstrdup(st->disabled[i].unit);
		state_del_disabled(st, unit);
		struct state_journal_entry je = { .action = "forget", .unit = unit, .result = "ok",
						  .message = "the unit left the manifests: its disabled mark is dropped" };
		struct rc_err err = { 0 };
		if (state_journal(st, &je, &err) < 0)
			log_warn("%s", err.msg);
	}
	for (size_t i = st->nhealth; i-- > 0;)
		if (!is_live(st->health[i].unit, live, n))
			del_health(st, st->health[i].unit);
	for (size_t i = st->nawaiting; i-- > 0;)
		if (!is_live(st->awaiting[i].unit, live, n))
			state_del_awaiting(st, st->awaiting[i].unit);
}

const struct state_awaiting *state_awaiting_all(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nawaiting;
	return st->awaiting;
}

/* ---- in-place updates ------------------------------------------------------------------------ */

static struct inplace *find_inplace(const struct rc_state *st, const char *id)
{
	for (size_t i = 0; i < st->ninplace; i++)
		if (strcmp(st->inplace[i].id, id) == 0)
			return &st->inplace[i];
	return NULL;
}

void state_set_inplace(struct rc_state *st, const char *container_id, const char *hash,
		       const char *resources)
{
	struct inplace *x = find_inplace(st, container_id);
	if (x && str_eq(x->hash, hash) && str_eq(x->resources, resources))
		return;
	if (!x) {
		GROW(st->inplace, st->ninplace + 1, st->cinplace);
		x = &st->inplace[st->ninplace++];
		x->id = xstrdup(container_id);
	} else {
		free(x->hash);
		free(x->resources);
	}
	x->hash = xstrdup(hash);
	x->resources = xstrdup(resources ? resources : "");
	st->dirty[F_UNITS] = true;
}

bool state_get_inplace(const struct rc_state *st, const char *container_id, const char **ret_hash,
		       const char **ret_resources)
{
	const struct inplace *x = find_inplace(st, container_id);
	if (!x)
		return false;
	if (ret_hash)
		*ret_hash = x->hash;
	if (ret_resources)
		*ret_resources = x->resources;
	return true;
}

void state_del_inplace(struct rc_state *st, const char *container_id)
{
	struct inplace *x = find_inplace(st, container_id);
	if (!x)
		return;
	free(x->id);
	free(x->hash);
	free(x->resources);
	*x = st->inplace[--st->ninplace];
	st->dirty[F_UNITS] = true;
}

void state_prune_inplace(struct rc_state *st, const char *const *live_ids, size_t n)
{
	for (size_t i = 0; i < st->ninplace;) {
		bool live = false;
		for (size_t j = 0; j < n && !live; j++)
			live = strcmp(live_ids[j], st->inplace[i].id) == 0;
		if (live)
			i++;
		else
			state_del_inplace(st, st->inplace[i].id);
	}
}
