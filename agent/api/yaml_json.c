/* YAML (and JSON) documents to jansson trees, with go-yaml v2 scalar resolution as Kubernetes uses it. */
#include "yaml_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "macro.h"
#include "util.h"

/* Bounds the tree an input may build (aliases included): a guard against "billion laughs". */
#define YAML_MAX_NODES  (1u << 16)
#define YAML_MAX_DEPTH  200
#define YAML_MAX_ANCHOR 1024

struct anchor {
        char *name;
        json_t *value;
};

struct parser {
        yaml_parser_t p;
        struct anchor anchors[YAML_MAX_ANCHOR];
        size_t n_anchors;
        size_t nodes;
        char *err;
};

static void set_err(struct parser *ps, const yaml_mark_t *m, const char *fmt, ...) _printf_(3, 4);
static void set_err(struct parser *ps, const yaml_mark_t *m, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (ps->err)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                xmalloc_oom();
        va_end(ap);
        ps->err = strdup_printf("line %zu, column %zu: %s", m->line + 1, m->column + 1, msg);
}

static bool str_in(const char *s, const char *const *list)
{
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

static bool parse_int(const char *s, json_int_t *ret)
{
        const char *p = s;
        int base = 10;
        bool neg = false;
        char digits[64];
        size_t n = 0;

        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        if (!isdigit((unsigned char) *p))
                return false; /* "_1" stays a string */
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                base = 16, p += 2;
        else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
                base = 8, p += 2;
        else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
                base = 2, p += 2;
        else if (p[0] == '0' && p[1])
                base = 8, p += 1; /* YAML 1.1, as go-yaml v2: 0644 is octal */
        if (!*p)
                return false;
        for (; *p; p++) {
                if (*p == '_')
                        continue;
                if (n + 1 >= sizeof digits)
                        return false;
                digits[n++] = *p;
        }
        digits[n] = 0;
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                int c = (unsigned char) digits[i];
                int v = isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : 99;
                if (v >= base)
                        return false;
        }
        errno = 0;
        char *end;
        long long v = strtoll(digits, &end, base);
        if (errno || *end)
                return false;
        *ret = neg ? -v : v;
        return true;
}

static bool parse_float(const char *s, double *ret)
{
        static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
        static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
        static const char *const nan_[] = {".nan", ".NaN", ".NAN", NULL};
        const char *p = s;
        bool digit = false;

        /* jansson cannot hold inf/nan: reject them as numbers, they stay strings. */
        if (str_in(s, inf) || str_in(s, ninf) || str_in(s, nan_))
                return false;
        if (*p == '+' || *p == '-')
                p++;
        while (isdigit((unsigned char) *p))
                p++, digit = true;
        if (*p == '.')
                for (p++; isdigit((unsigned char) *p); p++)
                        digit = true;
        if (!digit)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '+' || *p == '-')
                        p++;
                if (!isdigit((unsigned char) *p))
                        return false;
                while (isdigit((unsigned char) *p))
                        p++;
        }
        if (*p)
                return false;
        *ret = strtod(s, NULL);
        return isfinite(*ret);
}

/* A plain scalar's type, as go-yaml v2 (and so sigs.k8s.io/yaml) resolves it. */
static json_t *resolve_plain(const char *s)
{
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
        static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                            "True", "TRUE", "on",  "On",  "ON",  NULL};
        static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                             "False", "FALSE", "off", "Off", "OFF", NULL};
        json_int_t i;
        double d;

        if (str_in(s, nulls))
                return json_null();
        if (str_in(s, trues))
                return json_true();
        if (str_in(s, falses))
                return json_false();
        if (parse_int(s, &i))
                return json_integer(i);
        if (parse_float(s, &d))
                return json_real(d);
        return json_string(s);
}

