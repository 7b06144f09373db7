/* HPACK (RFC 7541): the decoder, its dynamic table and Huffman code, and literal fields for the encoder. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hpack.h"
#include "macro.h"

struct hpack_field {
        char *name, *value;
        size_t name_len, value_len;
};

/* Appendix A. */
static const struct {
        const char *name, *value;
} static_table[] = {
        {":authority", ""},
        {":method", "GET"},
        {":method", "POST"},
        {":path", "/"},
        {":path", "/index.html"},
        {":scheme", "http"},
        {":scheme", "https"},
        {":status", "200"},
        {":status", "204"},
        {":status", "206"},
        {":status", "304"},
        {":status", "400"},
        {":status", "404"},
        {":status", "500"},
        {"accept-charset", ""},
        {"accept-encoding", "gzip, deflate"},
        {"accept-language", ""},
        {"accept-ranges", ""},
        {"accept", ""},
        {"access-control-allow-origin", ""},
        {"age", ""},
        {"allow", ""},
        {"authorization", ""},
        {"cache-control", ""},
        {"content-disposition", ""},
        {"content-encoding", ""},
        {"content-language", ""},
        {"content-length", ""},
        {"content-location", ""},
        {"content-range", ""},
        {"content-type", ""},
        {"cookie", ""},
        {"date", ""},
        {"etag", ""},
        {"expect", ""},
        {"expires", ""},
        {"from", ""},
        {"host", ""},
        {"if-match", ""},
        {"if-modified-since", ""},
        {"if-none-match", ""},
        {"if-range", ""},
        {"if-unmodified-since", ""},
        {"last-modified", ""},
        {"link", ""},
        {"location", ""},
        {"max-forwards", ""},
        {"proxy-authenticate", ""},
        {"proxy-authorization", ""},
        {"range", ""},
        {"referer", ""},
        {"refresh", ""},
        {"retry-after", ""},
        {"server", ""},
        {"set-cookie", ""},
        {"strict-transport-security", ""},
        {"transfer-encoding", ""},
        {"user-agent", ""},
        {"vary", ""},
        {"via", ""},
        {"www-authenticate", ""},
};
#define STATIC_COUNT ELEMENTSOF(static_table)

/* Appendix B, as the code's length in bits for each symbol (256: EOS). The code is canonical: sorted by
 * length, then by symbol, each code is the one before plus one, shifted left by the growth in length;
 * the table is built from that at first use (the tests check it against the appendix's codes). */
static const uint8_t huff_len[257] = {
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
        28, 28, 28, 28, 28, 28, 28, 28, 6,  10, 10, 12, 13, 6,  8,  11, 10, 10, 8,  11, 8,  6,  6,  6,
        5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8,  15, 6,  12, 10, 13, 6,  7,  7,  7,  7,  7,  7,
        7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8,  13, 19, 13, 14, 6,
        15, 5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,  6,  7,  6,  5,  5,  6,  7,  7,
        7,  7,  7,  15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21,
        23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24,
        21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
};
#define HUFF_MAX_LEN 30
#define HUFF_EOS     256

static struct {
        uint32_t code[257];                /* each symbol's code, in its low huff_len bits */
        uint32_t first[HUFF_MAX_LEN + 2];  /* the first code of each length */
        uint16_t count[HUFF_MAX_LEN + 2];  /* how many codes have that length */
        uint16_t offset[HUFF_MAX_LEN + 2]; /* where that length's symbols start in sym[] */
        uint16_t sym[257];                 /* the symbols sorted by (length, symbol) */
} huff;
static pthread_once_t huff_once = PTHREAD_ONCE_INIT;

