/*
 * dk_decode_container_ids(): the ids of a container list, read by skipping
 * the rest of the reply rather than decoding it.  Checked against
 * dk_decode_container_list() on a list shaped like the engine's (nested
 * objects with keys of their own called Id, escapes, numbers, literals),
 * and on what is not JSON.  tests/fuzz/fuzz-docker-json.c compares the two
 * on arbitrary input.  Also the RepoDigests of an image inspect (pull: always).
 */
#include <string.h>

#include "buf.h"
#include "docker.h"
#include "tap.h"
#include "util.h"

static const char engine_list[] =
	"[\n"
	"  {\"Id\": \"1111aaaa\", \"Names\": [\"/p-web\"], \"Image\": \"sha256:ab\", \"Command\": \"/app/run \\\"x\\\"\",\n"
	"   \"Created\": 1795480936, \"Ports\": [{\"IP\": \"0.0.0.0\", \"PrivatePort\": 8080, \"PublicPort\": 20001,"
	"\"Type\": \"tcp\"}],\n"
	"   \"Labels\": {\"io.reconciler.spec\": \"env.A=1\\nimage=x\\n\", \"Id\": \"not-the-id\", \"q\": \"\\\\\"},\n"
	"   \"State\": \"running\", \"Status\": \"Up 2 minutes (healthy)\", \"HostConfig\": {\"NetworkMode\": \"default\"},\n"
	"   \"NetworkSettings\": {\"Networks\": {\"bridge\": {\"IPAMConfig\": null, \"Links\": null, \"Aliases\": [],"
	"\"NetworkID\": \"n1\", \"Id\": \"nested\", \"IPPrefixLen\": 16, \"GlobalIPv6PrefixLen\": -1.5e3}}},\n"
	"   \"Mounts\": [], \"Ok\": true, \"No\": false},\n"
	"  {\"Names\": [\"/p-db\"], \"Id\": \"2222bbbb\", \"Labels\": {}},\n"
	"  {\"Names\": [\"/no-id\"]},\n"
	"  {\"Id\": \"3333cccc\", \"Id\": \"second\"},\n"
	"  {\"Id\": 42}\n"
	"]\n";

static void same_as_the_decoder(void)
{
	char **ids = NULL;
	size_t n = 0;
	struct rc_err err = { 0 };
	struct dk_container_list *l = NULL;
	if (!ok(dk_decode_container_ids(engine_list, strlen(engine_list), &ids, &n, &err) == 0, "a list (%s)", err.msg))
		return;
	ok(dk_decode_container_list(engine_list, strlen(engine_list), &l, &err) == 0, "the decoder reads it too");
	is_int(n, 3, "three ids: one container has none, one a number");
	size_t k = 0;
	for (size_t i = 0; l && i < l->n; i++)
		if (l->items[i].id) {
			is_str(k < n ? ids[k] : NULL, l->items[i].id, "id %zu as the decoder reads it", k);
			k++;
		}
	is_int(k, n, "as many as the decoder has");
	ok(ids[n] == NULL, "NULL-terminated");
	is_str(ids[0], "1111aaaa", "the top-level Id, not a label's or a network's");
	is_str(ids[2], "3333cccc", "the first of two");
	dk_container_list_free(l);
	dk_ids_free(ids);
}

static void empty_and_bad(void)
{
	static const char *empty[] = { "[]", " [ ] \n", "[{}]", "[{\"Names\":[]}, {}]" };
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		char **ids = NULL;
		size_t n = 9;
		struct rc_err err = { 0 };
		ok(dk_decode_container_ids(empty[i], strlen(empty[i]), &ids, &n, &err) == 0 && n == 0 && ids && !ids[0],
		   "no ids in %s", empty[i]);
		dk_ids_free(ids);
	}
	static const char *bad[] = {
		"", "{}", "[", "[{]", "[{\"Id\":}]", "[1]", "[\"x\"]", "[{}]x", "[{},]", "[{\"Id\":\"a\",}]",
		"[{\"Id\":\"a\\u0062\"}]", "[{\"Id\":\"unterminated}]", "[{\"Id\" \"a\"}]", "[{Id:\"a\"}]",
		"[{\"a\":\"tab\there\"}]", "[{\"a\":[1,2}]", "[{\"a\":{\"b\":1]}]", "[{\"a\":}]", "[{\"a\":\"\\",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **ids = (char **)1;
		size_t n = 9;
		struct rc_err err = { 0 };
		ok(dk_decode_container_ids(bad[i], strlen(bad[i]), &ids, &n, &err) < 0 && ids == (char **)1 && n == 9 &&
			   strstr(err.msg, "JSON array of objects"),
		   "refused, ret_ids and ret_n untouched: %s", bad[i]);
	}
	/* nesting: 64 levels are skipped, more are refused (no unbounded recursion) */
	struct buf b = BUF_INIT;
	for (int depth = 62; depth <= 66; depth += 4) {
		buf_reset(&b);
		buf_adds(&b, "[{\"Id\":\"d\",\"a\":");
		for (int i = 0; i < depth; i++)
			buf_addc(&b, '[');
		for (int i = 0; i < depth; i++)
			buf_addc(&b, ']');
		buf_adds(&b, "}]");
		char **ids = NULL;
		size_t n = 0;
		struct rc_err err = { 0 };
		int r = dk_decode_container_ids(b.data, b.len, &ids, &n, &err);
		if (depth < 64)
			ok(r == 0 && n == 1, "%d levels of arrays inside: read", depth);
		else
			ok(r < 0, "%d levels of arrays inside: refused", depth);
		dk_ids_free(ids);
	}
	buf_release(&b);
}

/* pull: always — whether an image inspect's RepoDigests has the digest a registry gave for a
 * reference's repository (dk_image_has_digest()), and which digest it has there. */
static void repo_digests(void)
{
	static const char img_json[] =
		"{\"Id\": \"sha256:11\", \"RepoTags\": [\"127.0.0.1:5000/p/app:stable\"],"
		" \"RepoDigests\": [\"127.0.0.1:5000/p/app-other@sha256:aaaa\", \"127.0.0.1:5000/p/app@sha256:bbbb\","
		" \"127.0.0.1:5000/p/app@sha256:cccc\"], \"Config\": {}}";
	struct dk_image *img = NULL;
	struct rc_err err = { 0 };
	if (!ok(dk_decode_image(img_json, strlen(img_json), &img, &err) == 0, "an image inspect (%s)", err.msg))
		return;
	ok(img->nrepo_digests == 3, "three repo digests read");
	const char *local = NULL;
	ok(dk_image_has_digest(img, "127.0.0.1:5000/p/app:stable", "sha256:cccc", &local), "a digest it has");
	ok(str_eq(local, "sha256:bbbb"), "its repository's first digest is reported (%s)", local ? local : "NULL");
	ok(!dk_image_has_digest(img, "127.0.0.1:5000/p/app:stable", "sha256:dddd", NULL), "a digest it has not: moved");
	ok(!dk_image_has_digest(img, "127.0.0.1:5000/p/app:stable", "sha256:aaaa", NULL),
	   "another repository's digest (a longer name with the same start) does not count");
	local = "x";
	ok(!dk_image_has_digest(img, "app:1", "sha256:bbbb", &local) && !local, "another repository: no digest");
	dk_image_free(img);
}

int main(void)
{
	same_as_the_decoder();
	empty_and_bad();
	repo_digests();
	return done_testing();
}
