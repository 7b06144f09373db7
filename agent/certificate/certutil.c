/* The kubelet's client certificate as data: keys and CSRs, lifetimes, the cert dir's files, the kubeconfig. */
#include "certutil.h"

#include <errno.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

#define PEM_MAX_BYTES (1u << 20)

void cert_secret_free(char *p)
{
        if (p)
                explicit_bzero(p, strlen(p));
        free(p);
}

static char *bio_string(BIO *b)
{
        char *p;
        long n = BIO_get_mem_data(b, &p);
        char *s = OOM_CHECK(malloc((size_t) n + 1));
        memcpy(s, p, (size_t) n);
        s[n] = 0;
        return s;
}

/* The subjectAltName extension of the names and addresses, as Go's x509 writes it: DNS names, then IPs. */
static int add_sans(X509_REQ *req, char *const *dns, char *const *ips)
{
        GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
        STACK_OF(X509_EXTENSION) *exts = NULL;
        int r = -EINVAL;
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; dns && dns[i]; i++) {
                GENERAL_NAME *g = GENERAL_NAME_new();
                ASN1_IA5STRING *v = ASN1_IA5STRING_new();
                if (!g || !v || !ASN1_STRING_set(v, dns[i], -1)) {
                        GENERAL_NAME_free(g);
                        ASN1_IA5STRING_free(v);
                        goto out;
                }
                GENERAL_NAME_set0_value(g, GEN_DNS, v);
                if (!sk_GENERAL_NAME_push(names, g)) {
                        GENERAL_NAME_free(g);
                        goto out;
                }
        }
        for (size_t i = 0; ips && ips[i]; i++) {
                unsigned char a[16];
                int len = inet_pton(AF_INET, ips[i], a) == 1    ? 4
                          : inet_pton(AF_INET6, ips[i], a) == 1 ? 16
                                                                : 0;
                if (!len)
                        goto out;
                GENERAL_NAME *g = GENERAL_NAME_new();
                ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
                if (!g || !v || !ASN1_OCTET_STRING_set(v, a, len)) {
                        GENERAL_NAME_free(g);
                        ASN1_OCTET_STRING_free(v);
                        goto out;
                }
                GENERAL_NAME_set0_value(g, GEN_IPADD, v);
                if (!sk_GENERAL_NAME_push(names, g)) {
                        GENERAL_NAME_free(g);
                        goto out;
                }
        }
        if (sk_GENERAL_NAME_num(names) == 0) {
                r = 0;
                goto out;
        }
        exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *ext = exts ? X509V3_EXT_i2d(NID_subject_alt_name, 0, names) : NULL;
        if (ext && sk_X509_EXTENSION_push(exts, ext) && X509_REQ_add_extensions(req, exts))
                r = 0;
        else if (ext && sk_X509_EXTENSION_num(exts) == 0)
                X509_EXTENSION_free(ext);
out:
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        GENERAL_NAMES_free(names);
        return r;
}

int cert_make_csr(const char *node_name, char *const *dns, char *const *ips, char **ret_csr_pem,
                  char **ret_key_pem)
{
        EVP_PKEY *pkey = EVP_EC_gen("P-256");
        X509_REQ *req = X509_REQ_new();
        BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
        _cleanup_free_ char *cn = strdup_printf("system:node:%s", node_name);
        int r = -ENOMEM;

        if (!pkey || !req || !bc || !bk)
                goto out;
        r = -EINVAL;
        X509_NAME *name = X509_REQ_get_subject_name(req);
        /* As Go's pkix.Name: O before CN. */
        if (!X509_REQ_set_version(req, 0) ||
            !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) "system:nodes", -1,
                                        -1, 0) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ||
            add_sans(req, dns, ips) < 0 || !X509_REQ_set_pubkey(req, pkey) ||
            !X509_REQ_sign(req, pkey, EVP_sha256()))
                goto out;
        /* "EC PRIVATE KEY" (SEC1), as upstream's keyutil writes an ECDSA key. */
        if (!PEM_write_bio_X509_REQ(bc, req) ||
            !PEM_write_bio_PrivateKey_traditional(bk, pkey, NULL, NULL, 0, NULL, NULL))
                goto out;
        *ret_csr_pem = bio_string(bc);
        *ret_key_pem = bio_string(bk);
        r = 0;
out:
        BIO_free(bc);
        BIO_free_all(bk); /* a memory BIO: its buffer is freed; it held the key only briefly */
        X509_REQ_free(req);
        EVP_PKEY_free(pkey);
        return r;
}

