/*
 * manifest.c — see manifest.h; the format is documented in spec/manifest.md.
 *
 * Three passes:
 *  1. libyaml events → a small tree of nodes that remember file:line:col
 *     (limits, aliases and duplicate keys are checked here);
 *  2. each document → one object (settings, plan, network, service,
 *     template, customer), every key and value checked on its own;
 *  3. cross-document checks and expansion into rc_units and rc_networks.
 * Pass 3 runs only when passes 1 and 2 found nothing that would make its
 * findings unreliable (a syntax error can hide a plan, so "plan not found"
 * would be noise); every problem of a pass is reported.
 *
 * The loader is split by pass (manifest_int.h is their shared header):
 *   manifest_yaml.c     pass 1, the only user of libyaml
 *   manifest_diag.c     diagnostics, messages, "did you mean"
 *   manifest_values.c   the shared value grammars and bind checks
 *   manifest_service.c  pass 2 for a service's keys
 *   manifest_fields.c   pass 2 for the spec-key table's fields
 *   manifest_kinds.c    pass 2, one parser per kind, the host policy
 *   manifest_check.c    pass 3, checks across documents, secrets
 *   manifest_expand.c   expansion into rc_desired and its global checks
 *   manifest_swarm.c    the keys of engine: swarm, the engine check, rc_swarm
 * This file is the entry point.
 */
#include "manifest_int.h"


#include "spec.h"
#include "util.h"

int manifest_load(const struct source_files *files, const struct manifest_opts *opts,
		  struct rc_desired **ret, struct rc_diags *diags)
{
	struct model m = { 0 };
	struct ctx c = { .d = diags, .opts = opts, .m = &m };
	struct pass3 p = { 0 };
	struct rc_desired *d = NULL;
	size_t before = diags->n + diags->dropped;

	if (opts && opts->host_policy)
		mf_load_host_policy(&c, opts->host_policy);
	for (size_t i = 0; i < files->nfiles; i++)
		mf_parse_file(&c, &files->files[i]);
	mf_parse_docs(&c);
	if (!c.broken) {
		mf_cross_check(&c, &p);
		if (diags->n + diags->dropped == before) {
			d = mf_expand(&c, &p);
			if (files->commit)
				d->commit = xstrdup(files->commit);
		}
	}
	mf_pass3_release(&p);
	mf_model_release(&m);
	for (size_t i = 0; i < c.ndocs; i++)
		mf_ynode_free(c.docs[i].root);
	free(c.docs);
	for (size_t i = 0; i < c.nowned; i++)
		free(c.owned[i]);
	free(c.owned);

	if (diags->n + diags->dropped != before) {
		rc_desired_free(d);
		rc_diags_sort(diags);
		return -1;
	}
	spec_hash_units(d);
	*ret = d;
	return 0;
}