static void huff_build(void)
{
        size_t n = 0;
        for (unsigned len = 1; len <= HUFF_MAX_LEN; len++) {
                huff.offset[len] = (uint16_t) n;
                for (unsigned s = 0; s < 257; s++)
                        if (huff_len[s] == len)
                                huff.sym[n++] = (uint16_t) s;
                huff.count[len] = (uint16_t) (n - huff.offset[len]);
        }
        uint32_t code = 0;
        for (unsigned len = 1; len <= HUFF_MAX_LEN; len++) {
                huff.first[len] = code;
                for (unsigned i = 0; i < huff.count[len]; i++)
                        huff.code[huff.sym[huff.offset[len] + i]] = code++;
                code <<= 1;
        }
}

long hpack_huffman_decode(const uint8_t *in, size_t len, char *out, size_t cap)
{
        uint32_t code = 0;
        unsigned bits = 0;
        size_t n = 0;

        pthread_once(&huff_once, huff_build);
        for (size_t i = 0; i < len; i++)
                for (int b = 7; b >= 0; b--) {
                        code = code << 1 | ((in[i] >> b) & 1);
                        bits++;
                        if (code - huff.first[bits] < huff.count[bits]) {
                                unsigned s = huff.sym[huff.offset[bits] + code - huff.first[bits]];
                                if (s == HUFF_EOS)
                                        return -EBADMSG; /* 5.2: EOS in a string is an error */
                                if (n >= cap)
                                        return -E2BIG;
                                out[n++] = (char) s;
                                code = 0;
                                bits = 0;
                        } else if (bits >= HUFF_MAX_LEN)
                                return -EBADMSG;
                }
        /* 5.2: what is left is padding, the most significant bits of EOS (all ones), shorter than 8. */
        if (bits > 7 || code != (UINT32_C(1) << bits) - 1)
                return -EBADMSG;
        return (long) n;
}

long hpack_huffman_encode(const char *in, size_t len, uint8_t *out, size_t cap)
{
        uint64_t acc = 0;
        unsigned bits = 0;
        size_t n = 0;

        pthread_once(&huff_once, huff_build);
        for (size_t i = 0; i < len; i++) {
                uint8_t s = (uint8_t) in[i];
                acc = acc << huff_len[s] | huff.code[s];
                bits += huff_len[s];
                while (bits >= 8) {
                        if (n >= cap)
                                return -E2BIG;
                        bits -= 8;
                        out[n++] = (uint8_t) (acc >> bits);
                }
        }
        if (bits > 0) {
                if (n >= cap)
                        return -E2BIG;
                out[n++] = (uint8_t) (acc << (8 - bits) | ((1u << (8 - bits)) - 1));
        }
        return (long) n;
}

/* ---- the dynamic table (2.3.2, 4) ------------------------------------------------------------------ */

static size_t field_size(const struct hpack_field *f)
{
        return f->name_len + f->value_len + 32;
}

static void evict_oldest(struct hpack_decoder *d)
{
        struct hpack_field *f = &d->ring[(d->head + d->count - 1) % d->cap];
        d->size -= field_size(f);
        free(f->name);
        free(f->value);
        *f = (struct hpack_field){0};
        d->count--;
}

static void evict_to(struct hpack_decoder *d, size_t max)
{
        while (d->count > 0 && d->size > max)
                evict_oldest(d);
}

/* 4.4: an entry larger than the table empties it and is not added. */
static void table_add(struct hpack_decoder *d, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
        size_t need = name_len + value_len + 32;
        if (need > d->max_size) {
                evict_to(d, 0);
                return;
        }
        evict_to(d, d->max_size - need);
        if (d->count == d->cap) {
                /* Entries are at least 32 octets: a table of limit octets never holds more than limit / 32. */
                size_t cap = d->cap ? d->cap * 2 : 16;
                struct hpack_field *ring = OOM_CHECK(calloc(cap, sizeof *ring));
                for (size_t i = 0; i < d->count; i++)
                        ring[i] = d->ring[(d->head + i) % d->cap];
                free(d->ring);
                d->ring = ring;
                d->cap = cap;
                d->head = 0;
        }
        d->head = (d->head + d->cap - 1) % d->cap;
        struct hpack_field *f = &d->ring[d->head];
        f->name = OOM_CHECK(malloc(name_len + 1));
        memcpy(f->name, name, name_len);
        f->name[name_len] = 0;
        f->value = OOM_CHECK(malloc(value_len + 1));
        memcpy(f->value, value, value_len);
        f->value[value_len] = 0;
        f->name_len = name_len;
        f->value_len = value_len;
        d->size += need;
        d->count++;
}

