/*
 * prefetch.c — see prefetch.h.  Two threads at most: the prefetch thread
 * makes the list calls while a second one checks the version on a clone.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "prefetch.h"
#include "unit.h"

struct prefetch {
	const char *host;
	bool lists;
	char *project;
	int inspect_parallel;
	const char *const *names;
	size_t nnames;
	struct dk_client *nc;        /* the inspects by name: their own client, */
	struct dk_inspect_result *nres;  /* nnames results, */
	pthread_t nth;               /* on a thread of their own */
	bool nthreaded;
	struct prefetch_inspected insp;
	char **ids;                  /* the project's container ids, listed (with inspect_parallel) */
	size_t nids;
	pthread_t th;
	bool threaded;
	struct dk_client *c;
	struct observe_raw raw;
	struct rc_err err;
	const char *what;
	int rc;
};

struct version_check {
	struct dk_client *c;
	struct rc_err err;
	int rc;
};

static void *version_main(void *p)
{
	struct version_check *vc = p;
	vc->rc = dk_check_version(vc->c, &vc->err);
	return NULL;
}

static void *names_main(void *p)
{
	struct prefetch *pf = p;
	struct rc_err e = { 0 };
	(void)dk_inspect_many(pf->nc, pf->names, pf->nnames, pf->inspect_parallel, pf->nres, &e);
	return NULL;
}

/* Inspect the names given, on a second thread (joined by inspect_listed()). */
static void inspect_names_start(struct prefetch *pf)
{
	if (!pf->nnames)
		return;
	pf->nc = dk_client_clone(pf->c);
	pf->nres = xcalloc(pf->nnames + 1, sizeof(*pf->nres));
	pf->nthreaded = pthread_create(&pf->nth, NULL, names_main, pf) == 0;
	if (!pf->nthreaded)
		names_main(pf);
}

/*
 * Join the inspects by name, then inspect by id the listed containers they
 * did not find.  Best effort: what fails here (or was removed since the
 * list) is looked at again by the caller.
 */
static void inspect_listed(struct prefetch *pf)
{
	if (pf->nthreaded)
		pthread_join(pf->nth, NULL);
	pf->nthreaded = false;
	const char **found = xcalloc(pf->nnames + 1, sizeof(*found));
	size_t nfound = 0;
	for (size_t k = 0; pf->nres && k < pf->nnames; k++)
		if (pf->nres[k].container && pf->nres[k].container->id)
			found[nfound++] = pf->nres[k].container->id;
	qsort(found, nfound, sizeof(*found), strp_cmp);
	size_t n = pf->nids, m = 0;
	const char **ids = xcalloc(n + 1, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		const char *id = pf->ids[i];
		if (!bsearch(&id, found, nfound, sizeof(*found), strp_cmp))
			ids[m++] = id;
	}
	free(found);
	pf->insp.n = pf->nnames + m;
	pf->insp.res = xcalloc(pf->insp.n + 1, sizeof(*pf->insp.res));
	for (size_t k = 0; pf->nres && k < pf->nnames; k++)
		pf->insp.res[k] = pf->nres[k];
	free(pf->nres);
	pf->nres = NULL;
	struct rc_err e = { 0 };
	if (m)
		(void)dk_inspect_many(pf->c, ids, m, pf->inspect_parallel, pf->insp.res + pf->nnames, &e);
	free(ids);
}

static void release_inspected(struct prefetch_inspected *pi)
{
	if (pi->res)
		dk_inspect_results_release(pi->res, pi->n);
	free(pi->res);
	*pi = (struct prefetch_inspected){ 0 };
}

static void *prefetch_main(void *p)
{
	struct prefetch *pf = p;
	struct dk_opts dopts = { .host = pf->host, .defer_version_check = true };
	pf->what = "docker";
	if ((pf->rc = dk_client_open(&dopts, &pf->c, &pf->err)) < 0)
		return NULL;
	struct version_check vc = { .c = dk_client_clone(pf->c) };
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, version_main, &vc) == 0;
	if (!threaded)
		version_main(&vc);
	pf->what = "observing the engine";
	if (pf->lists && pf->project && pf->inspect_parallel > 0)
		inspect_names_start(pf);
	if (pf->lists && pf->project) {
		_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, pf->project);
		struct dk_filter f[] = { { "label", label } };
		if (pf->inspect_parallel > 0) {
			/* every one of them is inspected: the list's ids are all that is read of it, and the
			 * container summaries are made from the inspects (drift_check(), add_name_holders()) */
			pf->rc = dk_container_ids(pf->c, f, 1, &pf->ids, &pf->nids, NULL, &pf->err);
			pf->raw.containers = xcalloc(1, sizeof(*pf->raw.containers));
		} else {
			pf->rc = dk_container_list(pf->c, f, 1, &pf->raw.containers, NULL, &pf->err);
		}
		if (pf->rc == 0)
			pf->rc = dk_network_list(pf->c, NULL, 0, &pf->raw.networks, NULL, &pf->err);
		if (pf->inspect_parallel > 0)
			inspect_listed(pf);  /* joins the inspects by name, whatever the lists did */
	} else {
		pf->rc = pf->lists ? observe_fetch(pf->c, &pf->raw, &pf->err) : 0;
	}
	if (threaded)
		pthread_join(th, NULL);
	dk_client_free(vc.c);
	dk_client_free(pf->nc);
	pf->nc = NULL;
	if (vc.rc < 0) {
		observe_raw_release(&pf->raw);
		release_inspected(&pf->insp);
		pf->what = "docker";
		pf->err = vc.err;
		pf->rc = -1;
	}
	return NULL;
}

struct prefetch *prefetch_start(const struct prefetch_opts *o)
{
	struct prefetch *pf = xcalloc(1, sizeof(*pf));
	pf->host = o->docker_host;
	pf->lists = o->lists;
	pf->inspect_parallel = o->inspect_parallel;
	pf->names = o->names;
	pf->nnames = o->names ? o->nnames : 0;
	pf->project = o->project ? xstrdup(o->project) : NULL;
	pf->threaded = pthread_create(&pf->th, NULL, prefetch_main, pf) == 0;
	if (!pf->threaded)
		prefetch_main(pf);
	return pf;
}

int prefetch_finish(struct prefetch *pf, struct dk_client **ret_client, struct observe_raw *ret_raw,
		    struct prefetch_inspected *ret_inspected, struct rc_err *err)
{
	*ret_client = NULL;
	*ret_raw = (struct observe_raw){ 0 };
	if (ret_inspected)
		*ret_inspected = (struct prefetch_inspected){ 0 };
	if (!pf)
		return -1;
	if (pf->threaded)
		pthread_join(pf->th, NULL);
	int rc = pf->rc;
	if (rc < 0) {
		observe_raw_release(&pf->raw);
		release_inspected(&pf->insp);
		dk_client_free(pf->c);
		*err = pf->err;
		rc_err_prefix(err, "%s", pf->what);
	} else {
		*ret_client = pf->c;
		*ret_raw = pf->raw;
		if (ret_inspected)
			*ret_inspected = pf->insp;
		else
			release_inspected(&pf->insp);
	}
	dk_ids_free(pf->ids);
	free(pf->project);
	free(pf);
	return rc < 0 ? -1 : 0;
}
