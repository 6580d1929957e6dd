/*
 * summary-check — does a container summary made from an inspect
 * (dk_container_list_add_inspected(): what the daemon's drift check uses
 * instead of listing, drift.h "known_ids") say what the engine's list says?
 *
 *   summary-check PROJECT
 *
 * Lists the containers carrying io.reconciler.project=PROJECT, inspects each
 * and compares, field by field, what observe.c reads from a summary: id,
 * name, image id, state, health (observe_health_from_status() of Status),
 * labels, published host ports (private port, public port, protocol) and
 * network names.  Prints one line per difference and "checked N" last;
 * exits 1 on a difference or when nothing was listed, 2 on an error.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "observe.h"
#include "unit.h"
#include "util.h"

static int diffs;

static void field(const char *name, const char *what, const char *listed, const char *made)
{
	if (str_eq(listed, made))
		return;
	printf("%s: %s: list says '%s', the inspect '%s'\n", name, what, listed ? listed : "(null)",
	       made ? made : "(null)");
	diffs++;
}

/* "8080->20001/tcp ..." of the published ports, sorted */
static char *ports_text(const struct dk_container_summary *s)
{
	char **v = xcalloc(s->nports + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].public_port)
			v[n++] = xasprintf("%u->%u/%s", s->ports[i].private_port, s->ports[i].public_port,
					   s->ports[i].type ? s->ports[i].type : "?");
	qsort(v, n, sizeof(*v), strp_cmp);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		/* the list may show a binding twice (IPv4 and IPv6): once is enough */
		if (i > 0 && str_eq(v[i], v[i - 1]))
			continue;
		buf_addf(&b, "%s%s", b.len ? " " : "", v[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return buf_detach(&b, NULL);
}

static char *join(char *const *v, size_t n)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? " " : "", v[i]);
	return buf_detach(&b, NULL);
}

static char *labels_text(const struct dk_container_summary *s)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < s->nlabels; i++)
		buf_addf(&b, "%s=%s\n", s->labels[i].key, s->labels[i].value ? s->labels[i].value : "");
	return buf_detach(&b, NULL);
}

static void compare(const struct dk_container_summary *l, const struct dk_container_summary *m)
{
	const char *name = l->name;
	field(name, "id", l->id, m->id);
	field(name, "name", l->name, m->name);
	field(name, "image id", l->image_id, m->image_id);
	field(name, "state", l->state, m->state);
	field(name, "health", observe_health_from_status(l->status), observe_health_from_status(m->status));
	char *a = labels_text(l), *b = labels_text(m);
	field(name, "labels", a, b);
	free(a);
	free(b);
	a = ports_text(l);
	b = ports_text(m);
	field(name, "published ports", a, b);
	free(a);
	free(b);
	a = join(l->networks, l->nnetworks);
	b = join(m->networks, m->nnetworks);
	field(name, "networks", a, b);
	free(a);
	free(b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: summary-check PROJECT\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	struct rc_err err = { 0 };
	struct dk_opts o = { 0 };
	struct dk_client *c = NULL;
	struct dk_container_list *l = NULL;
	int rc = 2;
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, argv[1]);
	struct dk_filter f[] = { { "label", label } };
	if (dk_client_open(&o, &c, &err) < 0 || dk_container_list(c, f, 1, &l, NULL, &err) < 0) {
		fprintf(stderr, "summary-check: %s\n", err.msg);
		goto out;
	}
	struct dk_container_list made = { 0 };
	for (size_t i = 0; i < l->n; i++) {
		struct dk_container *ct = NULL;
		if (dk_container_inspect(c, l->items[i].id, &ct, NULL, &err) < 0) {
			fprintf(stderr, "summary-check: %s\n", err.msg);
			free(made.items);
			goto out;
		}
		dk_container_list_add_inspected(&made, ct);
		dk_container_free(ct);
		compare(&l->items[i], &made.items[made.n - 1]);
	}
	printf("checked %zu\n", l->n);
	struct dk_container_list *mp = xcalloc(1, sizeof(*mp));
	*mp = made;
	dk_container_list_free(mp);
	rc = diffs || l->n == 0 ? 1 : 0;
out:
	dk_container_list_free(l);
	dk_client_free(c);
	curl_global_cleanup();
	return rc;
}
