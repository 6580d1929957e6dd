/*
 * libFuzzer target: the Swarm decoders of docker_swarm.h (service list with
 * the fingerprint of each Spec, task list, node list, secret list, swarm
 * info) and dk_service_fingerprint() on raw text.  The first byte picks
 * the decoder, the rest is the body.  Every result is walked and freed, so
 * ASan sees every field; a fingerprint is always 32 hex digits, and the
 * same text always gives the same one.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "docker_swarm.h"

static size_t sink;

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

static void touch_kv(const struct rc_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		touch(kv[i].key);
		touch(kv[i].value);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct rc_err err;
	switch (data[0] % 6) {
	case 0: {
		struct dk_service_list *l = NULL;
		if (dk_decode_service_list(body, len, &l, &err) == 0) {
			for (size_t i = 0; i < l->n; i++) {
				const struct dk_service *s = &l->items[i];
				touch(s->id);
				touch(s->name);
				touch(s->image);
				touch(s->update_state);
				touch(s->update_message);
				touch(s->created_at);
				touch(s->updated_at);
				touch_kv(s->labels, s->nlabels);
				for (size_t k = 0; k < s->nnetworks; k++)
					touch(s->networks[k]);
				for (size_t k = 0; k < s->npublished; k++)
					sink += s->published[k];
				if (s->fingerprint && strlen(s->fingerprint) != RC_HASH_HEX_LEN)
					__builtin_trap();
				if (s->name && dk_service_find(l, s->name) == NULL)
					__builtin_trap();
			}
			dk_service_list_free(l);
		}
		break;
	}
	case 1: {
		struct dk_task_list *l = NULL;
		if (dk_decode_task_list(body, len, &l, &err) == 0) {
			for (size_t i = 0; i < l->n; i++) {
				const struct dk_task *t = &l->items[i];
				touch(t->id);
				touch(t->service_id);
				touch(t->node_id);
				touch(t->desired_state);
				touch(t->state);
				touch(t->message);
				touch(t->error);
				touch(t->container_id);
				touch(t->hash);
				touch(t->timestamp);
			}
			dk_task_list_free(l);
		}
		break;
	}
	case 2: {
		struct dk_node_list *l = NULL;
		if (dk_decode_node_list(body, len, &l, &err) == 0) {
			for (size_t i = 0; i < l->n; i++) {
				const struct dk_node *n = &l->items[i];
				touch(n->hostname);
				touch(n->role);
				touch(n->availability);
				touch(n->state);
				touch(n->addr);
				touch(n->reachability);
				touch_kv(n->labels, n->nlabels);
				if (dk_node_find(l, n->id) == NULL)
					__builtin_trap();
			}
			dk_node_list_free(l);
		}
		break;
	}
	case 3: {
		struct dk_secret_list *l = NULL;
		if (dk_decode_secret_list(body, len, &l, &err) == 0) {
			for (size_t i = 0; i < l->n; i++) {
				touch(l->items[i].id);
				touch(l->items[i].name);
				touch_kv(l->items[i].labels, l->items[i].nlabels);
			}
			dk_secret_list_free(l);
		}
		break;
	}
	case 4: {
		struct dk_swarm_info i = { 0 };
		if (dk_decode_swarm_info(body, len, &i, &err) == 0) {
			touch(i.state);
			touch(i.node_id);
			touch(i.cluster_id);
			touch(i.error);
			dk_swarm_info_release(&i);
		}
		break;
	}
	case 5: {
		char a[RC_HASH_HEX_LEN + 1], b[RC_HASH_HEX_LEN + 1];
		if (dk_service_fingerprint(body, len, a, &err) == 0) {
			if (strlen(a) != RC_HASH_HEX_LEN || dk_service_fingerprint(body, len, b, &err) != 0 ||
			    strcmp(a, b) != 0)
				__builtin_trap();
		}
		break;
	}
	}
	return 0;
}
