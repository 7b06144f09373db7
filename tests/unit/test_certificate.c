/* The client certificate's pure parts: CSRs, lifetimes and the rotation deadline, the cert dir's files, the
 * kubeconfig written after a bootstrap, and how a CSR object's state is read. */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "certutil.h"
#include "kubeconfig.h"
#include "cert_manager.h"
#include "util.h"

static void test_deadline_bounds(void **state)
{
        int64_t nb = 1000, na = 1000 + 3600;
        assert_int_equal(cert_rotation_deadline(nb, na, 0.0), 1000 + 2520); /* 70 % */
        int64_t hi = cert_rotation_deadline(nb, na, 0.999999);
        assert_true(hi <= 1000 + 3240 && hi >= 1000 + 3239); /* 90 % */
        assert_int_equal(cert_rotation_deadline(nb, na, 0.5), 1000 + 2880);
        /* out of range jitter is clamped */
        assert_int_equal(cert_rotation_deadline(nb, na, -1), 1000 + 2520);
        assert_true(cert_rotation_deadline(nb, na, 7) <= 1000 + 3240);
        /* a year-long certificate */
        int64_t year = 365LL * 24 * 3600;
        int64_t d = cert_rotation_deadline(0, year, 0.25);
        assert_true(d >= year * 7 / 10 && d <= year * 9 / 10);
}

static void test_file_name(void **state)
{
        char buf[128];
        setenv("TZ", "UTC", 1);
        tzset();
        cert_pair_file_name("kubelet-client", (time_t) 1764681419, buf,
                            sizeof buf); /* 2025-12-02 13:16:59 */
        assert_string_equal(buf, "kubelet-client-2025-12-02-13-16-59.pem");
}

/* A certificate for key, valid from now+from_s for life_s seconds, self-signed. */
static char *self_signed(EVP_PKEY *key, long from_s, long life_s)
{
        X509 *x = X509_new();
        BIO *b = BIO_new(BIO_s_mem());
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), from_s);
        X509_gmtime_adj(X509_getm_notAfter(x), from_s + life_s);
        X509_set_pubkey(x, key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                   (const unsigned char *) "t", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        PEM_write_bio_X509(b, x);
        char *p;
        long n = BIO_get_mem_data(b, &p);
        char *s = strndup(p, (size_t) n);
        BIO_free(b);
        X509_free(x);
        return s;
}

static EVP_PKEY *read_key(const char *pem)
{
        BIO *b = BIO_new_mem_buf(pem, -1);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        return k;
}

static void test_csr(void **state)
{
        char *csr = NULL, *key = NULL;
        assert_int_equal(cert_make_csr("node-a", NULL, NULL, &csr, &key), 0);
        assert_non_null(strstr(csr, "-----BEGIN CERTIFICATE REQUEST-----"));
        assert_non_null(strstr(key, "-----BEGIN EC PRIVATE KEY-----"));
        BIO *b = BIO_new_mem_buf(csr, -1);
        X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        BIO_free(b);
        assert_non_null(req);
        char subj[256];
        X509_NAME_oneline(X509_REQ_get_subject_name(req), subj, sizeof subj);
        assert_string_equal(subj, "/O=system:nodes/CN=system:node:node-a");
        EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
        assert_int_equal(X509_REQ_verify(req, pub), 1);
        assert_int_equal(EVP_PKEY_get_bits(pub), 256);
        assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
        EVP_PKEY *k = read_key(key);
        assert_non_null(k);
        assert_int_equal(EVP_PKEY_eq(k, pub), 1);
        EVP_PKEY_free(k);
        X509_REQ_free(req);
        free(csr);
        cert_secret_free(key);
}

/* A serving CSR (serverTLSBootstrap): the node's addresses as subjectAltNames, DNS names then IPs; a
 * certificate carrying them satisfies the addresses, one missing any does not. */
