/*
 * owner.h — a project has one owner: the ownership marker the engine keeps.
 *
 * Owns: the marker, a small labelled volume named
 * <project>RC_OWNER_VOLUME_SUFFIX ("acme-reconciler-owner") that is never
 * mounted, and the owner id.  Its labels (spec/labels.md): the project label
 * (so whatever removes the project's objects by label removes it too), the
 * managed-by label, RC_LABEL_OWNER (the owner id), RC_LABEL_OWNER_REPO,
 * RC_LABEL_OWNER_STATE and RC_LABEL_OWNER_HOST (shown in a refusal).  A
 * volume's labels cannot be changed: a take-over removes the marker and makes
 * it again.
 *
 * The owner id is the XXH3-128 of (this machine's id — /etc/machine-id, or
 * the host name when it cannot be read —, the real path of the state
 * directory, the project).  So a state directory lost and made again at the
 * same path on the same host is the same owner (state/README.md: a lost state
 * directory is rebuilt from Git and the engine), while another state
 * directory, or one on another host sharing the engine, is another owner.
 * The repository is recorded and shown, not part of the id: the same state
 * directory may follow a repository that moved.
 *
 * Who calls what: commands that change the project or plan changes for it
 * (plan, apply, drift --fix, the daemon) look at the marker once
 * (owner_look: one engine call), refuse with owner_refusal() when another
 * owner holds it unless told to take over, and claim the project
 * (owner_claim) before their first change; read-only commands (status) may
 * only mention a foreign owner.  converge.h wires it into a convergence
 * pass.
 */
#ifndef RC_OWNER_H
#define RC_OWNER_H

#include <stdbool.h>

#include "docker.h"
#include "hash.h"
#include "util.h"

/* Who we are, for one project.  Every string malloc'ed; release with owner_self_release(). */
struct owner_self {
	char id[RC_HASH_HEX_LEN + 1];
	char *project;
	char *state_dir;   /* real path */
	char *host;        /* host name */
	char *repo;        /* repository identity, credentials redacted */
};

/*
 * The repository identity recorded in the marker (malloc'ed): remote (its URL
 * through url_redact()) when given, else "dir:" and the real path of dir when
 * given, else the real path of repo (each as given when it cannot be
 * resolved).
 */
char *owner_repo_identity(const char *repo, const char *dir, const char *remote);

/*
 * Fill *ret for project and the state directory state_dir (which must exist:
 * its real path is part of the id); repo is owner_repo_identity()'s.
 */
int owner_self_init(struct owner_self *ret, const char *project, const char *state_dir, const char *repo,
		    struct rc_err *err);
void owner_self_release(struct owner_self *s);

/* What the engine shows.  Strings malloc'ed or NULL; release with owner_marker_release(). */
struct owner_marker {
	bool present;
	char *id;          /* RC_LABEL_OWNER; NULL: a volume of that name without it */
	char *project;     /* RC_LABEL_PROJECT */
	char *repo;
	char *state_dir;
	char *host;
};
void owner_marker_release(struct owner_marker *m);

/* The marker's volume name for project (malloc'ed). */
char *owner_volume_name(const char *project);

/* One engine call (GET /volumes/<name>): *ret filled (present or not), or -1 on an engine error. */
int owner_look(struct dk_client *c, const char *project, struct owner_marker *ret, struct rc_err *err);

enum owner_verdict {
	OWNER_ABSENT = 0,  /* no marker: the first apply claims the project */
	OWNER_MINE,        /* the marker holds our id */
	OWNER_FOREIGN,     /* another owner's (or a volume of that name that is no marker) */
};
enum owner_verdict owner_judge(const struct owner_self *self, const struct owner_marker *m);

/*
 * The refusal (returns -1): "project 'acme' is owned by state directory /x
 * on host h (repository r), not by this one (/y on host h2); nothing was
 * changed; to take it over deliberately: reconciler --take-over apply".
 */
int owner_refusal(const struct owner_self *self, const struct owner_marker *m, struct rc_err *err);

/*
 * owner_look() and judge, for a command about to plan changes: 0 when the
 * project is ours, unclaimed, or another owner's and take_over is set; 1
 * when another owner holds it (err: the refusal); -1 on an engine error.
 * *ret_seen is filled on 0 and 1 (for owner_claim(), or to mention the owner).
 */
int owner_check(struct dk_client *c, const struct owner_self *self, bool take_over, struct owner_marker *ret_seen,
		struct rc_err *err);

/*
 * Make the marker ours, before the first change.  seen is what owner_look()
 * found.  Ours already: 0, nothing done.  Absent: create it.  Another
 * owner's: only with take_over, remove it and create ours (refused — -1 with
 * owner_refusal()'s message — without).  After a create the marker is looked
 * at again: when another claimant's create won the race, -1 with the refusal
 * and *ret_refused set.  Returns 1 when the marker was made now (the caller
 * journals it, with owner_describe(seen) when it took over), -1 on an engine
 * error (*ret_refused false).
 */
int owner_claim(struct dk_client *c, const struct owner_self *self, const struct owner_marker *seen,
		bool take_over, bool *ret_refused, struct rc_err *err);

/* A one-line description of a marker's owner: "state directory /x on host h (repository r)" (malloc'ed). */
char *owner_describe(const struct owner_marker *m);

#endif