static json_t *scalar_value(struct parser *ps, const yaml_event_t *ev)
{
        const char *v = (const char *) ev->data.scalar.value;
        const char *tag = (const char *) ev->data.scalar.tag;
        json_t *j;

        if (strlen(v) != ev->data.scalar.length) {
                set_err(ps, &ev->start_mark, "NUL character in scalar");
                return NULL;
        }
        if (tag && !streq(tag, "!") && !streq(tag, "tag:yaml.org,2002:str") &&
            !str_has_prefix(tag, "tag:yaml.org,2002:")) {
                set_err(ps, &ev->start_mark, "unsupported tag %s", tag);
                return NULL;
        }
        if ((tag && (streq(tag, "tag:yaml.org,2002:str") || streq(tag, "!"))) ||
            ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                j = json_stringn(v, ev->data.scalar.length);
        else
                j = resolve_plain(v);
        if (!j)
                set_err(ps, &ev->start_mark, "invalid UTF-8 in scalar");
        return j;
}

static int add_anchor(struct parser *ps, const yaml_event_t *ev, const unsigned char *anchor, json_t *v)
{
        if (!anchor)
                return 0;
        if (ps->n_anchors >= YAML_MAX_ANCHOR) {
                set_err(ps, &ev->start_mark, "too many anchors (at most %d)", YAML_MAX_ANCHOR);
                return -EINVAL;
        }
        ps->anchors[ps->n_anchors].name = xstrdup((const char *) anchor);
        ps->anchors[ps->n_anchors].value = json_incref(v);
        ps->n_anchors++;
        return 0;
}

static size_t count_nodes(json_t *v)
{
        size_t n = 1;
        const char *k;
        json_t *c;
        size_t i;

        if (json_is_object(v))
                json_object_foreach(v, k, c) n += count_nodes(c);
        else if (json_is_array(v))
                json_array_foreach(v, i, c) n += count_nodes(c);
        return n;
}

/* Reads one node whose first event is ev (consumed by the caller). Returns a new reference. */
static json_t *parse_node(struct parser *ps, yaml_event_t *ev, int depth);

static int next_event(struct parser *ps, yaml_event_t *ev)
{
        if (!yaml_parser_parse(&ps->p, ev)) {
                set_err(ps, &ps->p.problem_mark, "%s%s%s", ps->p.problem ? ps->p.problem : "syntax error",
                        ps->p.context ? " " : "", ps->p.context ? ps->p.context : "");
                return -EINVAL;
        }
        return 0;
}

static json_t *parse_mapping(struct parser *ps, int depth)
{
        json_t *obj = json_object();
        for (;;) {
                yaml_event_t kev, vev;
                if (next_event(ps, &kev) < 0)
                        goto fail;
                if (kev.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&kev);
                        return obj;
                }
                json_t *key = parse_node(ps, &kev, depth + 1);
                yaml_mark_t kmark = kev.start_mark;
                yaml_event_delete(&kev);
                if (!key)
                        goto fail;
                _cleanup_free_ char *ks = NULL;
                if (json_is_string(key))
                        ks = xstrdup(json_string_value(key));
                else if (json_is_integer(key))
                        ks = strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(key));
                else if (json_is_boolean(key))
                        ks = xstrdup(json_is_true(key) ? "true" : "false");
                else if (json_is_null(key))
                        ks = xstrdup("null");
                json_decref(key);
                if (!ks) {
                        set_err(ps, &kmark, "mapping key must be a scalar");
                        goto fail;
                }
                if (json_object_get(obj, ks)) {
                        set_err(ps, &kmark, "duplicate key \"%s\"", ks);
                        goto fail;
                }
                if (next_event(ps, &vev) < 0)
                        goto fail;
                json_t *val = parse_node(ps, &vev, depth + 1);
                yaml_event_delete(&vev);
                if (!val)
                        goto fail;
                json_object_set_new(obj, ks, val);
        }
fail:
        json_decref(obj);
        return NULL;
}

static json_t *parse_sequence(struct parser *ps, int depth)
{
        json_t *arr = json_array();
        for (;;) {
                yaml_event_t ev;
                if (next_event(ps, &ev) < 0)
                        goto fail;
                if (ev.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&ev);
                        return arr;
                }
                json_t *val = parse_node(ps, &ev, depth + 1);
                yaml_event_delete(&ev);
                if (!val)
                        goto fail;
                json_array_append_new(arr, val);
        }
fail:
        json_decref(arr);
        return NULL;
}

static json_t *parse_node(struct parser *ps, yaml_event_t *ev, int depth)
{
        json_t *v = NULL;

        if (depth > YAML_MAX_DEPTH) {
                set_err(ps, &ev->start_mark, "nesting deeper than %d levels", YAML_MAX_DEPTH);
                return NULL;
        }
        if (++ps->nodes > YAML_MAX_NODES) {
                set_err(ps, &ev->start_mark, "document too large (more than %u nodes)", YAML_MAX_NODES);
                return NULL;
        }
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                v = scalar_value(ps, ev);
                if (v && add_anchor(ps, ev, ev->data.scalar.anchor, v) < 0)
                        goto fail;
                return v;
        case YAML_MAPPING_START_EVENT: {
                const unsigned char *anchor = ev->data.mapping_start.anchor;
                yaml_mark_t mark = ev->start_mark;
                v = parse_mapping(ps, depth);
                if (v && anchor) {
                        yaml_event_t fake = {.start_mark = mark};
                        if (add_anchor(ps, &fake, anchor, v) < 0)
                                goto fail;
                }
                return v;
        }
        case YAML_SEQUENCE_START_EVENT: {
                const unsigned char *anchor = ev->data.sequence_start.anchor;
                yaml_mark_t mark = ev->start_mark;
                v = parse_sequence(ps, depth);
                if (v && anchor) {
                        yaml_event_t fake = {.start_mark = mark};
                        if (add_anchor(ps, &fake, anchor, v) < 0)
                                goto fail;
                }
                return v;
        }
        case YAML_ALIAS_EVENT: {
                const char *name = (const char *) ev->data.alias.anchor;
                for (size_t i = ps->n_anchors; i-- > 0;) {
                        if (!streq(ps->anchors[i].name, name))
                                continue;
                        /* Copy, so that defaulting one use never changes the other. */
                        size_t n = count_nodes(ps->anchors[i].value);
                        ps->nodes += n;
                        if (ps->nodes > YAML_MAX_NODES) {
                                set_err(ps, &ev->start_mark,
                                        "document too large (more than %u nodes after aliases)",
                                        YAML_MAX_NODES);
                                return NULL;
                        }
                        return json_deep_copy(ps->anchors[i].value);
                }
                set_err(ps, &ev->start_mark, "unknown alias *%s", name);
                return NULL;
        }
        default:
                set_err(ps, &ev->start_mark, "unexpected YAML event");
                return NULL;
        }
