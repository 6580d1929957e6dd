/*
 * manifest_yaml.c — pass 1: libyaml's events → a tree of ynodes that remember
 * file:line:col.  The only user of libyaml (yaml.h stays in this file).
 * Aliases, tags outside the YAML core schema, duplicate keys and the input
 * limits (documents per file, depth, value length) are checked here.
 */
#include "manifest_int.h"

#include <string.h>
#include <yaml.h>

#include "strmap.h"
#include "util.h"

void mf_ynode_free(struct ynode *y)
{
	if (!y)
		return;
	for (size_t i = 0; i < y->n; i++)
		mf_ynode_free(y->kids[i]);
	free(y->kids);
	free(y->str);
	free(y);
}

/* ------------------------------------------------------------------ */
/* pass 1: events → tree                                               */

/* A finished mapping: keys must be scalars and unique; offending pairs are dropped.
 * Each duplicate is reported at itself, naming the first occurrence (a hash
 * set of the keys seen: linear in the number of pairs). */
static void finish_map(struct ctx *c, struct ynode *m)
{
	size_t np = m->n / 2, w = 0;
	_cleanup_(strmap_freep) struct strmap *seen = np > 1 ? strmap_new() : NULL;
	for (size_t i = 0; i < np; i++) {
		struct ynode *k = m->kids[2 * i];
		bool drop = false;
		if (k->kind != Y_SCALAR) {
			mf_diag(c, k, "mapping keys must be plain strings");
			drop = true;
		} else if (seen) {
			const struct ynode *first = strmap_add(seen, k->str, k);
			if (first) {
				mf_diag(c, k, "duplicate key '%s' (first at line %d)", mf_shown(c, k->str), first->line);
				drop = true;
			}
		}
		if (drop) {
			mf_ynode_free(m->kids[2 * i]);
			mf_ynode_free(m->kids[2 * i + 1]);
			continue;
		}
		m->kids[w++] = m->kids[2 * i];
		m->kids[w++] = m->kids[2 * i + 1];
	}
	m->n = w;
}

static struct ynode *new_node(enum ykind kind, const char *file, const yaml_mark_t *mark)
{
	struct ynode *y = xcalloc(1, sizeof(*y));
	y->kind = kind;
	y->file = file;
	y->line = (int)mark->line + 1;
	y->col = (int)mark->column + 1;
	return y;
}

/*
 * The 1-based line and column of byte off of data, counted as libyaml counts
 * its marks (a column is a character): libyaml's reader errors carry only
 * the offset.
 */
static void offset_position(const char *data, size_t len, size_t off, int *ret_line, int *ret_col)
{
	int line = 1, col = 1;
	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == '\n' || (ch == '\r' && (i + 1 >= len || data[i + 1] != '\n'))) {
			line++;
			col = 1;
		} else if ((ch & 0xc0) != 0x80 && ch != '\r') {
			col++;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

#define YAML_CORE_TAG "tag:yaml.org,2002:"

/* The core schema's kinds of scalar a tag may give (YAML 1.2 core: null, bool, int, float, str). */
static bool tagged_value_ok(const char *type, const char *v)
{
	if (strcmp(type, "str") == 0)
		return true;
	if (strcmp(type, "null") == 0)
		return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
	if (strcmp(type, "bool") == 0)
		return !strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE") || !strcmp(v, "false") ||
		       !strcmp(v, "False") || !strcmp(v, "FALSE");
	const char *p = v + (*v == '-' || *v == '+');
	size_t nd = strspn(p, "0123456789");
	if (strcmp(type, "int") == 0)
		return nd > 0 && !p[nd];
	if (strcmp(type, "float") == 0) {
		if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF") || !strcmp(v, ".nan") ||
		    !strcmp(v, ".NaN") || !strcmp(v, ".NAN"))
			return true;
		p += nd;
		size_t nf = 0;
		if (*p == '.')
			nf = strspn(++p, "0123456789");
		if (nd + nf == 0)
			return false;
		p += nf;
		if (*p == 'e' || *p == 'E') {
			p++;
			p += *p == '-' || *p == '+';
			size_t ne = strspn(p, "0123456789");
			if (!ne)
				return false;
			p += ne;
		}
		return !*p;
	}
	return false;
}

/*
 * A node's explicit tag: only the core schema's (!!str, !!int, !!float,
 * !!bool, !!null on scalars, !!map on mappings, !!seq on sequences) are
 * accepted; every other one (!!binary, !!timestamp, !local, "!") would be
 * ignored, so it is an error.  A scalar's value must be one of its tag's
 * (`!!int abc` is not an int).  Returns "str" for a !!str scalar (which
 * then is text, not a bool or null, whatever it says), else NULL.
 */