static void test_serving_csr(void **state)
{
        char *dns[] = {"node-a", "node-a.example", NULL}, *ips[] = {"10.0.0.5", "fd00::1", NULL};
        char *csr = NULL, *key = NULL;
        assert_int_equal(cert_make_csr("node-a", dns, ips, &csr, &key), 0);
        BIO *b = BIO_new_mem_buf(csr, -1);
        X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        BIO_free(b);
        assert_non_null(req);
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        GENERAL_NAMES *names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
        assert_non_null(names);
        assert_int_equal(sk_GENERAL_NAME_num(names), 4);
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, 1);
        assert_int_equal(g->type, GEN_DNS);
        assert_memory_equal(ASN1_STRING_get0_data(g->d.dNSName), "node-a.example", 14);
        g = sk_GENERAL_NAME_value(names, 2);
        assert_int_equal(g->type, GEN_IPADD);
        assert_int_equal(ASN1_STRING_length(g->d.iPAddress), 4);
        g = sk_GENERAL_NAME_value(names, 3);
        assert_int_equal(ASN1_STRING_length(g->d.iPAddress), 16);

        /* A certificate with the CSR's extensions (as a signer copies them). */
        EVP_PKEY *k = read_key(key);
        X509 *x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 2);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, k);
        X509_set_subject_name(x, X509_REQ_get_subject_name(req));
        X509_set_issuer_name(x, X509_REQ_get_subject_name(req));
        for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
                X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1);
        assert_true(X509_sign(x, k, EVP_sha256()) > 0);
        BIO *o = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(o, x);
        char *p;
        long n = BIO_get_mem_data(o, &p);
        assert_true(cert_has_sans(p, (size_t) n, dns, ips));
        char *fewer_ips[] = {"10.0.0.5", NULL}, *other_ip[] = {"10.0.0.6", NULL},
             *other_dns[] = {"node-b", NULL};
        assert_true(cert_has_sans(p, (size_t) n, NULL, fewer_ips));
        assert_false(cert_has_sans(p, (size_t) n, NULL, other_ip));
        assert_false(cert_has_sans(p, (size_t) n, other_dns, NULL));
        assert_false(cert_has_sans("not a certificate", 17, NULL, NULL));
        /* No names asked for: any certificate will do; a client CSR has none. */
        char *plain = self_signed(k, 0, 60);
        assert_true(cert_has_sans(plain, strlen(plain), NULL, NULL));
        assert_false(cert_has_sans(plain, strlen(plain), NULL, fewer_ips));
        free(plain);
        BIO_free(o);
        X509_free(x);
        EVP_PKEY_free(k);
        GENERAL_NAMES_free(names);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        X509_REQ_free(req);
        free(csr);
        cert_secret_free(key);

        char *bad[] = {"not-an-ip", NULL};
        csr = key = NULL;
        assert_int_equal(cert_make_csr("node-a", NULL, bad, &csr, &key), -EINVAL);
        assert_null(csr);
}

static void test_usable(void **state)
{
        char *csr, *key, *csr2, *key2;
        const char *why;
        assert_int_equal(cert_make_csr("n", NULL, NULL, &csr, &key), 0);
        assert_int_equal(cert_make_csr("n", NULL, NULL, &csr2, &key2), 0);
        EVP_PKEY *k = read_key(key);
        int64_t now = (int64_t) time(NULL);
        char *good = self_signed(k, -60, 3600), *expired = self_signed(k, -7200, 3600),
             *future = self_signed(k, 3600, 3600);

        assert_int_equal(cert_pair_usable(good, strlen(good), key, strlen(key), now, &why), 0);
        assert_int_equal(cert_pair_usable(expired, strlen(expired), key, strlen(key), now, &why),
                         -EKEYEXPIRED);
        assert_string_equal(why, "the certificate has expired");
        assert_int_equal(cert_pair_usable(future, strlen(future), key, strlen(key), now, &why),
                         -EKEYEXPIRED);
        assert_string_equal(why, "the certificate is not valid yet");
        assert_int_equal(cert_pair_usable(good, strlen(good), key2, strlen(key2), now, &why), -EINVAL);
        assert_string_equal(why, "the key does not match the certificate");
        assert_int_equal(cert_pair_usable("junk", 4, key, strlen(key), now, &why), -EINVAL);
        assert_int_equal(cert_pair_usable(good, strlen(good), "junk", 4, now, &why), -EINVAL);
        /* the validity as the deadline needs it */
        int64_t nb, na;
        assert_int_equal(cert_validity(good, strlen(good), &nb, &na), 0);
        assert_true(nb >= now - 61 && nb <= now - 59);
        assert_int_equal(na - nb, 3600);
        /* the exact second of expiry is expired (Go: now.After(notAfter) is false, but a second is nothing) */
        assert_int_equal(cert_pair_usable(good, strlen(good), key, strlen(key), na, &why), -EKEYEXPIRED);
        assert_int_equal(cert_pair_usable(good, strlen(good), key, strlen(key), na - 1, &why), 0);

        EVP_PKEY_free(k);
        free(good);
        free(expired);
        free(future);
        free(csr);
        free(csr2);
        cert_secret_free(key);
        cert_secret_free(key2);
}

