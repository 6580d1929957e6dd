/*
 * docker_events.c — the engine's events stream.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* events                                                             */

struct dk_events {
	struct dk_client *client;  /* counters, host name for messages */
	CURLM *multi;
	CURL *easy;
	struct xfer x;
	struct buf pending;        /* complete lines, each ending in '\n' */
	bool done;
	CURLcode result;
};

static int events_line(void *ud, const char *line, size_t len)
{
	struct dk_events *ev = ud;
	buf_add(&ev->pending, line, len);
	buf_addc(&ev->pending, '\n');
	return 0;
}

void dk_event_release(struct dk_event *e)
{
	if (!e)
		return;
	free(e->type);
	free(e->action);
	free(e->id);
	jkv_free(e->attrs, e->nattrs);
	memset(e, 0, sizeof(*e));
}

const char *dk_event_attr(const struct dk_event *e, const char *key)
{
	return dk_label(e->attrs, e->nattrs, key);
}

static int parse_event(const char *line, size_t len, struct dk_event *ret)
{
	cJSON *j = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(j) || !jstr(j, "Action")) {
		cJSON_Delete(j);
		return -1;
	}
	struct dk_event e = { 0 };
	e.type = jdup(j, "Type");
	if (!e.type)
		e.type = xstrdup("");
	e.action = jdup(j, "Action");
	const cJSON *actor = jget(j, "Actor");
	e.id = jdup(actor, "ID");
	if (!e.id)
		e.id = xstrdup("");
	e.attrs = jkv(jget(actor, "Attributes"), &e.nattrs);
	e.time = jint(j, "time");
	/* timeNano does not fit a double exactly: read the top-level key's text */
	if (!json_top_int(line, len, "timeNano", &e.time_nano)) {
		if (e.time > INT64_MAX / 1000000000LL || e.time < INT64_MIN / 1000000000LL)
			e.time_nano = 0;
		else
			e.time_nano = e.time * 1000000000LL;
	}
	cJSON_Delete(j);
	*ret = e;
	return 0;
}

/* Pop one line from pending into a parsed event.  1: event, 0: nothing buffered. */
static int events_pop(struct dk_events *ev, struct dk_event *ret)
{
	for (;;) {
		char *nl = ev->pending.len ? memchr(ev->pending.data, '\n', ev->pending.len) : NULL;
		if (!nl)
			return 0;
		size_t n = (size_t)(nl - ev->pending.data);
		int r = parse_event(ev->pending.data, n, ret);
		size_t rest = ev->pending.len - n - 1;
		memmove(ev->pending.data, nl + 1, rest);
		ev->pending.len = rest;
		ev->pending.data[rest] = '\0';
		if (r == 0)
			return 1;
		log_debug("docker: skipping an unparsable event line");
	}
}

/* Run the transfer without blocking; notice its end. */
static void events_perform(struct dk_events *ev)
{
	int running = 0;
	curl_multi_perform(ev->multi, &running);
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(ev->multi, &left))) {
		if (msg->msg == CURLMSG_DONE) {
			ev->done = true;
			ev->result = msg->data.result;
		}
	}
}

static int events_error(struct dk_events *ev, struct rc_err *err)
{
	long http = 0;
	curl_easy_getinfo(ev->easy, CURLINFO_RESPONSE_CODE, &http);
	if (ev->result != CURLE_OK) {
		if (ev->x.over_cap)
			return rc_errf(err, "events: a line larger than %zu bytes", ev->x.body.max);
		if (ev->result == CURLE_COULDNT_CONNECT) {
			long oserr = 0;
			curl_easy_getinfo(ev->easy, CURLINFO_OS_ERRNO, &oserr);
			return rc_errf(err, "events: cannot connect to the docker engine at '%s': %s", ev->client->host,
				       oserr ? strerror((int)oserr) : curl_easy_strerror(ev->result));
		}
		char tls[CURL_ERROR_SIZE + 512];
		if (tls_error(ev->client, ev->result, ev->x.errbuf, tls, sizeof(tls)))
			return rc_errf(err, "events: %s", tls);
		return rc_errf(err, "events: stream from '%s' dropped: %s", ev->client->host,
			       ev->x.errbuf[0] ? ev->x.errbuf : curl_easy_strerror(ev->result));
	}
	if (http != 200) {
		char msg[1024];
		struct buf *b = ev->pending.len ? &ev->pending : &ev->x.body;
		error_message(buf_cstr(b), b->len, msg, sizeof(msg));
		return rc_errf(err, "events: %ld %s", http, msg[0] ? msg : "(no message)");
	}
	return rc_errf(err, "events: the engine at '%s' ended the stream", ev->client->host);
}

