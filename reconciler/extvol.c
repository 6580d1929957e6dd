/*
 * extvol.c — check a volume made outside reconciler before mounting it.
 * See extvol.h.
 */
#include <stdlib.h>
#include <string.h>

#include "bindpath.h"
#include "bindroot.h"
#include "extvol.h"

/* Is word one of the comma-separated items of list? */
static bool has_item(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* A bind of device: inside a policy.bind_roots entry, resolved with no link out of it. */
static int check_bind(struct dk_client *c, const struct rc_desired *d, const char *name, const char *device,
		      struct rc_err *err)
{
	const char *root = bindpath_root_of(d->settings.bind_roots, d->settings.nbind_roots, device);
	if (!root)
		return rc_errf(err, "external volume '%s' is a bind of '%s', which lies in no policy.bind_roots entry: "
				    "refusing to mount it", name, device);
	_cleanup_free_ char *data_root = NULL;
	struct dk_status st = { 0 };
	if (dk_data_root(c, &data_root, &st, err) < 0)
		return rc_err_prefix(err, "external volume '%s'", name);
	if (bindpath_under(root, data_root) || bindpath_under(data_root, root))
		return rc_errf(err, "external volume '%s' is a bind of '%s' from bind root '%s', which %s the engine's "
				    "data root '%s': refusing to mount it", name, device, root,
			       bindpath_under(root, data_root) ? "lies inside" : "holds", data_root);
	_cleanup_free_ char *real = NULL;
	if (bindroot_check(root, err) < 0)
		return rc_err_prefix(err, "external volume '%s' is a bind of '%s'", name, device);
	if (bindpath_resolve(root, device, &real, err) < 0)
		return rc_err_prefix(err, "external volume '%s' is a bind of '%s'", name, device);
	return 0;
}

int extvol_check(struct dk_client *c, const struct rc_desired *d, const char *name, struct rc_err *err)
{
	struct dk_volume *v = NULL;
	struct dk_status st = { 0 };
	if (dk_volume_inspect(c, name, &v, &st, err) < 0) {
		if (st.http == 404)
			return rc_errf(err, "external volume '%s' does not exist: create it (docker volume create %s), "
					    "or remove its Volume from the manifests", name, name);
		return rc_err_prefix(err, "inspecting external volume '%s'", name);
	}
	int rc = 0;
	const char *by = dk_label(v->labels, v->nlabels, RC_LABEL_MANAGED);
	const char *proj = dk_label(v->labels, v->nlabels, RC_LABEL_PROJECT);
	const char *type = dk_label(v->options, v->noptions, "type");
	const char *o = dk_label(v->options, v->noptions, "o");
	const char *device = dk_label(v->options, v->noptions, "device");
	if (by) {
		rc = rc_errf(err, "external volume '%s' was made by reconciler for project '%s': another project's "
				  "volume is never mounted as external", name, proj ? proj : "?");
	} else if (v->driver && strcmp(v->driver, "local") == 0 && device) {
		if (has_item(o, "bind") || has_item(o, "rbind"))
			rc = check_bind(c, d, name, device, err);
		else if (!type || !(strcmp(type, "tmpfs") == 0 || strcmp(type, "nfs") == 0 || strcmp(type, "nfs4") == 0 ||
				    strcmp(type, "cifs") == 0))
			rc = rc_errf(err, "external volume '%s' mounts '%s' (type %s): only binds inside policy.bind_roots, "
					  "tmpfs and network file systems (nfs, nfs4, cifs) are mounted", name, device,
				     type ? type : "unset");
	}
	dk_volume_free(v);
	return rc;
}