static void test_store(void **state)
{
        char dir[] = "/tmp/test-certificate.XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *pki = strdup_printf("%s/pki", dir);
        char *csr, *key, *path = NULL;
        assert_int_equal(cert_make_csr("n", NULL, NULL, &csr, &key), 0);
        EVP_PKEY *k = read_key(key);
        char *crt = self_signed(k, -60, 3600);

        assert_int_equal(cert_store_read(pki, "kubelet-client", &(char *){NULL}, &(size_t){0},
                                         &(char *){NULL}, &(size_t){0}),
                         -ENOENT);
        assert_int_equal(cert_store_write(pki, "kubelet-client", crt, key, time(NULL), &path), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_free_ char *link = strdup_printf("%s/kubelet-client-current.pem", pki);
        char target[PATH_MAX] = "";
        assert_true(readlink(link, target, sizeof target - 1) > 0);
        assert_string_equal(target, path);
        char *c2, *k2;
        size_t c2l, k2l;
        assert_int_equal(cert_store_read(pki, "kubelet-client", &c2, &c2l, &k2, &k2l), 0);
        assert_string_equal(c2, crt);
        assert_string_equal(k2, key);
        const char *why;
        assert_int_equal(cert_pair_usable(c2, c2l, k2, k2l, (int64_t) time(NULL), &why), 0);

        /* the kubeconfig that points at the link, read back by cubelet's own parser */
        _cleanup_free_ char *kc = strdup_printf("%s/kubelet.conf", dir);
        assert_int_equal(cert_write_kubeconfig(kc, "https://127.0.0.1:6443", "/etc/kubernetes/pki/ca.crt",
                                               NULL, 0, false, link),
                         0);
        assert_int_equal(stat(kc, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        struct kube_auth a = {0};
        char *err = NULL;
        assert_int_equal(kubeconfig_load(kc, &a, &err), 0);
        assert_string_equal(a.server, "https://127.0.0.1:6443");
        assert_string_equal(a.ca_file, "/etc/kubernetes/pki/ca.crt");
        assert_string_equal(a.cert_file, link);
        assert_string_equal(a.key_file, link);
        kube_auth_clear(&a);
        /* embedded CA data */
        assert_int_equal(cert_write_kubeconfig(kc, "https://h:1", NULL, crt, strlen(crt), false, link), 0);
        assert_int_equal(kubeconfig_load(kc, &a, &err), 0);
        assert_non_null(a.ca_data);
        assert_memory_equal(a.ca_data, crt, strlen(crt));
        kube_auth_clear(&a);

        EVP_PKEY_free(k);
        free(crt);
        free(csr);
        free(path);
        free(c2);
        cert_secret_free(k2);
        cert_secret_free(key);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_split(void **state)
{
        const char *both = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"
                           "-----BEGIN EC PRIVATE KEY-----\nBBB\n-----END EC PRIVATE KEY-----\n";
        char *c, *k;
        size_t cl, kl;
        assert_int_equal(cert_pem_split(both, strlen(both), &c, &cl, &k, &kl), 0);
        assert_string_equal(c, "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n");
        assert_string_equal(k, "-----BEGIN EC PRIVATE KEY-----\nBBB\n-----END EC PRIVATE KEY-----\n");
        free(c);
        cert_secret_free(k);
        const char *only = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
        assert_int_equal(cert_pem_split(only, strlen(only), &c, &cl, &k, &kl), -EINVAL);
        assert_int_equal(cert_pem_split("", 0, &c, &cl, &k, &kl), -EINVAL);
}

static json_t *csr_json(const char *conds, const char *cert_b64)
{
        _cleanup_free_ char *s = strdup_printf(
                "{\"metadata\":{\"name\":\"csr-1\"},\"status\":{\"conditions\":%s%s%s%s}}", conds,
                cert_b64 ? ",\"certificate\":\"" : "", cert_b64 ? cert_b64 : "", cert_b64 ? "\"" : "");
        json_t *j = json_loads(s, 0, NULL);
        assert_non_null(j);
        return j;
}

static void test_csr_state(void **state)
{
        char msg[512], *cert = NULL;
        bool approved;
        json_t *j = csr_json("[]", NULL);
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), 0);
        assert_false(approved);
        json_decref(j);

        j = csr_json("[{\"type\":\"Approved\",\"status\":\"True\",\"reason\":\"AutoApproved\"}]", NULL);
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), 0);
        assert_true(approved);
        json_decref(j);

        j = csr_json(
                "[{\"type\":\"Denied\",\"status\":\"True\",\"reason\":\"Nope\",\"message\":\"not you\"}]",
                NULL);
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), -EACCES);
        assert_string_equal(
                msg, "the certificate signing request was denied, reason: \"Nope\", message: \"not you\"");
        json_decref(j);

        j = csr_json("[{\"type\":\"Approved\",\"status\":\"True\"},{\"type\":\"Failed\",\"status\":\"True\","
                     "\"reason\":"
                     "\"SignerValidationFailure\",\"message\":\"bad usages\"}]",
                     NULL);
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), -EIO);
        assert_non_null(strstr(msg, "failed, reason: \"SignerValidationFailure\""));
        json_decref(j);

        /* "-----BEGIN CERTIFICATE-----\n" in base64 */
        j = csr_json("[{\"type\":\"Approved\",\"status\":\"True\"}]",
                     "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==");
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), 1);
        assert_string_equal(cert, "-----BEGIN CERTIFICATE-----\n");
        free(cert);
        cert = NULL;
        json_decref(j);

        /* issued but not approved: not taken */
        j = csr_json("[]", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==");
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), 0);
        json_decref(j);

        j = csr_json("[{\"type\":\"Approved\",\"status\":\"True\"}]", "bm90IGEgY2VydA==");
        assert_int_equal(cert_csr_state(j, &cert, &approved, msg, sizeof msg), -EIO);
        json_decref(j);
}