void dk_events_close(struct dk_events *ev)
{
	if (!ev)
		return;
	if (ev->multi) {
		curl_multi_remove_handle(ev->multi, ev->easy);
		curl_multi_cleanup(ev->multi);
	}
	if (ev->easy)
		curl_easy_cleanup(ev->easy);
	xfer_release(&ev->x);
	buf_release(&ev->pending);
	free(ev);
}

int dk_events_open(struct dk_client *c, const struct dk_filter *filters, size_t nfilters, int64_t since,
		   struct dk_events **ret, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	struct buf path = BUF_INIT;
	buf_adds(&path, API "/events");
	char sep = '?';
	if (*fq) {
		buf_addf(&path, "?filters=%s", fq);
		sep = '&';
	}
	if (since > 0)
		buf_addf(&path, "%csince=%" PRId64, sep, since);
	struct dk_events *ev = xcalloc(1, sizeof(*ev));
	ev->client = c;
	ev->multi = curl_multi_init();
	ev->easy = curl_easy_init();
	if (!ev->multi || !ev->easy)
		die("cannot initialise libcurl");
	xfer_init(&ev->x, c->max_body);
	buf_init(&ev->pending, 0);
	ev->x.streaming = true;
	ev->x.on_line = events_line;
	ev->x.ud = ev;
	setup_easy(c, ev->easy, "GET", path.data, NULL, 0, &ev->x);
	buf_release(&path);
	count_op(c, DK_OP_EVENTS);
	curl_multi_add_handle(ev->multi, ev->easy);
	/* wait (bounded) for the reply's head so a refused stream fails here */
	int64_t deadline = now_ms() + c->timeout_ms;
	for (;;) {
		events_perform(ev);
		long http = 0;
		curl_easy_getinfo(ev->easy, CURLINFO_RESPONSE_CODE, &http);
		if (http == 200)  /* even if it already ended: dk_events_next() reports that */
			break;
		if (ev->done || (http != 0 && http != 200 && now_ms() >= deadline)) {
			if (ev->done && ev->x.body.len)  /* an error reply without a newline */
				events_line(ev, ev->x.body.data, ev->x.body.len);
			events_error(ev, err);
			dk_events_close(ev);
			return -1;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			dk_events_close(ev);
			return rc_errf(err, "events: no reply from the docker engine at '%s' within %ld ms",
				       c->host, c->timeout_ms);
		}
		curl_multi_poll(ev->multi, NULL, 0, (int)(left < 100 ? left : 100), NULL);
	}
	*ret = ev;
	return 0;
}

int dk_events_poll(struct dk_events *ev, int timeout_ms, struct pollfd *fds, size_t nfds,
		   struct dk_event *ret_event, struct rc_err *err)
{
	struct curl_waitfd *wfds = nfds ? xcalloc(nfds, sizeof(*wfds)) : NULL;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int r;
	for (size_t i = 0; i < nfds; i++)
		fds[i].revents = 0;
	for (;;) {
		if (events_pop(ev, ret_event)) {
			r = 1;
			break;
		}
		if (ev->done) {
			r = events_error(ev, err);
			break;
		}
		int64_t left = deadline - now_ms();
		if (left < 0)
			left = 0;
		for (size_t i = 0; i < nfds; i++) {
			wfds[i].fd = fds[i].fd;
			wfds[i].events = (short)(((fds[i].events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
						 ((fds[i].events & POLLPRI) ? CURL_WAIT_POLLPRI : 0) |
						 ((fds[i].events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
			wfds[i].revents = 0;
		}
		curl_multi_poll(ev->multi, wfds, (unsigned)nfds, (int)left, NULL);
		events_perform(ev);
		bool ready = false;
		for (size_t i = 0; i < nfds; i++) {
			short re = 0;
			if (wfds[i].revents & CURL_WAIT_POLLIN)
				re |= POLLIN;
			if (wfds[i].revents & CURL_WAIT_POLLPRI)
				re |= POLLPRI;
			if (wfds[i].revents & CURL_WAIT_POLLOUT)
				re |= POLLOUT;
			fds[i].revents = re;
			ready |= re != 0;
		}
		if (events_pop(ev, ret_event)) {
			r = 1;
			break;
		}
		if (ready || (left == 0 && !ev->done)) {
			r = 0;
			break;
		}
	}
	free(wfds);
	return r;
}

int dk_events_next(struct dk_events *ev, int timeout_ms, struct dk_event *ret_event, struct rc_err *err)
{
	return dk_events_poll(ev, timeout_ms, NULL, 0, ret_event, err);
}

int dk_decode_event(const char *line, size_t len, struct dk_event *ret, struct rc_err *err)
{
	if (parse_event(line, len, ret) < 0)
		return rc_errf(err, "not an event");
	return 0;
}
