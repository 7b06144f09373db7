/* A self-signed serving certificate (ECDSA P-256, one year) for the node server, with OpenSSL's libcrypto. */
#include "pki.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

static int add_ext(X509 *crt, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, crt, crt, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return -EINVAL;
        int ok = X509_add_ext(crt, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : -ENOMEM;
}

/* PEM of the key and the certificate, in memory. */
static int make(const char *node_name, const char *ip, char **ret_crt, size_t *crt_len, char **ret_key,
                size_t *key_len)
{
        EVP_PKEY *pkey = EVP_EC_gen("P-256");
        X509 *crt = X509_new();
        BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
        int r = -ENOMEM;
        char cn[320], san[600];
        unsigned char serial[16];
        BIGNUM *bn = NULL;

        if (!pkey || !crt || !bc || !bk)
                goto out;
        /* As upstream: "<host>@<unix time>" so that a regenerated certificate is told apart. */
        snprintf(cn, sizeof cn, "%s@%lld", node_name, (long long) time(NULL));
        if (ip && streq(ip, "127.0.0.1"))
                ip = NULL;
        snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1%s%s", node_name, ip ? ",IP:" : "",
                 ip ? ip : "");
        X509_NAME *name = X509_get_subject_name(crt);
        if (!X509_set_version(crt, 2) || RAND_bytes(serial, sizeof serial) != 1 ||
            !(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
            !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) ||
            !X509_gmtime_adj(X509_getm_notBefore(crt), -3600) ||
            !X509_gmtime_adj(X509_getm_notAfter(crt), 365L * 24 * 3600) || !X509_set_pubkey(crt, pkey) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ||
            !X509_set_issuer_name(crt, name))
                goto out;
        r = -EINVAL;
        if (add_ext(crt, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(crt, NID_key_usage, "critical,digitalSignature,keyEncipherment") < 0 ||
            add_ext(crt, NID_ext_key_usage, "serverAuth") < 0 || add_ext(crt, NID_subject_alt_name, san) < 0)
                goto out;
        if (!X509_sign(crt, pkey, EVP_sha256()) || !PEM_write_bio_X509(bc, crt) ||
            !PEM_write_bio_PrivateKey(bk, pkey, NULL, NULL, 0, NULL, NULL))
                goto out;
        char *p;
        long n = BIO_get_mem_data(bc, &p);
        *ret_crt = OOM_CHECK(malloc((size_t) n));
        memcpy(*ret_crt, p, (size_t) n);
        *crt_len = (size_t) n;
        n = BIO_get_mem_data(bk, &p);
        *ret_key = OOM_CHECK(malloc((size_t) n));
        memcpy(*ret_key, p, (size_t) n);
        *key_len = (size_t) n;
        r = 0;
out:
        BN_free(bn);
        BIO_free(bc);
        BIO_free(bk);
        X509_free(crt);
        EVP_PKEY_free(pkey);
        return r;
}

int pki_ensure_self_signed(const char *dir, const char *node_name, const char *ip, char **ret_cert,
                           char **ret_key)
{
        _cleanup_free_ char *crt_path = strdup_printf("%s/cubelet.crt", dir);
        _cleanup_free_ char *key_path = strdup_printf("%s/cubelet.key", dir);
        _cleanup_free_ char *crt = NULL, *key = NULL;
        size_t crt_len, key_len;
        int r;

        if (access(crt_path, R_OK) < 0 || access(key_path, R_OK) < 0) {
                if ((r = mkdir_p(dir, 0700)) < 0)
                        return r;
                if ((r = make(node_name, ip, &crt, &crt_len, &key, &key_len)) < 0)
                        return r;
                /* The key first: a certificate without its key would be taken as complete. */
                if ((r = write_file_atomic(key_path, key, key_len, 0600)) < 0 ||
                    (r = write_file_atomic(crt_path, crt, crt_len, 0644)) < 0)
                        return r;
        }
        *ret_cert = TAKE_PTR(crt_path);
        *ret_key = TAKE_PTR(key_path);
        return 0;
}
