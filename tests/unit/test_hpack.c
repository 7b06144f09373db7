/* HPACK (cri/hpack.c) against RFC 7541's Appendix C examples and its Huffman code (Appendix B), and the
 * gRPC wire helpers of cri/h2.c. Pure logic. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "h2.h"
#include "hpack.h"
#include "macro.h"

/* Hex with spaces, as the RFC prints it, into bytes. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
        size_t n = 0;
        int hi = -1;
        for (; *s; s++) {
                int v;
                if (*s >= '0' && *s <= '9')
                        v = *s - '0';
                else if (*s >= 'a' && *s <= 'f')
                        v = *s - 'a' + 10;
                else
                        continue;
                if (hi < 0)
                        hi = v;
                else {
                        assert_true(n < cap);
                        out[n++] = (uint8_t) (hi << 4 | v);
                        hi = -1;
                }
        }
        assert_int_equal(hi, -1);
        return n;
}

/* The decoded fields, "name: value\n" each. */
struct fields {
        char text[2048];
        size_t len;
};

static int collect(void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
        struct fields *f = ud;
        int n = snprintf(f->text + f->len, sizeof f->text - f->len, "%.*s: %.*s\n", (int) name_len, name,
                         (int) value_len, value);
        assert_true(n > 0 && (size_t) n < sizeof f->text - f->len);
        f->len += (size_t) n;
        return 0;
}

static void decode_ok(struct hpack_decoder *d, const char *hex, const char *want, size_t table_size)
{
        uint8_t b[512];
        size_t n = unhex(hex, b, sizeof b);
        struct fields f = {0};
        assert_int_equal(hpack_decode(d, b, n, 4096, collect, &f), 0);
        assert_string_equal(f.text, want);
        assert_int_equal(d->size, table_size);
}

/* C.1: integers. */
static void test_integers(void **state)
{
        (void) state;
        uint8_t b[8];
        size_t n = 0;
        assert_true(hpack_put_int(b, sizeof b, &n, 0, 5, 10));
        assert_int_equal(n, 1);
        assert_int_equal(b[0], 0x0a);
        n = 0;
        assert_true(hpack_put_int(b, sizeof b, &n, 0, 5, 1337));
        assert_int_equal(n, 3);
        assert_memory_equal(b, "\x1f\x9a\x0a", 3);
        n = 0;
        assert_true(hpack_put_int(b, sizeof b, &n, 0, 8, 42));
        assert_int_equal(n, 1);
        assert_int_equal(b[0], 42);
        n = 0;
        assert_false(hpack_put_int(b, 2, &n, 0, 5, 1337)); /* does not fit */
}

/* C.2: one field each. */
static void test_fields(void **state)
{
        (void) state;
        struct hpack_decoder d;
        hpack_decoder_init(&d, 4096);
        decode_ok(&d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                  "custom-key: custom-header\n", 55);
        hpack_decoder_free(&d);
        hpack_decoder_init(&d, 4096);
        decode_ok(&d, "040c 2f73 616d 706c 652f 7061 7468", ":path: /sample/path\n", 0);
        decode_ok(&d, "1008 7061 7373 776f 7264 0673 6563 7265 74", "password: secret\n", 0);
        decode_ok(&d, "82", ":method: GET\n", 0);
        hpack_decoder_free(&d);
}

#define REQ1 ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
#define REQ2 REQ1 "cache-control: no-cache\n"
#define REQ3                                                                                                \
        ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: "       \
        "custom-value\n"

