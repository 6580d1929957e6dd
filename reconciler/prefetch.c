/*
 * prefetch.c — see prefetch.h.  Two threads at most: the prefetch thread
 * makes the list calls while a second one checks the version on a clone.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "prefetch.h"
#include "unit.h"

struct prefetch {
	const char *host;
	bool lists;
	char *project;
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
	if (pf->lists && pf->project) {
		_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, pf->project);
		struct dk_filter f[] = { { "label", label } };
		pf->rc = dk_container_list(pf->c, f, 1, &pf->raw.containers, NULL, &pf->err);
		if (pf->rc == 0)
			pf->rc = dk_network_list(pf->c, NULL, 0, &pf->raw.networks, NULL, &pf->err);
	} else {
		pf->rc = pf->lists ? observe_fetch(pf->c, &pf->raw, &pf->err) : 0;
	}
	if (threaded)
		pthread_join(th, NULL);
	dk_client_free(vc.c);
	if (vc.rc < 0) {
		observe_raw_release(&pf->raw);
		pf->what = "docker";
		pf->err = vc.err;
		pf->rc = -1;
	}
	return NULL;
}

struct prefetch *prefetch_start(const char *docker_host, bool lists, const char *project)
{
	struct prefetch *pf = xcalloc(1, sizeof(*pf));
	pf->host = docker_host;
	pf->lists = lists;
	pf->project = project ? xstrdup(project) : NULL;
	pf->threaded = pthread_create(&pf->th, NULL, prefetch_main, pf) == 0;
	if (!pf->threaded)
		prefetch_main(pf);
	return pf;
}

int prefetch_finish(struct prefetch *pf, struct dk_client **ret_client, struct observe_raw *ret_raw,
		    struct rc_err *err)
{
	*ret_client = NULL;
	*ret_raw = (struct observe_raw){ 0 };
	if (!pf)
		return -1;
	if (pf->threaded)
		pthread_join(pf->th, NULL);
	int rc = pf->rc;
	if (rc < 0) {
		observe_raw_release(&pf->raw);
		dk_client_free(pf->c);
		*err = pf->err;
		rc_err_prefix(err, "%s", pf->what);
	} else {
		*ret_client = pf->c;
		*ret_raw = pf->raw;
	}
	free(pf->project);
	free(pf);
	return rc < 0 ? -1 : 0;
}
