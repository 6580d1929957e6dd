/*
 * docker_image.c — images: inspect and pull (retries, stall detection, registry credentials).
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* images                                                             */

void dk_image_free(struct dk_image *img)
{
	if (!img)
		return;
	free(img->id);
	jstrv_free(img->repo_tags, img->nrepo_tags);
	jstrv_free(img->repo_digests, img->nrepo_digests);
	struct dk_image_config *ic = &img->config;
	jstrv_free(ic->env, ic->nenv);
	jkv_free(ic->labels, ic->nlabels);
	jstrv_free(ic->cmd, ic->ncmd);
	jstrv_free(ic->entrypoint, ic->nentrypoint);
	sk_values_release(ic->fields);
	jstrv_free(ic->health_test, ic->nhealth_test);
	jstrv_free(ic->exposed_ports, ic->nexposed_ports);
	free(img);
}

static struct dk_image *parse_image(const cJSON *j)
{
	struct dk_image *img = xcalloc(1, sizeof(*img));
	img->id = jdup(j, "Id");
	img->repo_tags = jstrv(jget(j, "RepoTags"), &img->nrepo_tags);
	img->repo_digests = jstrv(jget(j, "RepoDigests"), &img->nrepo_digests);
	const cJSON *cfg = jget(j, "Config");
	struct dk_image_config *ic = &img->config;
	ic->env = jstrv(jget(cfg, "Env"), &ic->nenv);
	ic->labels = jkv(jget(cfg, "Labels"), &ic->nlabels);
	ic->cmd = jstrv(jget(cfg, "Cmd"), &ic->ncmd);
	ic->entrypoint = jstrv(jget(cfg, "Entrypoint"), &ic->nentrypoint);
	fields_decode(ic->fields, cfg, NULL, true);
	const cJSON *h = jget(cfg, "Healthcheck");
	if (cJSON_IsObject(h)) {
		ic->has_health = true;
		ic->health_test = jstrv(jget(h, "Test"), &ic->nhealth_test);
		ic->health_interval_ns = jint(h, "Interval");
		ic->health_timeout_ns = jint(h, "Timeout");
		ic->health_start_period_ns = jint(h, "StartPeriod");
		ic->health_retries = (int)jint(h, "Retries");
	}
	ic->exposed_ports = jkeys(jget(cfg, "ExposedPorts"), &ic->nexposed_ports);
	return img;
}

int dk_decode_image(const char *json, size_t len, struct dk_image **ret, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(j) || !jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_errf(err, "not an image inspect reply (no Id)");
	}
	*ret = parse_image(j);
	cJSON_Delete(j);
	return 0;
}

