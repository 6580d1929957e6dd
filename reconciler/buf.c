/* buf.c — see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_detach(struct buf *b, size_t *ret_len)
{
	char *s = b->data ? b->data : xstrdup("");
	if (ret_len)
		*ret_len = b->len;
	buf_init(b, b->max);
	return s;
}

const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

static int grow(struct buf *b, size_t extra)
{
	if (b->max && (extra > b->max || b->len > b->max - extra))
		return -1;
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t c = b->cap ? b->cap : 64;
	while (c < b->len + extra + 1)
		c *= 2;
	b->data = xrealloc(b->data, c);
	b->cap = c;
	return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	if (grow(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

int buf_add_json_str(struct buf *b, const char *s)
{
	if (buf_addc(b, '"') < 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int r;
		switch (*p) {
		case '"': r = buf_adds(b, "\\\""); break;
		case '\\': r = buf_adds(b, "\\\\"); break;
		case '\n': r = buf_adds(b, "\\n"); break;
		case '\r': r = buf_adds(b, "\\r"); break;
		case '\t': r = buf_adds(b, "\\t"); break;
		default:
			if (*p < 0x20)
				r = buf_addf(b, "\\u%04x", *p);
			else
				r = buf_addc(b, (char)*p);
		}
		if (r < 0)
			return -1;
	}
	return buf_addc(b, '"');
}

int buf_add_json_str_or_null(struct buf *b, const char *s)
{
	return s ? buf_add_json_str(b, s) : buf_adds(b, "null");
}