fail:
        json_decref(v);
        return NULL;
}

static void clear_anchors(struct parser *ps)
{
        for (size_t i = 0; i < ps->n_anchors; i++) {
                free(ps->anchors[i].name);
                json_decref(ps->anchors[i].value);
        }
        ps->n_anchors = 0;
}

void yaml_docs_free(struct yaml_doc *docs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                json_decref(docs[i].value);
        free(docs);
}

static int parse_json(const char *buf, size_t len, struct yaml_doc **ret_docs, size_t *ret_n, char **ret_err)
{
        json_error_t jerr;
        json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!v) {
                *ret_err = strdup_printf("line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
                return -EINVAL;
        }
        struct yaml_doc *docs = OOM_CHECK(calloc(1, sizeof *docs));
        docs[0] = (struct yaml_doc){.value = v, .line = 1};
        *ret_docs = docs;
        *ret_n = 1;
        return 0;
}

static int yaml_parse_docs_yaml(const char *buf, size_t len, struct yaml_doc **ret_docs, size_t *ret_n,
                                char **ret_err);

int yaml_parse_docs(const char *buf, size_t len, struct yaml_doc **ret_docs, size_t *ret_n, char **ret_err)
{
        size_t i = 0;

        while (i < len && isspace((unsigned char) buf[i]))
                i++;
        if (i < len && (buf[i] == '{' || buf[i] == '[')) {
                /* JSON first (exact errors); YAML flow style or JSON split by "---" is YAML's job. */
                _cleanup_free_ char *jerr = NULL;
                if (parse_json(buf, len, ret_docs, ret_n, &jerr) == 0)
                        return 0;
                int r = yaml_parse_docs_yaml(buf, len, ret_docs, ret_n, ret_err);
                if (r < 0) {
                        free(*ret_err);
                        *ret_err = TAKE_PTR(jerr);
                }
                return r;
        }
        return yaml_parse_docs_yaml(buf, len, ret_docs, ret_n, ret_err);
}

static int yaml_parse_docs_yaml(const char *buf, size_t len, struct yaml_doc **ret_docs, size_t *ret_n,
                                char **ret_err)
{
        struct parser *ps;
        struct yaml_doc *docs = NULL;
        size_t n = 0;
        int r = 0;

        ps = OOM_CHECK(calloc(1, sizeof *ps));
        if (!yaml_parser_initialize(&ps->p))
                xmalloc_oom();
        yaml_parser_set_input_string(&ps->p, (const unsigned char *) buf, len);

        for (bool done = false; !done;) {
                yaml_event_t ev;
                if (next_event(ps, &ev) < 0) {
                        r = -EINVAL;
                        break;
                }
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT: {
                        int line = (int) ev.start_mark.line + 1;
                        yaml_event_t root;
                        if (next_event(ps, &root) < 0) {
                                r = -EINVAL;
                                done = true;
                                break;
                        }
                        json_t *v = NULL;
                        if (root.type != YAML_DOCUMENT_END_EVENT) {
                                v = parse_node(ps, &root, 0);
                                yaml_event_delete(&root);
                                if (!v) {
                                        r = -EINVAL;
                                        done = true;
                                        break;
                                }
                                yaml_event_t end;
                                if (next_event(ps, &end) < 0) {
                                        json_decref(v);
                                        r = -EINVAL;
                                        done = true;
                                        break;
                                }
                                yaml_event_delete(&end);
                        } else
                                yaml_event_delete(&root);
                        clear_anchors(ps); /* anchors do not cross documents */
                        if (v && !json_is_null(v)) {
                                docs = OOM_CHECK(realloc(docs, (n + 1) * sizeof *docs));
                                docs[n++] = (struct yaml_doc){.value = v, .line = line};
                        } else
                                json_decref(v);
                        break;
                }
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }

        if (r < 0) {
                *ret_err = ps->err ? TAKE_PTR(ps->err) : xstrdup("invalid YAML");
                yaml_docs_free(docs, n);
        } else {
                *ret_docs = docs;
                *ret_n = n;
        }
        clear_anchors(ps);
        free(ps->err);
        yaml_parser_delete(&ps->p);
        free(ps);
        return r;
}