int dk_image_inspect(struct dk_client *c, const char *ref, struct dk_image **ret,
		     struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *er = esc_path(ref);
	_cleanup_free_ char *path = xasprintf(API "/images/%s/json", er);
	_cleanup_free_ char *what = what_of("inspect image", ref);
	cJSON *j = NULL;
	if (engine_request(c, DK_OP_IMAGE_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	if (!jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply has no Id", what);
	}
	struct dk_image *img = parse_image(j);
	cJSON_Delete(j);
	*ret = img;
	return 0;
}

/* Split "name:tag" / "name@digest" / "name" (tag "latest"). */
static void split_ref(const char *ref, char **ret_name, char **ret_tag)
{
	const char *at = strchr(ref, '@');
	if (at) {
		*ret_name = xstrndup(ref, (size_t)(at - ref));
		*ret_tag = xstrdup(at + 1);
		return;
	}
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');
	if (colon && (!slash || colon > slash)) {
		*ret_name = xstrndup(ref, (size_t)(colon - ref));
		*ret_tag = xstrdup(colon + 1);
	} else {
		*ret_name = xstrdup(ref);
		*ret_tag = xstrdup("latest");
	}
}

struct pull_ctx {
	char error[1024];   /* first errorDetail / error line */
	char message[1024]; /* {"message": ...} (error replies) */
	size_t lines;
};

static int pull_line(void *ud, const char *line, size_t len)
{
	struct pull_ctx *p = ud;
	p->lines++;
	cJSON *j = cJSON_ParseWithLength(line, len);
	if (!j)
		return 0;
	if (!p->error[0]) {
		const char *m = jstr(jget(j, "errorDetail"), "message");
		if (!m)
			m = jstr(j, "error");
		if (m)
			snprintf(p->error, sizeof(p->error), "%s", m);
	}
	const char *msg = jstr(j, "message");
	if (msg && !jget(j, "status"))
		snprintf(p->message, sizeof(p->message), "%s", msg);
	cJSON_Delete(j);
	return 0;
}

static int pull_once(struct dk_client *c, const char *path, const char *what, long stall_ms, const char *auth,
		     struct dk_status *st, struct rc_err *err)
{
	struct pull_ctx p = { "", "", 0 };
	struct xfer x;
	xfer_init(&x, c->max_body);
	x.streaming = true;
	x.on_line = pull_line;
	x.ud = &p;
	setup_easy(c, c->easy, "POST", path, NULL, 0, &x);
	if (auth) {
		_cleanup_free_ char *h = xasprintf("X-Registry-Auth: %s", auth);
		x.headers = curl_slist_append(x.headers, h);
		if (!x.headers)
			die("out of memory (curl_slist)");
		explicit_bzero(h, strlen(h));
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, x.headers);
	}
	/* no overall limit: a pull takes what it takes, but must not go silent */
	x.stall_ms = stall_ms;
	x.last_data_ms = now_ms();
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	count_op(c, DK_OP_IMAGE_PULL);
	CURLcode cc = curl_easy_perform(c->easy);
	if (cc == CURLE_OK && x.body.len)  /* last line without a newline */
		pull_line(&p, x.body.data, x.body.len);
	int r;
	if (x.stalled) {
		st->http = 0;
		r = rc_errf(err, "%s: nothing from the engine for %ld ms", what, stall_ms);
	} else {
		/* for error replies the message was seen as a line: give xfer_result() the engine's
		 * {"message": ...} back (none: the reply was not the engine's) */
		buf_reset(&x.body);
		if (p.message[0]) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "message", p.message);
			_cleanup_free_ char *js = jprint(m);
			cJSON_Delete(m);
			buf_adds(&x.body, js);
		}
		r = xfer_result(c, c->easy, cc, &x, 0, what, st, err);
		if (r == 0 && p.error[0]) {
			snprintf(st->message, sizeof(st->message), "%s", p.error);
			r = rc_errf(err, "%s: %s", what, p.error);
		}
	}
	xfer_release(&x);
	return r;
}

