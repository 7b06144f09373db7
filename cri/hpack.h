/* HPACK (RFC 7541), what cubelet's HTTP/2 client needs: a decoder with its dynamic table for the header
 * blocks a server sends, and the one representation the client sends (a literal header field without
 * indexing, its name and value as plain octets), which needs no table on either side. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hpack_field;

struct hpack_decoder {
        struct hpack_field *ring; /* the dynamic table, a ring: ring[(head + i) % cap] is entry 62 + i */
        size_t cap, head, count;
        size_t size;     /* RFC 7541 4.1: the sum of name + value + 32 over the entries */
        size_t max_size; /* as the encoder last set it (4.2), at most limit */
        size_t limit;    /* the SETTINGS_HEADER_TABLE_SIZE we advertised */
};

/* One decoded field; name and value are valid during the callback only (not NUL-terminated inside the
 * block, but a NUL follows each here). */
typedef int (*hpack_field_fn)(void *userdata, const char *name, size_t name_len, const char *value,
                              size_t value_len);

void hpack_decoder_init(struct hpack_decoder *d, size_t limit);
void hpack_decoder_free(struct hpack_decoder *d);

/* Decodes one complete header block, calling fn for each field in order; a field longer than max_field
 * (name + value) fails the block. Returns 0; -EBADMSG on a decoding error (RFC 7541's COMPRESSION_ERROR:
 * the connection cannot go on, its table no longer agrees with the encoder's); -E2BIG for a field too long;
 * or fn's negative result, which stops the decoding (the table is then out of step too). */
int hpack_decode(struct hpack_decoder *d, const uint8_t *block, size_t len, size_t max_field,
                 hpack_field_fn fn, void *userdata);

/* Appendix B's Huffman code: decodes len octets into out (room for cap octets). Returns the decoded
 * length, -EBADMSG for an invalid string (EOS inside, padding over 7 bits or not all ones), -E2BIG when
 * it does not fit. */
long hpack_huffman_decode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Encodes with the same code; returns the encoded length, or -E2BIG when it does not fit in cap. Only
 * the tests need it: the client sends its fields as plain octets. */
long hpack_huffman_encode(const char *in, size_t len, uint8_t *out, size_t cap);

/* Appends an integer with an N-bit prefix (5.1) to out at *pos, the prefix's other bits from first.
 * false when it does not fit in cap. */
bool hpack_put_int(uint8_t *out, size_t cap, size_t *pos, uint8_t first, unsigned prefix_bits, uint64_t v);
/* Appends a literal header field without indexing, with a new name (6.2.2), name and value as plain
 * octets. false when it does not fit in cap. */
bool hpack_put_literal(uint8_t *out, size_t cap, size_t *pos, const char *name, const char *value);