static X509 *read_cert(const char *pem, size_t len)
{
        BIO *b = BIO_new_mem_buf(pem, (int) len);
        if (!b)
                return NULL;
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        return x;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *ret)
{
        struct tm tm;
        if (!t || !ASN1_TIME_to_tm(t, &tm))
                return -EINVAL;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

int cert_validity(const char *pem, size_t len, int64_t *ret_not_before, int64_t *ret_not_after)
{
        X509 *x = read_cert(pem, len);
        int64_t nb, na;
        if (!x)
                return -EINVAL;
        int r = asn1_time_unix(X509_get0_notBefore(x), &nb);
        if (r >= 0)
                r = asn1_time_unix(X509_get0_notAfter(x), &na);
        X509_free(x);
        if (r < 0)
                return r;
        *ret_not_before = nb;
        *ret_not_after = na;
        return 0;
}

bool cert_has_sans(const char *pem, size_t len, char *const *dns, char *const *ips)
{
        X509 *x = read_cert(pem, len);
        if (!x)
                return false;
        GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        bool all = true;
        for (size_t i = 0; all && dns && dns[i]; i++) {
                bool found = false;
                for (int j = 0; !found && j < sk_GENERAL_NAME_num(names); j++) {
                        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
                        found = g->type == GEN_DNS &&
                                (size_t) ASN1_STRING_length(g->d.dNSName) == strlen(dns[i]) &&
                                memcmp(ASN1_STRING_get0_data(g->d.dNSName), dns[i], strlen(dns[i])) == 0;
                }
                all = found;
        }
        for (size_t i = 0; all && ips && ips[i]; i++) {
                unsigned char a[16];
                int len4 = inet_pton(AF_INET, ips[i], a) == 1    ? 4
                           : inet_pton(AF_INET6, ips[i], a) == 1 ? 16
                                                                 : 0;
                bool found = false;
                for (int j = 0; len4 && !found && j < sk_GENERAL_NAME_num(names); j++) {
                        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
                        found = g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == len4 &&
                                memcmp(ASN1_STRING_get0_data(g->d.iPAddress), a, (size_t) len4) == 0;
                }
                all = found;
        }
        GENERAL_NAMES_free(names);
        X509_free(x);
        return all;
}

int cert_pair_usable(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, int64_t now,
                     const char **ret_why)
{
        X509 *x = cert_pem ? read_cert(cert_pem, cert_len) : NULL;
        EVP_PKEY *k = NULL;
        int64_t nb, na;
        int r = -EINVAL;

        *ret_why = "not a PEM certificate";
        if (!x)
                goto out;
        BIO *b = key_pem ? BIO_new_mem_buf(key_pem, (int) key_len) : NULL;
        if (b) {
                k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
                BIO_free(b);
        }
        *ret_why = "not a PEM private key";
        if (!k)
                goto out;
        *ret_why = "the key does not match the certificate";
        if (X509_check_private_key(x, k) != 1)
                goto out;
        *ret_why = "no validity period";
        if (asn1_time_unix(X509_get0_notBefore(x), &nb) < 0 ||
            asn1_time_unix(X509_get0_notAfter(x), &na) < 0)
                goto out;
        r = -EKEYEXPIRED;
        *ret_why = now >= na ? "the certificate has expired" : "the certificate is not valid yet";
        if (now >= na || now < nb)
                goto out;
        *ret_why = NULL;
        r = 0;
out:
        EVP_PKEY_free(k);
        X509_free(x);
        return r;
}

int64_t cert_rotation_deadline(int64_t not_before, int64_t not_after, double jitter)
{
        double total = (double) (not_after - not_before);
        if (jitter < 0)
                jitter = 0;
        if (jitter >= 1)
                jitter = 0.999999;
        /* client-go: wait.Jitter(total, 0.2) - 0.3 * total, i.e. 70 % plus up to 20 %. */
        return not_before + (int64_t) (total * (0.7 + 0.2 * jitter) + 0.5);
}

void cert_pair_file_name(const char *prefix, time_t t, char *buf, size_t len)
{
        struct tm tm;
        localtime_r(&t, &tm);
        snprintf(buf, len, "%s-%04d-%02d-%02d-%02d-%02d-%02d.pem", prefix, tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The PEM blocks of pem whose label satisfies want(), concatenated. */
static char *pem_blocks(const char *pem, size_t len, bool key)
{
        _cleanup_free_ char *copy = OOM_CHECK(strndup(pem, len));
        char *out = NULL, *p = copy;
        size_t n = 0;
        while ((p = strstr(p, "-----BEGIN "))) {
                const char *label = p + 11;
                const char *eol = strstr(label, "-----");
                if (!eol)
                        break;
                _cleanup_free_ char *end_marker =
                        strdup_printf("-----END %.*s-----", (int) (eol - label), label);
                char *end = strstr(eol, end_marker);
                if (!end)
                        break;
                end += strlen(end_marker);
                bool is_key = (size_t) (eol - label) >= 11 && memcmp(eol - 11, "PRIVATE KEY", 11) == 0;
                bool is_cert = (size_t) (eol - label) == 11 && memcmp(label, "CERTIFICATE", 11) == 0;
                if ((key && is_key) || (!key && is_cert)) {
                        size_t bl = (size_t) (end - p);
                        out = OOM_CHECK(realloc(out, n + bl + 2));
                        memcpy(out + n, p, bl);
                        n += bl;
                        out[n++] = '\n';
                        out[n] = 0;
                }
                p = end;
        }
        explicit_bzero(copy, len);
        return out;
}

int cert_pem_split(const char *pem, size_t len, char **ret_cert, size_t *ret_cert_len, char **ret_key,
                   size_t *ret_key_len)
{
        char *cert = pem_blocks(pem, len, false), *key = pem_blocks(pem, len, true);
        if (!cert || !key) {
                free(cert);
                cert_secret_free(key);
                return -EINVAL;
        }
        *ret_cert_len = strlen(cert);
        *ret_key_len = strlen(key);
        *ret_cert = cert;
        *ret_key = key;
        return 0;
}

int cert_store_write(const char *dir, const char *prefix, const char *cert_pem, const char *key_pem,
                     time_t now, char **ret_path)
{
        char name[128];
        int r;

        if ((r = mkdir_p(dir, 0755)) < 0)
                return r;
        cert_pair_file_name(prefix, now, name, sizeof name);
        _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
        _cleanup_free_ char *link = strdup_printf("%s/%s-current.pem", dir, prefix);
        _cleanup_free_ char *tmp_link = strdup_printf("%s/.%s-current.pem.tmp", dir, prefix);
        size_t cl = strlen(cert_pem), kl = strlen(key_pem);
        char *both = OOM_CHECK(malloc(cl + kl + 2));
        memcpy(both, cert_pem, cl);
        size_t n = cl;
        if (n > 0 && both[n - 1] != '\n')
                both[n++] = '\n';
        memcpy(both + n, key_pem, kl);
        n += kl;
        both[n] = 0;
        r = write_file_atomic(path, both, n, 0600);
        explicit_bzero(both, n);
        free(both);
        if (r < 0)
                return r;
        (void) unlink(tmp_link);
        if (symlink(path, tmp_link) < 0 || rename(tmp_link, link) < 0) {
                r = -errno;
                (void) unlink(tmp_link);
                return r;
        }
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

int cert_store_read(const char *dir, const char *prefix, char **ret_cert, size_t *ret_cert_len,
                    char **ret_key, size_t *ret_key_len)
{
        _cleanup_free_ char *link = strdup_printf("%s/%s-current.pem", dir, prefix);
        char *buf = NULL;
        size_t len;
        int r = read_file_limit(link, PEM_MAX_BYTES, &buf, &len);
        if (r < 0)
                return r;
        r = cert_pem_split(buf, len, ret_cert, ret_cert_len, ret_key, ret_key_len);
        explicit_bzero(buf, len);
        free(buf);
        return r;
}

static char *base64_encode(const char *data, size_t len)
{
        size_t n = 4 * ((len + 2) / 3);
        char *out = OOM_CHECK(malloc(n + 1));
        int w = EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) data, (int) len);
        out[w < 0 ? 0 : w] = 0;
        return out;
}

int cert_write_kubeconfig(const char *path, const char *server, const char *ca_file, const char *ca_data,
                          size_t ca_len, bool insecure, const char *pem_path)
{
        _cleanup_free_ char *ca_line = NULL;
        if (ca_data) {
                _cleanup_free_ char *b64 = base64_encode(ca_data, ca_len);
                ca_line = strdup_printf("    certificate-authority-data: %s\n", b64);
        } else if (ca_file)
                ca_line = strdup_printf("    certificate-authority: \"%s\"\n", ca_file);
        /* Paths and the server go in double quotes: YAML then takes them whatever they hold. */
        _cleanup_free_ char *doc =
                strdup_printf("apiVersion: v1\n"
                              "kind: Config\n"
                              "clusters:\n"
                              "- cluster:\n"
                              "%s%s"
                              "    server: \"%s\"\n"
                              "  name: default-cluster\n"
                              "contexts:\n"
                              "- context:\n"
                              "    cluster: default-cluster\n"
                              "    namespace: default\n"
                              "    user: default-auth\n"
                              "  name: default-context\n"
                              "current-context: default-context\n"
                              "preferences: {}\n"
                              "users:\n"
                              "- name: default-auth\n"
                              "  user:\n"
                              "    client-certificate: \"%s\"\n"
                              "    client-key: \"%s\"\n",
                              ca_line ? ca_line : "", insecure ? "    insecure-skip-tls-verify: true\n" : "",
                              server, pem_path, pem_path);
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                int r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
        }
        return write_file_atomic(path, doc, strlen(doc), 0600);
}