static const char *check_tag(struct ctx *c, const char *file, const yaml_event_t *ev, const char *tag,
			     enum ykind kind, const char *value)
{
	static const char *const scalar_types[] = { "str", "int", "float", "bool", "null" };
	if (!tag)
		return NULL;
	int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
	const char *type = str_startswith(tag, YAML_CORE_TAG) ? tag + strlen(YAML_CORE_TAG) : NULL;
	bool known = false;
	for (size_t i = 0; type && i < ARRAY_SIZE(scalar_types); i++)
		known = known || strcmp(type, scalar_types[i]) == 0;
	known = known || (type && (strcmp(type, "map") == 0 || strcmp(type, "seq") == 0));
	const char *written = type ? mf_keep(c, xasprintf("!!%s", mf_shown(c, type))) : mf_shown(c, tag);
	if (!known) {
		rc_diags_add(c->d, file, line, col,
			     "YAML tag '%s' is not supported: only the core schema's !!str, !!int, !!float, !!bool, !!null, !!map and !!seq",
			     written);
		return NULL;
	}
	const char *want = strcmp(type, "map") == 0 ? "map" : strcmp(type, "seq") == 0 ? "seq" : "scalar";
	const char *is = kind == Y_MAP ? "map" : kind == Y_SEQ ? "seq" : "scalar";
	if (strcmp(want, is) != 0) {
		rc_diags_add(c->d, file, line, col, "YAML tag '%s' is on a %s", written,
			     kind == Y_MAP ? "mapping" : kind == Y_SEQ ? "sequence" : "scalar");
		return NULL;
	}
	if (kind == Y_SCALAR && !tagged_value_ok(type, value)) {
		rc_diags_add(c->d, file, line, col, "'%s' is not a value of YAML tag '%s'", mf_shown(c, value), written);
		return NULL;
	}
	return kind == Y_SCALAR && strcmp(type, "str") == 0 ? "str" : NULL;
}

/* A syntax error of libyaml's, at its position (a reader error counted out from its offset). */
static void syntax_error(struct ctx *c, const char *file, const struct source_file *f, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
	if (p->error == YAML_READER_ERROR) {
		/* reader errors carry an offset, not a position: count it out */
		offset_position(f->data, f->len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			problem = mf_keep(c, xasprintf("%s (%s 0x%x)", problem,
						    strstr(problem, "octet") ? "byte" : "character",
						    (unsigned)p->problem_value));
	}
	if (p->context)
		rc_diags_add(c->d, file, line, col, "syntax error: %s %s at line %d", problem,
			     p->context, (int)p->context_mark.line + 1);
	else
		rc_diags_add(c->d, file, line, col, "syntax error: %s", problem);
	c->broken = true;
}

/* The node of a scalar event; NULL (said, and c->broken) for one too long or holding a NUL. */
static struct ynode *scalar_node(struct ctx *c, const char *file, const yaml_event_t *ev)
{
	if (ev->data.scalar.length > RC_MANIFEST_MAX_STRING) {
		rc_diags_add(c->d, file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			     "value longer than %d bytes", RC_MANIFEST_MAX_STRING);
		c->broken = true;
		return NULL;
	}
	struct ynode *y = new_node(Y_SCALAR, file, &ev->start_mark);
	y->str = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
	y->len = ev->data.scalar.length;
	if (strlen(y->str) != y->len) {
		rc_diags_add(c->d, file, y->line, y->col, "NUL byte in a value");
		c->broken = true;
		mf_ynode_free(y);
		return NULL;
	}
	y->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (check_tag(c, file, ev, (const char *)ev->data.scalar.tag, Y_SCALAR, y->str))
		y->plain = false;   /* !!str: text, never true/false or null */
	return y;
}

/* Hang a new node under the open collection (or make it the document's root); a collection is
 * opened in turn. */
static void attach(struct ynode **stack, int *depth, struct ynode **root, struct ynode *y)
{
	if (*depth == 0) {
		mf_ynode_free(*root);
		*root = y;
	} else {
		struct ynode *parent = stack[*depth - 1];
		GROW(parent->kids, parent->n + 1, parent->cap);
		parent->kids[parent->n++] = y;
	}
	if (y->kind != Y_SCALAR)
		stack[(*depth)++] = y;
}

void mf_parse_file(struct ctx *c, const struct source_file *f)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *stack[RC_MANIFEST_MAX_DEPTH + 1];
	int depth = 0;
	struct ynode *root = NULL;
	size_t ndocs = 0;
	bool done = false;
	/* file names come from the repository: shown escaped in every message */
	const char *file = str_needs_escape(f->path) ? mf_keep(c, str_shown(f->path)) : f->path;

	if (!yaml_parser_initialize(&p))
		die("out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)f->data, f->len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(c, file, f, &p);
			break;
		}
		struct ynode *y = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > RC_MANIFEST_MAX_DOCS) {
				rc_diags_add(c->d, file, (int)ev.start_mark.line + 1,
					     (int)ev.start_mark.column + 1,
					     "more than %d documents in one file", RC_MANIFEST_MAX_DOCS);
				c->broken = true;
				done = true;
			}
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (root) {
				GROW(c->docs, c->ndocs + 1, c->capdocs);
				c->docs[c->ndocs++].root = root;
				root = NULL;
			}
			depth = 0;
			break;
		case YAML_ALIAS_EVENT:
			rc_diags_add(c->d, file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "YAML aliases ('*%s') are not supported: write the value out",
				     mf_shown(c, (const char *)ev.data.alias.anchor));
			c->broken = true;
			done = true;
			break;
		case YAML_SCALAR_EVENT:
			if (!(y = scalar_node(c, file, &ev)))
				done = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth >= RC_MANIFEST_MAX_DEPTH) {
				rc_diags_add(c->d, file, (int)ev.start_mark.line + 1,
					     (int)ev.start_mark.column + 1, "nested deeper than %d levels",
					     RC_MANIFEST_MAX_DEPTH);
				c->broken = true;
				done = true;
				break;
			}
			y = new_node(ev.type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ, file,
				     &ev.start_mark);
			check_tag(c, file, &ev,
				  (const char *)(ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.tag
										: ev.data.sequence_start.tag),
				  y->kind, NULL);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0) {
				depth--;
				if (stack[depth]->kind == Y_MAP)
					finish_map(c, stack[depth]);
			}
			break;
		default:
			break;
		}
		if (y)
			attach(stack, &depth, &root, y);
		yaml_event_delete(&ev);
	}
	mf_ynode_free(root);
	yaml_parser_delete(&p);
}
