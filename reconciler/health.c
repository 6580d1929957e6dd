/* health.c — see health.h. */
#include "health.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

int health_http_probe(const char *ip, uint16_t port, const char *path, int64_t timeout_ms,
		      char *why, size_t whylen)
{
	char url[512];
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *sep = (path && path[0] == '/') ? "" : "/";
	snprintf(url, sizeof(url), "http://%s:%u%s%s", ip, (unsigned)port, sep, path ? path : "");
	CURL *c = curl_easy_init();
	if (!c) {
		if (why)
			snprintf(why, whylen, "cannot initialise libcurl");
		return 0;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 5000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 5000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	int healthy = 0;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		healthy = status >= 200 && status < 400;
		if (why)
			snprintf(why, whylen, "HTTP %ld", status);
	} else if (why) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	curl_easy_cleanup(c);
	return healthy;
}

int64_t backoff_delay_ns(int failures, int64_t base_ns, int64_t max_ns)
{
	if (failures < 1)
		failures = 1;
	int64_t d = base_ns > 0 ? base_ns : 1;
	for (int i = 1; i < failures; i++) {
		if (d >= max_ns / 2) {
			d = max_ns;
			break;
		}
		d *= 2;
	}
	return d > max_ns ? max_ns : d;
}

const char *health_exit_reason(int exit_code, bool oom_killed, char *out, size_t n)
{
	if (oom_killed)
		snprintf(out, n, "killed: out of memory (exit %d)", exit_code);
	else if (exit_code == 0)
		snprintf(out, n, "stopped (exit 0)");
	else if (exit_code == 137)
		snprintf(out, n, "killed (exit 137)");
	else if (exit_code > 128 && exit_code < 160)
		snprintf(out, n, "killed by signal %d (exit %d)", exit_code - 128, exit_code);
	else
		snprintf(out, n, "crashed with exit code %d", exit_code);
	return out;
}
