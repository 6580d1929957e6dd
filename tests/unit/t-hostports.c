/* Unit tests for hostports.c: the listening ports in /proc/net/tcp text. */
#include <stdlib.h>

#include "hostports.h"
#include "tap.h"

static const char tcp[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1131 1\n"
	"   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1132 1\n"
	"   2: 0100007F:A3C2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1133 1\n"
	"   3: garbage\n";
static const char tcp6[] =
	"  sl  local_address                         remote_address                        st tx_queue\n"
	"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000\n";

int main(void)
{
	uint16_t *v = NULL;
	size_t n = 0, cap = 0;
	hostports_parse(tcp, &v, &n, &cap);
	is_int(n, 2, "two listening sockets in the tcp text (an established one and garbage skipped)");
	is_int(n > 0 ? v[0] : 0, 2024, "0.0.0.0:07E8 is port 2024");
	is_int(n > 1 ? v[1] : 0, 8080, "127.0.0.1:1F90 is port 8080");
	hostports_parse(tcp6, &v, &n, &cap);
	is_int(n, 3, "tcp6 adds its listener");
	is_int(n > 2 ? v[2] : 0, 22, "[::]:0016 is port 22");
	hostports_parse("", &v, &n, &cap);
	is_int(n, 3, "empty text adds nothing");
	free(v);
	uint16_t *live = NULL;
	size_t nlive = 0;
	hostports_listening(&live, &nlive);
	int sorted = 1;
	for (size_t i = 1; i < nlive; i++)
		sorted &= live[i - 1] < live[i];
	ok(sorted, "this host's listening ports come sorted, without duplicates (%zu)", nlive);
	free(live);
	return done_testing();
}