void hpack_decoder_init(struct hpack_decoder *d, size_t limit)
{
        *d = (struct hpack_decoder){.limit = limit, .max_size = limit};
}

void hpack_decoder_free(struct hpack_decoder *d)
{
        evict_to(d, 0);
        free(d->ring);
        *d = (struct hpack_decoder){0};
}

/* Index 1..61: the static table; 62..: the dynamic one, newest first (2.3.3). */
static int lookup(const struct hpack_decoder *d, uint64_t index, const char **name, size_t *name_len,
                  const char **value, size_t *value_len)
{
        if (index == 0)
                return -EBADMSG;
        if (index <= STATIC_COUNT) {
                *name = static_table[index - 1].name;
                *name_len = strlen(*name);
                *value = static_table[index - 1].value;
                *value_len = strlen(*value);
                return 0;
        }
        index -= STATIC_COUNT + 1;
        if (index >= d->count)
                return -EBADMSG;
        const struct hpack_field *f = &d->ring[(d->head + index) % d->cap];
        *name = f->name;
        *name_len = f->name_len;
        *value = f->value;
        *value_len = f->value_len;
        return 0;
}

/* ---- primitives (5) ------------------------------------------------------------------------------- */

struct reader {
        const uint8_t *p, *end;
};

/* 5.1; values past 2^32 are refused (no length or index here comes near). */
static int get_int(struct reader *r, unsigned prefix_bits, uint64_t *ret)
{
        if (r->p >= r->end)
                return -EBADMSG;
        uint64_t mask = (UINT64_C(1) << prefix_bits) - 1, v = *r->p++ & mask;
        if (v < mask) {
                *ret = v;
                return 0;
        }
        for (unsigned shift = 0;; shift += 7) {
                if (r->p >= r->end || shift > 28)
                        return -EBADMSG;
                uint8_t b = *r->p++;
                v += (uint64_t) (b & 0x7f) << shift;
                if (!(b & 0x80))
                        break;
        }
        if (v > UINT32_MAX)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* 5.2: a string literal, decoded into *buf (grown as needed, NUL-terminated); at most max octets. */
static int get_string(struct reader *r, size_t max, char **buf, size_t *cap, size_t *ret_len)
{
        if (r->p >= r->end)
                return -EBADMSG;
        bool huffman = *r->p & 0x80;
        uint64_t len;
        int k = get_int(r, 7, &len);
        if (k < 0)
                return k;
        if (len > (uint64_t) (r->end - r->p))
                return -EBADMSG;
        /* Huffman codes are at least 5 bits: len octets decode to at most len * 8 / 5 symbols. */
        size_t need = huffman ? (size_t) len * 8 / 5 + 1 : (size_t) len + 1;
        if (need > max + 1)
                need = max + 1;
        if (*cap < need) {
                free(*buf);
                *buf = OOM_CHECK(malloc(need));
                *cap = need;
        }
        long n;
        if (huffman) {
                n = hpack_huffman_decode(r->p, (size_t) len, *buf, need - 1);
                if (n < 0)
                        return (int) n;
        } else {
                if (len > max)
                        return -E2BIG;
                memcpy(*buf, r->p, (size_t) len);
                n = (long) len;
        }
        (*buf)[n] = 0;
        r->p += len;
        *ret_len = (size_t) n;
        return 0;
}

int hpack_decode(struct hpack_decoder *d, const uint8_t *block, size_t len, size_t max_field,
                 hpack_field_fn fn, void *userdata)
{
        struct reader r = {.p = block, .end = block + len};
        _cleanup_free_ char *nbuf = NULL, *vbuf = NULL;
        size_t ncap = 0, vcap = 0;
        bool fields = false;
        int k;

        while (r.p < r.end) {
                uint8_t b = *r.p;
                uint64_t index;
                const char *name, *value;
                size_t name_len, value_len;

                if (b & 0x80) { /* 6.1: indexed */
                        if ((k = get_int(&r, 7, &index)) < 0 ||
                            (k = lookup(d, index, &name, &name_len, &value, &value_len)) < 0)
                                return k;
                } else if ((b & 0xe0) == 0x20) { /* 6.3: dynamic table size update */
                        uint64_t size;
                        if ((k = get_int(&r, 5, &size)) < 0)
                                return k;
                        /* 4.2: only at the start of a block, never past what we advertised. */
                        if (fields || size > d->limit)
                                return -EBADMSG;
                        d->max_size = (size_t) size;
                        evict_to(d, d->max_size);
                        continue;
                } else { /* 6.2: literals, with incremental indexing (01), without (0000) or never (0001) */
                        bool indexing = (b & 0xc0) == 0x40;
                        if ((k = get_int(&r, indexing ? 6 : 4, &index)) < 0)
                                return k;
                        if (index > 0) {
                                const char *v_unused;
                                size_t vl_unused;
                                if ((k = lookup(d, index, &name, &name_len, &v_unused, &vl_unused)) < 0)
                                        return k;
                                /* The name may live in the table this field is about to change. */
                                if (ncap < name_len + 1) {
                                        free(nbuf);
                                        nbuf = OOM_CHECK(malloc(name_len + 1));
                                        ncap = name_len + 1;
                                }
                                memcpy(nbuf, name, name_len);
                                nbuf[name_len] = 0;
                        } else if ((k = get_string(&r, max_field, &nbuf, &ncap, &name_len)) < 0)
                                return k;
                        if ((k = get_string(&r, max_field, &vbuf, &vcap, &value_len)) < 0)
                                return k;
                        name = nbuf;
                        value = vbuf;
                        if (indexing)
                                table_add(d, name, name_len, value, value_len);
                }
                fields = true;
                if (name_len + value_len > max_field)
                        return -E2BIG;
                if ((k = fn(userdata, name, name_len, value, value_len)) < 0)
                        return k;
        }
        return 0;
}

bool hpack_put_int(uint8_t *out, size_t cap, size_t *pos, uint8_t first, unsigned prefix_bits, uint64_t v)
{
        uint64_t mask = (UINT64_C(1) << prefix_bits) - 1;
        size_t p = *pos;
        if (p >= cap)
                return false;
        if (v < mask) {
                out[p++] = (uint8_t) (first | v);
                *pos = p;
                return true;
        }
        out[p++] = (uint8_t) (first | mask);
        v -= mask;
        while (v >= 0x80) {
                if (p >= cap)
                        return false;
                out[p++] = (uint8_t) (0x80 | (v & 0x7f));
                v >>= 7;
        }
        if (p >= cap)
                return false;
        out[p++] = (uint8_t) v;
        *pos = p;
        return true;
}

static bool put_string(uint8_t *out, size_t cap, size_t *pos, const char *s)
{
        size_t n = strlen(s);
        if (!hpack_put_int(out, cap, pos, 0x00, 7, n) || cap - *pos < n)
                return false;
        memcpy(out + *pos, s, n);
        *pos += n;
        return true;
}

bool hpack_put_literal(uint8_t *out, size_t cap, size_t *pos, const char *name, const char *value)
{
        size_t p = *pos;
        if (p >= cap)
                return false;
        out[p++] = 0x00; /* 6.2.2, new name */
        if (!put_string(out, cap, &p, name) || !put_string(out, cap, &p, value))
                return false;
        *pos = p;
        return true;
}