/* C.3 and C.4: three requests on one connection, plain then Huffman. */
static void test_requests(void **state)
{
        (void) state;
        struct hpack_decoder d;
        hpack_decoder_init(&d, 4096);
        decode_ok(&d, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", REQ1, 57);
        decode_ok(&d, "8286 84be 5808 6e6f 2d63 6163 6865", REQ2, 110);
        decode_ok(&d, "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", REQ3, 164);
        hpack_decoder_free(&d);

        hpack_decoder_init(&d, 4096);
        decode_ok(&d, "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, 57);
        decode_ok(&d, "8286 84be 5886 a8eb 1064 9cbf", REQ2, 110);
        decode_ok(&d, "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", REQ3, 164);
        hpack_decoder_free(&d);
}

#define RESP_TAIL                                                                                           \
        ":status: %s\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:2%s GMT\nlocation: "             \
        "https://www.example.com\n"

static void resp(char *buf, size_t len, const char *status, const char *second, const char *extra)
{
        snprintf(buf, len, RESP_TAIL "%s", status, second, extra);
}

/* C.5 and C.6: three responses in a 256-octet table: entries are evicted. */
static void test_responses(void **state)
{
        (void) state;
        struct hpack_decoder d;
        char w1[512], w2[512], w3[512];
        resp(w1, sizeof w1, "302", "1", "");
        resp(w2, sizeof w2, "307", "1", "");
        resp(w3, sizeof w3, "200", "2",
             "content-encoding: gzip\nset-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; "
             "version=1\n");

        hpack_decoder_init(&d, 256);
        decode_ok(
                &d,
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a "
                "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                w1, 222);
        decode_ok(&d, "4803 3330 37c1 c0bf", w2, 222);
        decode_ok(
                &d,
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 "
                "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 "
                "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
                w3, 215);
        assert_int_equal(d.count, 3);
        hpack_decoder_free(&d);

        hpack_decoder_init(&d, 256);
        decode_ok(
                &d,
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e "
                "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                w1, 222);
        decode_ok(&d, "4883 640e ffc1 c0bf", w2, 222);
        decode_ok(
                &d,
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 "
                "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed "
                "4ee5 b106 3d50 07",
                w3, 215);
        hpack_decoder_free(&d);
}

/* The code built from Appendix B's lengths gives the appendix's codes (a sample over every length). */
static void test_huffman_table(void **state)
{
        (void) state;
        static const struct {
                uint8_t sym;
                const char *hex;
        } sample[] = {
                {'0', "07"},       /* 00000, 5 bits, padded with ones */
                {' ', "53"},       /* 010100 */
                {':', "b9"},       /* 1011100 */
                {'&', "f8"},       /* 11111000 */
                {'!', "fe3f"},     /* 11111110|00 */
                {0, "ffc7"},       /* 11111111|11000, 13 bits */
                {9, "ffffea"},     /* 24 bits */
                {1, "ffffb1"},     /* 11111111|11111111|1011000, 23 bits */
                {10, "fffffff3"},  /* 30 bits: 3ffffffc, then two bits of padding */
                {255, "fffffbbf"}, /* 26 bits: 3ffffee */
        };
        for (size_t i = 0; i < ELEMENTSOF(sample); i++) {
                uint8_t want[8], got[8];
                size_t n = unhex(sample[i].hex, want, sizeof want);
                char in = (char) sample[i].sym;
                long k = hpack_huffman_encode(&in, 1, got, sizeof got);
                assert_int_equal(k, (long) n);
                assert_memory_equal(got, want, n);
                char back[4];
                assert_int_equal(hpack_huffman_decode(got, (size_t) k, back, sizeof back), 1);
                assert_int_equal((uint8_t) back[0], sample[i].sym);
        }
        /* Every octet survives a round trip. */
        char all[256], back[256];
        uint8_t enc[1024];
        for (int i = 0; i < 256; i++)
                all[i] = (char) i;
        long k = hpack_huffman_encode(all, sizeof all, enc, sizeof enc);
        assert_true(k > 0);
        assert_int_equal(hpack_huffman_decode(enc, (size_t) k, back, sizeof back), 256);
        assert_memory_equal(all, back, 256);
}

static void test_huffman_invalid(void **state)
{
        (void) state;
        char out[16];
        /* Padding longer than 7 bits: "0" (00000) then a whole octet of ones. */
        static const uint8_t long_pad[] = {0x07, 0xff};
        assert_int_equal(hpack_huffman_decode(long_pad, sizeof long_pad, out, sizeof out), -EBADMSG);
        /* Padding that is not all ones: 00000 then 000. */
        static const uint8_t zero_pad[] = {0x00};
        assert_int_equal(hpack_huffman_decode(zero_pad, 1, out, sizeof out), -EBADMSG);
        /* EOS (30 ones) inside the string. */
        static const uint8_t eos[] = {0xff, 0xff, 0xff, 0xff};
        assert_int_equal(hpack_huffman_decode(eos, sizeof eos, out, sizeof out), -EBADMSG);
        /* Too long for the room given. */
        static const uint8_t three[] = {0x00, 0x00, 0x0f}; /* "0000", then padding */
        assert_int_equal(hpack_huffman_decode(three, sizeof three, out, 2), -E2BIG);
}

static int refuse(void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
        (void) ud, (void) name, (void) name_len, (void) value, (void) value_len;
        return -ECANCELED;
}

static void decode_fails(struct hpack_decoder *d, const char *hex, size_t max_field, int want)
{
        uint8_t b[512];
        size_t n = unhex(hex, b, sizeof b);
        struct fields f = {0};
        assert_int_equal(hpack_decode(d, b, n, max_field, collect, &f), want);
}

static void test_decode_errors(void **state)
{
        (void) state;
        struct hpack_decoder d;
        hpack_decoder_init(&d, 4096);
        decode_fails(&d, "80", 4096, -EBADMSG);                /* index 0 */
        decode_fails(&d, "be", 4096, -EBADMSG);                /* 62: the dynamic table is empty */
        decode_fails(&d, "ff80 8080 8080 80", 4096, -EBADMSG); /* an integer that never ends */
        decode_fails(&d, "040c 2f73 61", 4096, -EBADMSG);      /* a string longer than the block */
        decode_fails(&d, "3fe2 1f", 4096, -EBADMSG);           /* a size update to 4097, over our 4096 */
        decode_fails(&d, "82 20", 4096, -EBADMSG);             /* a size update after a field */
        decode_fails(&d, "040c 2f73 616d 706c 652f 7061 7468", 8, -E2BIG); /* a field over the limit */
        /* A size update to 0 at the start empties the table, then fields go on. */
        decode_ok(&d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                  "custom-key: custom-header\n", 55);
        decode_ok(&d, "20 82", ":method: GET\n", 0);
        assert_int_equal(d.count, 0);
        /* The callback's error stops the decoding. */
        static const uint8_t get[] = {0x82};
        assert_int_equal(hpack_decode(&d, get, 1, 4096, refuse, NULL), -ECANCELED);
        hpack_decoder_free(&d);
}

/* What the client sends: literal fields without indexing decode back. */
static void test_literal(void **state)
{
        (void) state;
        uint8_t b[512];
        size_t n = 0;
        char long_value[200];
        memset(long_value, 'v', sizeof long_value - 1);
        long_value[sizeof long_value - 1] = 0;
        assert_true(hpack_put_literal(b, sizeof b, &n, ":path", "/runtime.v1.RuntimeService/Version"));
        assert_true(hpack_put_literal(b, sizeof b, &n, "x-long", long_value)); /* a two-octet length */
        struct hpack_decoder d;
        struct fields f = {0};
        hpack_decoder_init(&d, 4096);
        assert_int_equal(hpack_decode(&d, b, n, 4096, collect, &f), 0);
        char want[512];
        snprintf(want, sizeof want, ":path: /runtime.v1.RuntimeService/Version\nx-long: %s\n", long_value);
        assert_string_equal(f.text, want);
        assert_int_equal(d.size, 0);
        hpack_decoder_free(&d);
        n = 0;
        assert_false(hpack_put_literal(b, 10, &n, ":path", "/runtime.v1.RuntimeService/Version"));
}

static void test_grpc_wire(void **state)
{
        (void) state;
        char out[64];
        const char *m = "no%20such%20%E2%9C%93 100%";
        h2_grpc_message_decode(m, strlen(m), out, sizeof out);
        assert_string_equal(out, "no such \xe2\x9c\x93 100%");
        h2_grpc_message_decode("%zz%4", 5, out, sizeof out);
        assert_string_equal(out, "%zz%4");
        h2_grpc_message_decode("abcdef", 6, out, 4);
        assert_string_equal(out, "abc");
        h2_grpc_timeout(120000, out, sizeof out);
        assert_string_equal(out, "120000m");
        h2_grpc_timeout(99999999, out, sizeof out);
        assert_string_equal(out, "99999999m");
        h2_grpc_timeout(100000000, out, sizeof out);
        assert_string_equal(out, "100000S");
        h2_grpc_timeout(-5, out, sizeof out);
        assert_string_equal(out, "0m");
        assert_string_equal(h2_error_name(7), "REFUSED_STREAM");
        assert_string_equal(h2_error_name(99), "unknown error code");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_integers),      cmocka_unit_test(test_fields),
                cmocka_unit_test(test_requests),      cmocka_unit_test(test_responses),
                cmocka_unit_test(test_huffman_table), cmocka_unit_test(test_huffman_invalid),
                cmocka_unit_test(test_decode_errors), cmocka_unit_test(test_literal),
                cmocka_unit_test(test_grpc_wire),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