static void write_str(const char *path, const char *s)
{
        assert_int_equal(write_file_atomic(path, s, strlen(s), 0600), 0);
}

/* Which credentials the clients start with (cert_manager_new's decision). */
static void test_start_decision(void **state)
{
        char dir[] = "/tmp/test-certificate.XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *pki = strdup_printf("%s/pki", dir), *kc = strdup_printf("%s/kubelet.conf", dir),
                            *boot = strdup_printf("%s/bootstrap.conf", dir),
                            *link = strdup_printf("%s/kubelet-client-current.pem", pki);
        write_str(boot, "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                        "clusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\", "
                        "certificate-authority: /etc/ca.crt}}]\n"
                        "users: [{name: u, user: {token: abcdef.0123456789abcdef}}]\n"
                        "contexts: [{name: b, context: {cluster: c, user: u}}]\n");
        struct cert_manager_config cfg = {.kubeconfig = kc,
                                          .bootstrap_kubeconfig = boot,
                                          .cert_dir = pki,
                                          .node_name = "n",
                                          .rotate = true};
        struct kube_auth a = {0};
        struct cert_manager *m = NULL;
        bool pending;
        char *err = NULL;

        /* nothing yet: pending, the bootstrap kubeconfig's server and CA, no credentials */
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_true(pending);
        assert_non_null(m);
        assert_string_equal(a.server, "https://10.0.0.1:6443");
        assert_string_equal(a.ca_file, "/etc/ca.crt");
        assert_null(a.cert_data);
        assert_null(a.token);
        kube_auth_clear(&a);
        m = cert_manager_free(m);

        /* a valid pair in the cert dir: used, and the missing kubeconfig is written to point at it */
        char *csr, *key;
        assert_int_equal(cert_make_csr("n", NULL, NULL, &csr, &key), 0);
        EVP_PKEY *k = read_key(key);
        char *good = self_signed(k, -60, 3600), *expired = self_signed(k, -7200, 3600);
        assert_int_equal(cert_store_write(pki, "kubelet-client", good, key, time(NULL), NULL), 0);
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_false(pending);
        assert_non_null(a.cert_data);
        assert_string_equal(a.cert_data, good);
        assert_string_equal(a.key_data, key);
        kube_auth_clear(&a);
        m = cert_manager_free(m);
        struct kube_auth w = {0};
        assert_int_equal(kubeconfig_load(kc, &w, &err), 0);
        assert_string_equal(w.server, "https://10.0.0.1:6443");
        assert_string_equal(w.cert_file, link);
        kube_auth_clear(&w);

        /* the pair has expired: pending again (the bootstrap credentials take over) */
        assert_int_equal(cert_store_write(pki, "kubelet-client", expired, key, time(NULL) + 1, NULL), 0);
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_true(pending);
        assert_null(a.cert_data);
        kube_auth_clear(&a);
        m = cert_manager_free(m);

        /* no bootstrap kubeconfig and no rotation: the kubeconfig as it is, nothing managed */
        cfg.bootstrap_kubeconfig = NULL;
        cfg.rotate = false;
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_false(pending);
        assert_null(m);
        assert_string_equal(a.cert_file, link);
        kube_auth_clear(&a);

        /* a token kubeconfig: nothing to manage */
        write_str(kc, "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                      "clusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\"}}]\n"
                      "users: [{name: u, user: {token: t}}]\n"
                      "contexts: [{name: b, context: {cluster: c, user: u}}]\n");
        cfg.bootstrap_kubeconfig = boot;
        cfg.rotate = true;
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_false(pending);
        assert_null(m);
        assert_string_equal(a.token, "t");
        kube_auth_clear(&a);

        /* kubeadm init's kubelet.conf: the pair embedded, no bootstrap kubeconfig, an empty cert dir, rotation
         * on: the pair is used, becomes the store's current pair (kubeadm's kubelet-finalize looks for
         * kubelet-client-current.pem) and is rotated at once, as upstream's certificate manager does */
        assert_int_equal(rm_rf(pki), 0);
        size_t gl = strlen(good), kl = strlen(key);
        _cleanup_free_ char *g64 = calloc(1, 4 * (gl / 3 + 1) + 1), *k64 = calloc(1, 4 * (kl / 3 + 1) + 1);
        assert_true(g64 && k64);
        EVP_EncodeBlock((unsigned char *) g64, (const unsigned char *) good, (int) gl);
        EVP_EncodeBlock((unsigned char *) k64, (const unsigned char *) key, (int) kl);
        _cleanup_free_ char *embedded = strdup_printf(
                "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                "clusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\"}}]\n"
                "users: [{name: u, user: {client-certificate-data: %s, client-key-data: %s}}]\n"
                "contexts: [{name: b, context: {cluster: c, user: u}}]\n",
                g64, k64);
        write_str(kc, embedded);
        cfg.bootstrap_kubeconfig = NULL;
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_false(pending);
        assert_non_null(m);
        assert_true(cert_manager_rotates_at_once(m));
        assert_string_equal(a.cert_data, good);
        kube_auth_clear(&a);
        m = cert_manager_free(m);
        /* stopped before that rotation (kubeadm restarts the kubelet after kubelet-finalize): the stored
         * pair is still rotated at once when the next start finds it, until a rotation succeeded */
        _cleanup_free_ char *mark = strdup_printf("%s/cubelet-client-unrotated", pki);
        assert_int_equal(access(mark, F_OK), 0);
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_true(cert_manager_rotates_at_once(m));
        kube_auth_clear(&a);
        m = cert_manager_free(m);
        assert_int_equal(unlink(mark), 0);
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_false(cert_manager_rotates_at_once(m));
        kube_auth_clear(&a);
        m = cert_manager_free(m);
        char *sc = NULL, *sk = NULL;
        size_t scl, skl;
        assert_int_equal(cert_store_read(pki, "kubelet-client", &sc, &scl, &sk, &skl), 0);
        assert_string_equal(sc, good);
        assert_string_equal(sk, key);
        free(sc);
        cert_secret_free(sk);

        /* the same pair named as files: used as it is, nothing copied into the store (upstream copies only
         * embedded data) */
        assert_int_equal(rm_rf(pki), 0);
        _cleanup_free_ char *cf = strdup_printf("%s/client.crt", dir),
                            *kf = strdup_printf("%s/client.key", dir);
        write_str(cf, good);
        write_str(kf, key);
        _cleanup_free_ char *files =
                strdup_printf("apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                              "clusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\"}}]\n"
                              "users: [{name: u, user: {client-certificate: %s, client-key: %s}}]\n"
                              "contexts: [{name: b, context: {cluster: c, user: u}}]\n",
                              cf, kf);
        write_str(kc, files);
        assert_int_equal(cert_manager_new(&cfg, &a, &pending, &m, &err), 0);
        assert_false(pending);
        assert_string_equal(a.cert_data, good);
        kube_auth_clear(&a);
        m = cert_manager_free(m);
        assert_int_equal(cert_store_read(pki, "kubelet-client", &sc, &scl, &sk, &skl), -ENOENT);

        /* a bootstrap kubeconfig that cannot be read: the error names it */
        assert_int_equal(unlink(kc), 0);
        cfg.bootstrap_kubeconfig = "/nonexistent/bootstrap.conf";
        assert_true(cert_manager_new(&cfg, &a, &pending, &m, &err) < 0);
        assert_non_null(strstr(err, "/nonexistent/bootstrap.conf"));
        free(err);

        EVP_PKEY_free(k);
        free(good);
        free(expired);
        free(csr);
        cert_secret_free(key);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_deadline_bounds),
                cmocka_unit_test(test_file_name),
                cmocka_unit_test(test_csr),
                cmocka_unit_test(test_serving_csr),
                cmocka_unit_test(test_usable),
                cmocka_unit_test(test_store),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_csr_state),
                cmocka_unit_test(test_start_decision),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
