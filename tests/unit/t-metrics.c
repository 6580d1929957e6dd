/* Unit tests for metrics.c (rendering, label escaping, the event ring) and notify's event filter. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "httpd.h"
#include "metrics.h"
#include "notify.h"
#include "tap.h"

static bool has(const struct buf *b, const char *s)
{
	return strstr(buf_cstr(b), s) != NULL;
}

int main(void)
{
	struct buf b = BUF_INIT;
	metrics_label_escape(&b, "a\"b\\c\nd");
	is_str(buf_cstr(&b), "a\\\"b\\\\c\\nd", "label values: quote, backslash and newline escaped");
	buf_reset(&b);

	struct metrics_unit u[] = { { .unit = "acme/web", .customer = "acme", .service = "web", .image = "img:\"1\"",
				      .ready = true, .failures = 2, .restarts = 3 } };
	metrics_set_units(u, 1, "abc", 1700000000);
	metrics_engine_request("inspect", 3000000, true);     /* 3 ms */
	metrics_engine_request("inspect", 2000000000, false); /* 2 s, no answer */
	metrics_journaled("rollout", "started", NULL, "{\"action\":\"rollout\",\"result\":\"started\"}\n");
	metrics_journaled("rollout", "ok", NULL, "{\"action\":\"rollout\",\"result\":\"ok\"}\n");
	metrics_journaled("load", "failed", "bad.yaml:1:1: x", "{\"action\":\"load\",\"result\":\"failed\"}\n");
	metrics_journaled("drift", "drift", "3 findings: 3 changed", "{\"action\":\"drift\",\"result\":\"drift\"}\n");
	metrics_render(&b);
	ok(has(&b, "reconciler_unit_info{unit=\"acme/web\",customer=\"acme\",service=\"web\",image=\"img:\\\"1\\\"\"} 1\n"),
	   "unit_info with its labels, escaped");
	ok(has(&b, "reconciler_unit_ready{unit=\"acme/web\"} 1\n"), "ready");
	ok(has(&b, "reconciler_unit_failures{unit=\"acme/web\"} 2\n"), "failures");
	ok(has(&b, "reconciler_unit_restarts_total{unit=\"acme/web\"} 3\n"), "restarts");
	ok(has(&b, "# TYPE reconciler_unit_restarts_total counter\n"), "counters typed as counters");
	ok(has(&b, "reconciler_engine_request_duration_seconds_bucket{op=\"inspect\",le=\"0.0025\"} 0\n"),
	   "below 3 ms: none");
	ok(has(&b, "reconciler_engine_request_duration_seconds_bucket{op=\"inspect\",le=\"0.005\"} 1\n"),
	   "buckets are cumulative: 3 ms in le=0.005");
	ok(has(&b, "reconciler_engine_request_duration_seconds_bucket{op=\"inspect\",le=\"2.5\"} 2\n"), "2 s in le=2.5");
	ok(has(&b, "reconciler_engine_request_duration_seconds_bucket{op=\"inspect\",le=\"+Inf\"} 2\n"), "+Inf is the count");
	ok(has(&b, "reconciler_engine_request_duration_seconds_count{op=\"inspect\"} 2\n"), "count");
	ok(has(&b, "reconciler_engine_request_errors_total{op=\"inspect\"} 1\n"), "the unanswered one is an error");
	ok(has(&b, "reconciler_engine_up 0\n"), "the last request got no answer: engine down");
	ok(has(&b, "reconciler_rollouts_total{result=\"ok\"} 1\n"), "a rollout ok");
	ok(has(&b, "reconciler_rollouts_total{result=\"rejected\"} 1\n"), "an invalid commit is rejected");
	ok(has(&b, "reconciler_rollout_duration_seconds_count 1\n"), "one rollout duration");
	ok(has(&b, "reconciler_drift_units 3\n"), "drift findings from the journal line");
	ok(has(&b, "reconciler_last_applied_commit_timestamp_seconds 1700000000\n"), "commit time");
	buf_reset(&b);

	bool lost = true;
	uint64_t last = metrics_events_wait(0, 0, 100, &b, &lost);
	is_int((long long)last, 4, "four events");
	ok(!lost, "none lost");
	ok(has(&b, "data: {\"seq\":1,\"action\":\"rollout\",\"result\":\"started\"}\n\n"), "seq added, newline dropped");
	const char *id = strstr(buf_cstr(&b), "id: ");
	char idbuf[64] = "";
	if (id)
		sscanf(id + 4, "%63s", idbuf);
	is_int((long long)metrics_event_id_parse(idbuf), 1, "an id of ours parses back to its sequence (%s)", idbuf);
	is_int((long long)metrics_event_id_parse("12.3"), 0, "another process's id: from the start");
	is_int((long long)metrics_event_id_parse("junk"), 0, "junk: from the start");
	buf_reset(&b);
	last = metrics_events_wait(2, 0, 100, &b, NULL);
	ok(!has(&b, "\"seq\":2,") && has(&b, "\"seq\":3,") && has(&b, "\"seq\":4,"), "after 2: 3 and 4 only");
	for (int i = 0; i < METRICS_EVENT_RING + 10; i++)
		metrics_journaled("x", "ok", NULL, "{\"action\":\"x\"}");
	buf_reset(&b);
	metrics_events_wait(1, 0, 1, &b, &lost);
	ok(lost, "events gone from the ring are reported lost");

	const char *ev[] = { "rollout:failed", "disable" };
	ok(notify_event_matches(ev, 2, "rollout", "failed"), "ACTION:RESULT matches");
	ok(!notify_event_matches(ev, 2, "rollout", "ok"), "another result does not");
	ok(notify_event_matches(ev, 2, "disable", "ok"), "ACTION matches every result");
	ok(!notify_event_matches(ev, 2, "disabled", "ok"), "a longer action does not match a prefix");
	ok(notify_event_matches(NULL, 0, "rollout", "failed"), "the default set has failed rollouts");
	ok(!notify_event_matches(NULL, 0, "create", "ok"), "the default set leaves steps out");
	struct rc_err err = { 0 };
	bool is_unix = false;
	ok(httpd_parse_listen("/run/x.sock", &is_unix, &err) == 0 && is_unix, "a socket path");
	ok(httpd_parse_listen("unix:/run/x.sock", &is_unix, &err) == 0 && is_unix, "unix:PATH");
	ok(httpd_parse_listen("127.0.0.1:9850", &is_unix, &err) == 0 && !is_unix, "IPV4:PORT");
	ok(httpd_parse_listen("localhost:9850", &is_unix, &err) < 0, "a name is refused: %s", err.msg);
	ok(httpd_parse_listen("127.0.0.1:0", &is_unix, &err) < 0, "port 0 is refused: %s", err.msg);
	ok(httpd_parse_listen("127.0.0.1:", &is_unix, &err) < 0, "no port is refused: %s", err.msg);
	ok(httpd_parse_listen("http.sock", &is_unix, &err) < 0, "a relative path is refused: %s", err.msg);
	buf_release(&b);
	return done_testing();
}
