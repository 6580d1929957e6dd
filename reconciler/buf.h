/*
 * buf.h — growable byte buffer, always NUL-terminated, with an optional cap.
 *
 * Owns: its data.  struct buf b = BUF_INIT; ... buf_release(&b);
 *  - buf_init(b, max): max is the largest length allowed (0 = unlimited);
 *    appends that would pass it fail with -1 and leave the buffer unchanged.
 *  - buf_release() frees and re-initialises (keeps max); buf_reset() empties
 *    but keeps the memory; buf_detach() hands the string to the caller.
 *  - b.data is never NULL after the first append; use buf_cstr() otherwise.
 */
#ifndef RC_BUF_H
#define RC_BUF_H

#include "util.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};
#define BUF_INIT { NULL, 0, 0, 0 }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
char *buf_detach(struct buf *b, size_t *ret_len);
const char *buf_cstr(const struct buf *b);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) RC_PRINTF(2, 3);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal (with quotes and escapes). */
int buf_add_json_str(struct buf *b, const char *s);
/* The same, or null when s is NULL. */
int buf_add_json_str_or_null(struct buf *b, const char *s);
static inline void buf_cleanup(struct buf *b) { buf_release(b); }
#define _cleanup_buf_ _cleanup_(buf_cleanup)

#endif
