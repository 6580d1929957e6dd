/*
 * actual.h — what a container actually is, written in the canonical text of
 * spec.h, so that it compares line by line (spec_diff()) with the text of
 * the unit it should be.
 *
 * Owns: the rules for reading back only what the reconciler sets.  Pure: no
 * I/O; the caller inspects the container and its image (docker.h).
 *
 * The engine's inspect is not what was asked for: it merges the image's
 * env (by key), labels, exposed ports, Cmd (unless an Entrypoint was given),
 * User, WorkingDir, StopSignal and healthcheck fields into Config, and
 * drops zero values.  So a field is read back when the expected text sets
 * it, or when its value differs from the image's (someone else set it):
 *
 *   run                   only from the spec label (a job is the reconciler's
 *                         notion, not the engine's)
 *   image                 Config.Image (as given at create); when that is
 *                         the container's image ID and the container has the
 *                         RC_LABEL_IMAGE label, the label (the reference the
 *                         ID was resolved from: actual_image_ref())
 *   command, entrypoint   Config.Cmd / Entrypoint: expected, or not the image's
 *   the spec-key table's  each by its row's read-back rule (speckeys.h):
 *   rows (user, workdir,  SKR_IMAGE (user, workdir, stop_signal) expected,
 *   stop_signal,          or not the image's; SKR_NONZERO (privileged, ...)
 *   privileged, ...)      whenever set; SKR_EXPECTED only when expected
 *   env.K                 expected keys, plus pairs the image does not have
 *   labels.K              only keys the expected text has (labels of the
 *                         image and our io.reconciler.* labels are ignored)
 *   ports.P/proto         HostConfig.PortBindings (the first binding of each
 *                         port), never ExposedPorts; a number, never `auto`
 *   mounts.T              HostConfig.Mounts / Binds / Tmpfs; a read-only bind
 *                         of a file named NAME at a target the container's
 *                         spec label declares `secret:NAME:ro` reads back as
 *                         that secret mount
 *   secrets.NAME          only from the spec label (RC_LABEL_SPEC): the
 *                         digest is there and nowhere else; present when the
 *                         secret's mount is
 *   networks.i            NetworkSettings.Networks, numbered in the expected
 *                         order (a missing one leaves its index out), extra
 *                         ones after them by name; the default "bridge" of a
 *                         unit without networks is ignored
 *   health.cmd, ...       Config.Healthcheck (CMD-SHELL), unless it is the
 *                         image's and nothing is expected; a disabled check
 *                         (Test NONE) with health.http in the spec label reads
 *                         back the label's health.* lines (the reconciler
 *                         probes HTTP itself; the engine has nothing of it)
 *   stop_grace            Config.StopTimeout in s (unset: 0); the expected ns
 *                         value when it truncates to the same second
 *   pid, ipc,             PidMode / IpcMode "host", CapAdd, Devices
 *   cap_add.C, devices.i
 *   cpus, memory,         HostConfig (what `docker update` changes);
 *   memory_reservation,   pids <= 0 (unlimited) reads as the expected value
 *   pids, restart.*       when that is unlimited too; restart.policy when
 *                         expected or not "no"
 *
 * Hence a container freshly created from unit u reads back as exactly
 * actual_expected(u) (tested in tests/unit/t-actual.c).
 */
#ifndef RC_ACTUAL_H
#define RC_ACTUAL_H

#include "buf.h"
#include "docker.h"
#include "unit.h"

struct actual_input {
	const struct dk_container *ct;   /* required: the container's inspect */
	const struct dk_image *image;    /* the image it runs (ct->image_id); NULL: nothing is subtracted */
	const char *expected;            /* the canonical text it should have (actual_expected()); NULL = none */
	/* networks it may be on besides its spec's: a shared service's link networks (unit.h,
	 * rc_unit.links), joined outside the spec; never read back as a change */
	const char *const *links;
	size_t nlinks;
};

/* Append the canonical text of what in->ct actually is to out (sorted lines, as spec_canonical()). */
void actual_canonical(const struct actual_input *in, struct buf *out);

/* The image reference a container was made from (see "image" above);
 * borrowed from ct.  NULL when the inspect had no Config.Image. */
const char *actual_image_ref(const struct dk_container *ct);

/*
 * Append the canonical text drift compares against: spec_canonical(u, true)
 * with every allocated `auto` host port written as its number (u's ports
 * must have been allocated: state_allocate()).
 */
void actual_expected(const struct rc_unit *u, struct buf *out);

#endif