int dk_image_pull(struct dk_client *c, const char *ref, const struct dk_pull_opts *o, char **ret_id,
		  struct dk_status *st, struct rc_err *err)
{
	struct dk_status tmp;
	st = status_or(st, &tmp);
	int retries = 3;
	long delay = 5000, stall = 120000;
	if (o) {
		retries = o->retries < 0 ? 0 : o->retries > 0 ? o->retries : 3;
		if (o->first_delay_ms > 0)
			delay = o->first_delay_ms;
		if (o->stall_ms > 0)
			stall = o->stall_ms;
	}
	_cleanup_free_ char *name = NULL, *tag = NULL;
	split_ref(ref, &name, &tag);
	_cleanup_free_ char *qn = esc_query(name), *qt = esc_query(tag);
	_cleanup_free_ char *path = xasprintf(API "/images/create?fromImage=%s&tag=%s", qn, qt);
	_cleanup_free_ char *what = what_of("pull image", ref);
	struct rc_err e = { 0 };
	int attempt = 0;
	for (;;) {
		attempt++;
		if (pull_once(c, path, what, stall, o ? o->registry_auth : NULL, st, &e) == 0)
			break;
		log_debug("docker: %s (attempt %d of %d)", e.msg, attempt, retries + 1);
		if (attempt > retries) {
			rc_err_copy(err, &e);
			return rc_err_prefix(err, "giving up after %d attempt%s", attempt, attempt == 1 ? "" : "s");
		}
		for (long waited = 0; waited < delay; waited += 100) {
			if (o && o->interrupted && o->interrupted(o->interrupted_ctx)) {
				rc_err_copy(err, &e);
				return rc_err_prefix(err, "interrupted after %d attempt%s", attempt,
						     attempt == 1 ? "" : "s");
			}
			sleep_ms(delay - waited < 100 ? delay - waited : 100);
		}
		delay *= 3;
	}
	/* the name we pulled, as the engine stores it */
	_cleanup_free_ char *local = xasprintf(strchr(ref, '@') ? "%s@%s" : "%s:%s", name, tag);
	struct dk_image *img = NULL;
	if (dk_image_inspect(c, local, &img, st, err) < 0)
		return rc_err_prefix(err, "%s: pulled, but", what);
	if (!str_startswith(img->id, "sha256:")) {
		rc_errf(err, "%s: unexpected image id '%s'", what, img->id);
		dk_image_free(img);
		return -1;
	}
	if (ret_id)
		*ret_id = xstrdup(img->id);
	dk_image_free(img);
	return 0;
}

/* ------------------------------------------------------------------ */
/* a tag's digest in its registry                                     */

int dk_distribution_inspect(struct dk_client *c, const char *ref, const char *registry_auth, char **ret_digest,
			    struct dk_status *st, struct rc_err *err)
{
	struct dk_status tmp;
	st = status_or(st, &tmp);
	_cleanup_free_ char *er = esc_path(ref);
	_cleanup_free_ char *path = xasprintf(API "/distribution/%s/json", er);
	_cleanup_free_ char *what = what_of("ask the registry about image", ref);
	struct xfer x;
	xfer_init(&x, c->max_body);
	setup_easy(c, c->easy, "GET", path, NULL, c->timeout_ms, &x);
	if (registry_auth) {
		_cleanup_free_ char *h = xasprintf("X-Registry-Auth: %s", registry_auth);
		x.headers = curl_slist_append(x.headers, h);
		if (!x.headers)
			die("out of memory (curl_slist)");
		explicit_bzero(h, strlen(h));
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, x.headers);
	}
	count_op(c, DK_OP_DISTRIBUTION);
	log_debug("docker: GET %s", path);
	int64_t t0 = now_ns();
	CURLcode cc = curl_easy_perform(c->easy);
	metrics_engine_request(dk_op_name(DK_OP_DISTRIBUTION), now_ns() - t0, cc == CURLE_OK);  /* metrics.h */
	int r = xfer_result(c, c->easy, cc, &x, c->timeout_ms, what, st, err);
	if (r == 0) {
		cJSON *j = cJSON_ParseWithLength(buf_cstr(&x.body), x.body.len);
		const char *dg = jstr(jget(j, "Descriptor"), "digest");
		if (!dg || !str_startswith(dg, "sha256:"))
			r = rc_err_fault(err, "%s: the engine's reply has no digest", what);
		else
			*ret_digest = xstrdup(dg);
		cJSON_Delete(j);
	}
	xfer_release(&x);
	return r;
}

bool dk_image_has_digest(const struct dk_image *img, const char *ref, const char *digest, const char **ret_local)
{
	_cleanup_free_ char *name = NULL, *tag = NULL;
	split_ref(ref, &name, &tag);
	size_t nl = strlen(name);
	const char *local = NULL;
	bool found = false;
	for (size_t i = 0; i < img->nrepo_digests; i++) {
		const char *rd = img->repo_digests[i];
		if (strncmp(rd, name, nl) != 0 || rd[nl] != '@')
			continue;
		if (!local)
			local = rd + nl + 1;
		if (str_eq(rd + nl + 1, digest))
			found = true;
	}
	if (ret_local)
		*ret_local = local;
	return found;
}
