/*
 * libFuzzer target: the Docker JSON decoders (container list — and its
 * ids-only reading, which must agree with it —, inspect, network list,
 * events line).  The first byte picks the decoder, the rest is
 * the body.  Every result is walked and freed, so ASan sees every field.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "docker.h"

static size_t sink;

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

static void touch_kv(void *ctx, const char *key, const char *value)
{
	(void)ctx;
	touch(key);
	touch(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct rc_err err;
	switch (data[0] % 4) {
	case 0: {
		struct dk_container_list *l = NULL;
		char **ids = NULL;
		size_t nids = 0;
		int ri = dk_decode_container_ids(body, len, &ids, &nids, &err);
		if (dk_decode_container_list(body, len, &l, &err) == 0) {
			size_t k = 0;
			for (size_t i = 0; i < l->n; i++) {
				touch(l->items[i].name);
				touch(dk_label(l->items[i].labels, l->items[i].nlabels, "io.reconciler.unit"));
				for (size_t m = 0; m < l->items[i].nports; m++)
					touch(l->items[i].ports[m].type);
				/* what the ids-only reading found is what the decoder found, in order (an
				 * empty Id is no id to it) */
				if (ri == 0 && l->items[i].id && *l->items[i].id &&
				    (k >= nids || strcmp(ids[k++], l->items[i].id)))
					__builtin_trap();
			}
			if (ri == 0 && k != nids)
				__builtin_trap();
			dk_container_list_free(l);
		}
		dk_ids_free(ids);
		break;
	}
	case 1: {
		struct dk_container *c = NULL;
		if (dk_decode_container(body, len, &c, &err) == 0) {
			touch(c->name);
			touch(c->state_status);
			for (size_t i = 0; i < c->nenv; i++)
				touch(c->env[i]);
			for (size_t i = 0; i < c->nnetworks; i++)
				touch(c->networks[i].ip);
			/* the spec-key table's fields, as drift writes them */
			sk_canonical(c->fields, touch_kv, NULL);
			/* the summary the daemon's drift check makes of it instead of listing */
			struct dk_container_list *sl = xcalloc(1, sizeof(*sl));
			dk_container_list_add_inspected(sl, c);
			touch(sl->items[0].status);
			for (size_t k = 0; k < sl->items[0].nports; k++)
				touch(sl->items[0].ports[k].ip);
			for (size_t k = 0; k < sl->items[0].nnetworks; k++)
				touch(sl->items[0].networks[k]);
			dk_container_list_free(sl);
			dk_container_free(c);
		}
		break;
	}
	case 2: {
		struct dk_network_list *l = NULL;
		if (dk_decode_network_list(body, len, &l, &err) == 0) {
			for (size_t i = 0; i < l->n; i++)
				for (size_t k = 0; k < l->items[i].nsubnets; k++)
					touch(l->items[i].subnets[k]);
			dk_network_list_free(l);
		}
		break;
	}
	case 3: {
		struct dk_event e;
		if (dk_decode_event(body, len, &e, &err) == 0) {
			touch(e.action);
			touch(dk_event_attr(&e, "exitCode"));
			dk_event_release(&e);
		}
		break;
	}
	}
	return 0;
}
