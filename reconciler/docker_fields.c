/*
 * docker_fields.c — the spec-key table's rows (speckeys.h) to and from the engine's JSON.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* the spec-key table's fields (speckeys.h)                           */

/* A row's engine path, "Config.User" or "HostConfig.Init": the name within its section. */
static const char *engine_name(const struct sk_row *r, bool *ret_host_config)
{
	const char *dot = strchr(r->engine, '.');
	if (!dot)
		BUG("spec key '%s': engine path '%s' has no section", r->key, r->engine);
	*ret_host_config = str_startswith(r->engine, "HostConfig.");
	return dot + 1;
}

static void decode_field(const struct sk_row *r, const cJSON *j, struct sk_value *v)
{
	const cJSON *e;
	switch (r->codec) {
	case SKE_BOOL:
		if (cJSON_IsBool(j)) {
			v->set = true;
			v->num = cJSON_IsTrue(j);
		}
		break;
	case SKE_INT:
		if (cJSON_IsNumber(j)) {
			v->set = true;
			v->num = jnum(j);
		}
		break;
	case SKE_STRING:
		if (cJSON_IsString(j) && *j->valuestring) {
			v->set = true;
			v->str = xstrdup(j->valuestring);
		}
		break;
	case SKE_STRLIST:
		if (!cJSON_IsArray(j))
			break;
		cJSON_ArrayForEach(e, j) {
			if (!cJSON_IsString(e))
				continue;
			_cleanup_free_ char *item = sk_engine_item(r, e->valuestring);
			sk_value_put(v, item, "true");
		}
		break;
	case SKE_LOGCONFIG: {
		if (!cJSON_IsObject(j))
			break;
		if (jstr(j, "Type") && *jstr(j, "Type"))
			sk_value_put(v, "driver", jstr(j, "Type"));
		const cJSON *opts = jget(j, "Config");
		if (!cJSON_IsObject(opts))
			break;
		cJSON_ArrayForEach(e, opts) {
			if (!e->string || !cJSON_IsString(e))
				continue;
			_cleanup_free_ char *k = xasprintf("options.%s", e->string);
			sk_value_put(v, k, e->valuestring);
		}
		break;
	}
	case SKE_ULIMITS:
		if (!cJSON_IsArray(j))
			break;
		cJSON_ArrayForEach(e, j) {
			const char *name = jstr(e, "Name");
			if (!name || !*name)
				continue;
			char val[64];
			snprintf(val, sizeof(val), "%" PRId64 ":%" PRId64, jint(e, "Soft"), jint(e, "Hard"));
			sk_value_put(v, name, val);
		}
		break;
	}
}

/* The rows' values from an inspect's Config and HostConfig; image_only: from an image's Config,
 * only the rows an image supplies (read back SKR_IMAGE). */
void fields_decode(struct sk_value *v, const cJSON *cfg, const cJSON *hc, bool image_only)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		bool in_hc;
		const char *name = engine_name(r, &in_hc);
		if (image_only && (in_hc || r->readback != SKR_IMAGE))
			continue;
		decode_field(r, jget(in_hc ? hc : cfg, name), &v[i]);
	}
}

static void encode_field(const struct sk_row *r, const struct sk_value *v, cJSON *to, const char *name)
{
	switch (r->codec) {
	case SKE_BOOL:
		cJSON_AddBoolToObject(to, name, v->num != 0);
		break;
	case SKE_INT:
		cJSON_AddNumberToObject(to, name, (double)v->num);
		break;
	case SKE_STRING:
		cJSON_AddStringToObject(to, name, v->str);
		break;
	case SKE_STRLIST: {
		cJSON *a = cJSON_AddArrayToObject(to, name);
		for (size_t k = 0; k < v->nkv; k++)
			cJSON_AddItemToArray(a, cJSON_CreateString(v->kv[k].key));
		break;
	}
	case SKE_LOGCONFIG: {
		cJSON *lc = cJSON_AddObjectToObject(to, name);
		const char *driver = sk_value_get(v, "driver");
		cJSON_AddStringToObject(lc, "Type", driver ? driver : "");
		cJSON *o = cJSON_AddObjectToObject(lc, "Config");
		for (size_t k = 0; k < v->nkv; k++)
			if (str_startswith(v->kv[k].key, "options."))
				cJSON_AddStringToObject(o, v->kv[k].key + strlen("options."), v->kv[k].value);
		break;
	}
	case SKE_ULIMITS: {
		cJSON *a = cJSON_AddArrayToObject(to, name);
		for (size_t k = 0; k < v->nkv; k++) {
			long long soft = 0, hard = 0;
			if (sscanf(v->kv[k].value, "%lld:%lld", &soft, &hard) != 2)
				BUG("ulimit '%s' is not SOFT:HARD: '%s'", v->kv[k].key, v->kv[k].value);
			cJSON *u = cJSON_CreateObject();
			cJSON_AddStringToObject(u, "Name", v->kv[k].key);
			cJSON_AddNumberToObject(u, "Soft", (double)soft);
			cJSON_AddNumberToObject(u, "Hard", (double)hard);
			cJSON_AddItemToArray(a, u);
		}
		break;
	}
	}
}

/* Write the rows' non-zero values at their engine paths (a create body's top level is Config);
 * in_place_only: the rows `docker update` takes (its body is flat: cfg = hc). */
void fields_encode(cJSON *cfg, cJSON *hc, const struct sk_value *v, bool in_place_only)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		if (!sk_value_nonzero(r, &v[i]) || (in_place_only && !r->in_place))
			continue;
		bool in_hc;
		const char *name = engine_name(r, &in_hc);
		encode_field(r, &v[i], in_hc ? hc : cfg, name);
	}
}
