/* libFuzzer target for HPACK (cri/hpack.c): header blocks a server sends, decoded in turn by one decoder
 * (its dynamic table carried from block to block, as on a connection), and the Huffman code both ways.
 * Input: the first octet sets the table size we advertise (its value times 32), the second the longest
 * field allowed (times 16, plus 1); then blocks, each a 2-octet big-endian length and that many octets.
 * The same octets also go through the Huffman decoder and encoder, where each must undo the other. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fail.h"
#include "hpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
        size_t max_field;
        unsigned fields;
};

static int on_field(void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
        struct seen *s = ud;
        /* The contract: both NUL-terminated, and the field no longer than asked. */
        if (name[name_len] != 0 || value[value_len] != 0)
                FAIL("hpack: a field not NUL-terminated (%zu, %zu)", name_len, value_len);
        if (name_len + value_len > s->max_field)
                FAIL("hpack: a field of %zu octets passed the limit %zu", name_len + value_len,
                     s->max_field);
        s->fields++;
        return 0;
}

static void check_table(const struct hpack_decoder *d)
{
        if (d->size > d->max_size || d->max_size > d->limit || d->count > d->cap)
                FAIL("hpack: table size %zu, max %zu, limit %zu, %zu entries of %zu", d->size, d->max_size,
                     d->limit, d->count, d->cap);
}

/* Blocks in turn through one decoder; the first failure ends the connection, as in h2.c. */
static void decode_blocks(const uint8_t *data, size_t size)
{
        struct hpack_decoder d;
        struct seen s = {.max_field = (size_t) data[1] * 16 + 1};
        const uint8_t *p = data + 2, *end = data + size;

        hpack_decoder_init(&d, (size_t) data[0] * 32);
        while (end - p >= 2) {
                size_t n = (size_t) p[0] << 8 | p[1];
                p += 2;
                if (n > (size_t) (end - p))
                        n = (size_t) (end - p);
                /* An exact-size copy, so that reading past the block is caught. */
                uint8_t *block = malloc(n ? n : 1);
                if (!block)
                        abort();
                memcpy(block, p, n);
                p += n;
                int r = hpack_decode(&d, block, n, s.max_field, on_field, &s);
                free(block);
                if (r != 0 && r != -EBADMSG && r != -E2BIG)
                        FAIL("hpack_decode: unexpected result %d", r);
                check_table(&d);
                if (r != 0)
                        break;
        }
        hpack_decoder_free(&d);
}

/* Huffman: a string that decodes is exactly what encoding its result gives (the code is canonical and
 * the padding strict), and whatever is encoded decodes back. */
static void huffman(const uint8_t *data, size_t size)
{
        size_t dcap = size * 8 / 5 + 1, ecap = size * 4 + 1; /* a code is 5 to 30 bits */
        char *dec = malloc(dcap);
        uint8_t *enc = malloc(ecap);
        char *back = malloc(size + 1);
        if (!dec || !enc || !back)
                abort();

        long n = hpack_huffman_decode(data, size, dec, dcap);
        if (n >= 0) {
                long m = hpack_huffman_encode(dec, (size_t) n, enc, ecap);
                if (m != (long) size || memcmp(enc, data, size) != 0)
                        FAIL("huffman: %zu octets decode to %ld, which encode to %ld others", size, n, m);
        } else if (n != -EBADMSG) {
                FAIL("huffman: decoding %zu octets into %zu gave %ld", size, dcap, n);
        }

        long m = hpack_huffman_encode((const char *) data, size, enc, ecap);
        if (m < 0)
                FAIL("huffman: %zu octets do not encode into %zu", size, ecap);
        n = hpack_huffman_decode(enc, (size_t) m, back, size + 1);
        if (n != (long) size || memcmp(back, data, size) != 0)
                FAIL("huffman: %zu octets encode to %ld, which decode to %ld others", size, m, n);
        /* One octet short of room: refused, never written past. */
        if (size > 0 && hpack_huffman_decode(enc, (size_t) m, back, size - 1) != -E2BIG)
                FAIL("huffman: %zu octets decoded into %zu", size, size - 1);
        free(dec);
        free(enc);
        free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        decode_blocks(data, size);
        huffman(data + 2, size - 2);
        return 0;
}
