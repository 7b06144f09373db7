/* The certificate managers: the client certificate's TLS bootstrap and rotation, the serving certificate's
 * requests and rotation, each on a thread of its own. */
#include "cert_manager.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certutil.h"
#include "client.h"
#include "log.h"
#include "util.h"

#define WAIT_TIMEOUT_MS (15 * 60 * 1000) /* upstream's certificateWaitTimeout */
#define BACKOFF_MIN_MS  2000
#define BACKOFF_MAX_MS  (5 * 60 * 1000)
#define REQUEST_MS      30000
#define PEM_MAX_BYTES   (1u << 20)

struct cert_manager {
        struct cert_manager_config cfg;
        char *kubeconfig, *bootstrap_kubeconfig, *cert_dir, *node_name;
        char *fallback_cert_file, *fallback_key_file; /* serving: tlsCertFile, tlsPrivateKeyFile */
        bool serving;                                 /* the serving certificate, not the client one */
        char **dns_names, **ips;                      /* serving: the subjectAltNames */
        struct kube_auth base;                        /* server and CA of the API clients, no credentials */
        /* the pair in use: the manager's thread only */
        char *cert, *key;
        size_t cert_len, key_len;
        int64_t not_before, not_after;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        bool retry_now;  /* guarded by lock: a back-off ends at once */
        bool rotate_now; /* the manager's thread: the pair in use does not name the addresses */
        /* the CSR being waited for (guarded by lock) */
        char *csr_name;
        json_t *csr_obj;
        char csr_watch_err[512]; /* the watch's last failure, for the timeout's message */
};

static void set_pair(struct cert_manager *m, char *cert, size_t cert_len, char *key, size_t key_len)
{
        free(m->cert);
        cert_secret_free(m->key);
        m->cert = cert;
        m->cert_len = cert_len;
        m->key = key;
        m->key_len = key_len;
        if (cert_validity(cert, cert_len, &m->not_before, &m->not_after) < 0)
                m->not_before = m->not_after = 0;
}

/* The pair a kubeconfig names (data or files), if both can be read. */
static int auth_pair(const struct kube_auth *a, char **ret_cert, size_t *ret_cert_len, char **ret_key,
                     size_t *ret_key_len)
{
        _cleanup_free_ char *cert = NULL;
        char *key = NULL;
        size_t cl, kl;
        int r;
        if (a->cert_data)
                cert = xstrdup(a->cert_data), cl = a->cert_data_len;
        else if (!a->cert_file)
                return -ENOENT;
        else if ((r = read_file_limit(a->cert_file, PEM_MAX_BYTES, &cert, &cl)) < 0)
                return r;
        if (a->key_data)
                key = xstrdup(a->key_data), kl = a->key_data_len;
        else if (!a->key_file)
                return -ENOENT;
        else if ((r = read_file_limit(a->key_file, PEM_MAX_BYTES, &key, &kl)) < 0)
                return r;
        /* kubelet-client-current.pem holds both: the certificate and the key taken apart. */
        _cleanup_free_ char *both = NULL;
        if (kl == cl && memcmp(cert, key, cl) == 0)
                both = xstrdup(cert);
        else
                both = strdup_printf("%s\n%s", cert, key);
        size_t bl = strlen(both);
        r = cert_pem_split(both, bl, ret_cert, ret_cert_len, ret_key, ret_key_len);
        explicit_bzero(both, bl);
        explicit_bzero(key, kl);
        free(key);
        return r;
}

static bool usable(const char *cert, size_t cl, const char *key, size_t kl, const char **why)
{
        return cert_pair_usable(cert, cl, key, kl, (int64_t) time(NULL), why) >= 0;
}

/* The base auth (server, CA) copied from a kubeconfig, without credentials. */
static void take_base(struct cert_manager *m, const struct kube_auth *a)
{
        kube_auth_clear(&m->base);
        m->base.server = xstrdup(a->server);
        m->base.ca_file = xstrdup(a->ca_file);
        if (a->ca_data) {
                m->base.ca_data = OOM_CHECK(malloc(a->ca_data_len + 1));
                memcpy(m->base.ca_data, a->ca_data, a->ca_data_len);
                m->base.ca_data[a->ca_data_len] = 0;
                m->base.ca_data_len = a->ca_data_len;
        }
        m->base.insecure = a->insecure;
        m->base.context = xstrdup(a->context);
}

static void copy_auth(const struct kube_auth *from, struct kube_auth *to)
{
        *to = (struct kube_auth){
                .server = xstrdup(from->server),
                .ca_file = xstrdup(from->ca_file),
                .insecure = from->insecure,
                .context = xstrdup(from->context),
        };
        if (from->ca_data) {
                to->ca_data = OOM_CHECK(malloc(from->ca_data_len + 1));
                memcpy(to->ca_data, from->ca_data, from->ca_data_len);
                to->ca_data[from->ca_data_len] = 0;
                to->ca_data_len = from->ca_data_len;
        }
}

static struct cert_manager *manager_alloc(const struct cert_manager_config *cfg)
{
        struct cert_manager *m = OOM_CHECK(calloc(1, sizeof *m));
        m->cfg = *cfg;
        m->kubeconfig = xstrdup(cfg->kubeconfig);
        m->bootstrap_kubeconfig = xstrdup(cfg->bootstrap_kubeconfig);
        m->cert_dir = xstrdup(cfg->cert_dir);
        m->node_name = xstrdup(cfg->node_name);
        m->cfg.kubeconfig = m->kubeconfig;
        m->cfg.bootstrap_kubeconfig = m->bootstrap_kubeconfig;
        m->cfg.cert_dir = m->cert_dir;
        m->cfg.node_name = m->node_name;
        m->cfg.dns_names = m->cfg.ips = NULL;
        for (size_t i = 0; cfg->dns_names && cfg->dns_names[i]; i++)
                strv_push(&m->dns_names, xstrdup(cfg->dns_names[i]));
        for (size_t i = 0; cfg->ips && cfg->ips[i]; i++)
                strv_push(&m->ips, xstrdup(cfg->ips[i]));
        if (m->cfg.wait_timeout_ms <= 0)
                m->cfg.wait_timeout_ms = WAIT_TIMEOUT_MS;
        pthread_mutex_init(&m->lock, NULL);
        cond_init_monotonic(&m->cond);
        return m;
}

bool cert_manager_rotates_at_once(const struct cert_manager *m)
{
        return m && m->rotate_now;
}

/* A file beside the store's pairs while the current client pair is the kubeconfig's, not yet rotated. */
#define UNROTATED_MARK "cubelet-client-unrotated"

static bool unrotated_marked(const char *cert_dir)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", cert_dir, UNROTATED_MARK);
        return access(p, F_OK) == 0;
}

static void unrotated_mark(const char *cert_dir, bool on)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", cert_dir, UNROTATED_MARK);
        int r = on ? mkdir_p(cert_dir, 0755) : 0; /* as cert_store_write does */
        if (r >= 0)
                r = on ? write_file_atomic(p, "", 0, 0600) : (unlink(p) < 0 && errno != ENOENT ? -errno : 0);
        if (r < 0)
                log_warn("Cannot mark the client certificate's rotation", "path=\"%s\" err=\"%s\"", p,
                         strerror(-r));
}

int cert_manager_new(const struct cert_manager_config *cfg, struct kube_auth *ret_auth, bool *ret_pending,
                     struct cert_manager **ret, char **ret_err)
{
        struct kube_auth kc = {0};
        _cleanup_free_ char *kc_err = NULL;
        bool have_kc = cfg->kubeconfig && access(cfg->kubeconfig, F_OK) == 0;
        char *cert = NULL, *key = NULL;
        size_t cl = 0, kl = 0;
        const char *why = "no client certificate";
        int r;

        *ret = NULL;
        *ret_pending = false;
        *ret_err = NULL;
        if (have_kc && (r = kubeconfig_load(cfg->kubeconfig, &kc, &kc_err)) < 0) {
                if (!cfg->bootstrap_kubeconfig) {
                        *ret_err = TAKE_PTR(kc_err);
                        return r;
                }
                log_warn("The kubeconfig cannot be used; bootstrapping", "err=\"%s\"", log_q(kc_err));
                have_kc = false;
        }
        /* Token credentials, or nothing to manage: the kubeconfig as it is. */
        if (have_kc && (kc.token || (!kc.cert_file && !kc.cert_data))) {
                *ret_auth = kc;
                return 0;
        }
        if (!cfg->bootstrap_kubeconfig && !cfg->rotate) {
                if (!have_kc) {
                        *ret_err = strdup_printf("kubeconfig %s: %s", cfg->kubeconfig, strerror(ENOENT));
                        return -ENOENT;
                }
                *ret_auth = kc;
                return 0;
        }

        struct cert_manager *m = manager_alloc(cfg);
        bool ok = false;
        /* With rotation, the cert dir's current pair first (upstream's file store), else the kubeconfig's. */
        if (cfg->rotate || cfg->bootstrap_kubeconfig) {
                if (cert_store_read(cfg->cert_dir, CERT_PAIR_PREFIX, &cert, &cl, &key, &kl) < 0 ||
                    !(ok = usable(cert, cl, key, kl, &why))) {
                        free(cert);
                        cert_secret_free(key);
                        cert = key = NULL;
                }
        }
        /* The kubeconfig's pair, stored by a cubelet that stopped before it could rotate it (kubeadm
         * restarts the kubelet right after kubelet-finalize): rotated at once still. */
        bool unrotated = ok && cfg->rotate && unrotated_marked(cfg->cert_dir);
        bool from_kc = false;
        if (!ok && have_kc && auth_pair(&kc, &cert, &cl, &key, &kl) >= 0) {
                ok = usable(cert, cl, key, kl, &why);
                /* upstream copies only embedded data into its store; files stay the files */
                from_kc = ok && kc.cert_data && kc.key_data;
                if (!ok)
                        log_warn("The kubeconfig's client certificate cannot be used",
                                 "kubeconfig=\"%s\" why=\"%s\"", cfg->kubeconfig, why);
        }
        if (!ok) {
                free(cert);
                cert_secret_free(key);
                cert = key = NULL;
        }
        if (!ok && !cfg->bootstrap_kubeconfig) {
                /* Nothing to request a certificate with: the kubeconfig as it is, as before; none at all is
                 * the error it was before rotation (never a client without a server). */
                cert_manager_free(m);
                if (!have_kc) {
                        *ret_err = strdup_printf("kubeconfig %s: %s", cfg->kubeconfig, strerror(ENOENT));
                        return -ENOENT;
                }
                *ret_auth = kc;
                return 0;
        }

        /* Where the API server is: the kubeconfig's, else the bootstrap kubeconfig's. */
        if (have_kc && (ok || !cfg->bootstrap_kubeconfig))
                take_base(m, &kc);
        else if (cfg->bootstrap_kubeconfig) {
                struct kube_auth boot = {0};
                _cleanup_free_ char *berr = NULL;
                r = kubeconfig_load(cfg->bootstrap_kubeconfig, &boot, &berr);
                if (r < 0) {
                        *ret_err = strdup_printf("bootstrap %s", berr);
                        kube_auth_wipe(&kc);
                        free(cert);
                        cert_secret_free(key);
                        cert_manager_free(m);
                        return r;
                }
                take_base(m, &boot);
                kube_auth_wipe(&boot);
        } else {
                *ret_err = strdup_printf("kubeconfig %s: %s", cfg->kubeconfig, strerror(ENOENT));
                cert_manager_free(m);
                return -ENOENT;
        }
        kube_auth_wipe(&kc);

        copy_auth(&m->base, ret_auth);
        if (ok) {
                set_pair(m, cert, cl, key, kl);
                if (from_kc && cfg->rotate) {
                        /* As upstream's certificate manager with no pair in its store: the kubeconfig's pair
                         * (kubeadm init writes one into kubelet.conf) becomes the store's current pair, and is
                         * rotated at once, so that kubeadm's kubelet-finalize finds kubelet-client-current.pem
                         * to point kubelet.conf at. */
                        /* The mark first: a cubelet killed between the two still rotates when it
                         * starts again (a mark left behind costs one rotation more). */
                        unrotated_mark(cfg->cert_dir, true);
                        r = cert_store_write(cfg->cert_dir, CERT_PAIR_PREFIX, m->cert, m->key, time(NULL),
                                             NULL);
                        if (r < 0)
                                log_warn("Cannot store the kubeconfig's client certificate",
                                         "certDir=\"%s\" err=\"%s\"", cfg->cert_dir, strerror(-r));
                        m->rotate_now = true;
                }
                if (unrotated)
                        m->rotate_now = true;
                ret_auth->cert_data = xstrdup(m->cert);
                ret_auth->cert_data_len = m->cert_len;
                ret_auth->key_data = xstrdup(m->key);
                ret_auth->key_data_len = m->key_len;
                if (cfg->bootstrap_kubeconfig && !have_kc) {
                        /* A stored pair without a kubeconfig (it was removed): write it, as upstream. */
                        _cleanup_free_ char *link =
                                strdup_printf("%s/%s-current.pem", cfg->cert_dir, CERT_PAIR_PREFIX);
                        r = cert_write_kubeconfig(cfg->kubeconfig, m->base.server, m->base.ca_file,
                                                  m->base.ca_data, m->base.ca_data_len, m->base.insecure,
                                                  link);
                        if (r < 0)
                                log_warn("Cannot write the kubeconfig", "path=\"%s\" err=\"%s\"",
                                         cfg->kubeconfig, strerror(-r));
                }
        } else if (cfg->bootstrap_kubeconfig) {
                *ret_pending = true;
                log_info("No usable client certificate; TLS bootstrap will request one",
                         "kubeconfig=\"%s\" bootstrapKubeconfig=\"%s\" reason=\"%s\"", cfg->kubeconfig,
                         cfg->bootstrap_kubeconfig, have_kc ? why : "no kubeconfig");
        }
        *ret = m;
        return 0;
}

/* The pair at prefix in the cert dir, else the files, if usable: 0 with it, else -errno with why. */
static int serving_pair(struct cert_manager *m, char **cert, size_t *cl, char **key, size_t *kl,
                        const char **why)
{
        *why = "none in the cert dir";
        if (cert_store_read(m->cert_dir, CERT_SERVER_PAIR_PREFIX, cert, cl, key, kl) >= 0) {
                if (usable(*cert, *cl, *key, *kl, why))
                        return 0;
                free(*cert);
                cert_secret_free(*key);
                *cert = *key = NULL;
        }
        const char *cf = m->cfg.fallback_cert_file, *kf = m->cfg.fallback_key_file;
        if (!cf || !kf)
                return -ENOENT;
        if (read_file_limit(cf, PEM_MAX_BYTES, cert, cl) < 0 ||
            read_file_limit(kf, PEM_MAX_BYTES, key, kl) < 0) {
                *why = "tlsCertFile or tlsPrivateKeyFile cannot be read";
        } else if (usable(*cert, *cl, *key, *kl, why))
                return 0;
        free(*cert);
        cert_secret_free(*key);
        *cert = *key = NULL;
        return -EINVAL;
}

struct cert_manager *cert_manager_new_serving(const struct cert_manager_config *cfg)
{
        struct cert_manager *m = manager_alloc(cfg);
        char *cert = NULL, *key = NULL;
        size_t cl = 0, kl = 0;
        const char *why;
        m->serving = true;
        m->cfg.rotate = true;
        m->cfg.fallback_cert_file = m->cfg.fallback_key_file = NULL;
        if (cfg->fallback_cert_file && cfg->fallback_key_file) {
                m->fallback_cert_file = xstrdup(cfg->fallback_cert_file);
                m->fallback_key_file = xstrdup(cfg->fallback_key_file);
                m->cfg.fallback_cert_file = m->fallback_cert_file;
                m->cfg.fallback_key_file = m->fallback_key_file;
        }
        if (serving_pair(m, &cert, &cl, &key, &kl, &why) < 0) {
                log_info("No usable serving certificate; one will be requested",
                         "certDir=\"%s\" reason=\"%s\"", m->cert_dir, why);
                return m;
        }
        /* Served meanwhile, as upstream; one that does not name the node's addresses is replaced at once. */
        set_pair(m, cert, cl, key, kl);
        if (!cert_has_sans(m->cert, m->cert_len, m->dns_names, m->ips)) {
                m->rotate_now = true;
                log_info("The serving certificate does not name the node's addresses; a new one will be "
                         "requested",
                         "certDir=\"%s\"", m->cert_dir);
        }
        if (m->cfg.on_cert)
                m->cfg.on_cert(m->cfg.userdata, m->cert, m->cert_len, m->key, m->key_len);
        return m;
}

void cert_manager_retry_now(struct cert_manager *m)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        m->retry_now = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
}

/* ---- CSRs ------------------------------------------------------------------------------------------- */

static int cond_of(json_t *csr, const char *type, const char **ret_reason, const char **ret_message)
{
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(csr, "status"), "conditions"), i, c)
        {
                if (!streq_ptr(json_string_value(json_object_get(c, "type")), type))
                        continue;
                const char *st = json_string_value(json_object_get(c, "status"));
                if (st && !streq(st, "True"))
                        continue;
                *ret_reason = json_string_value(json_object_get(c, "reason")) ?: "";
                *ret_message = json_string_value(json_object_get(c, "message")) ?: "";
                return 1;
        }
        return 0;
}

int cert_csr_state(json_t *csr, char **ret_cert, bool *ret_approved, char *msg, size_t msg_len)
{
        const char *reason, *message;
        *ret_approved = false;
        if (cond_of(csr, "Denied", &reason, &message)) {
                snprintf(msg, msg_len,
                         "the certificate signing request was denied, reason: \"%s\", message: \"%s\"",
                         reason, message);
                return -EACCES;
        }
        if (cond_of(csr, "Failed", &reason, &message)) {
                snprintf(msg, msg_len,
                         "the certificate signing request failed, reason: \"%s\", message: \"%s\"", reason,
                         message);
                return -EIO;
        }
        *ret_approved = cond_of(csr, "Approved", &reason, &message);
        const char *b64 = json_string_value(json_object_get(json_object_get(csr, "status"), "certificate"));
        if (!*ret_approved || !b64 || !*b64)
                return 0;
        char *pem = NULL;
        size_t len;
        if (base64_decode(b64, &pem, &len) < 0 || !strstr(pem, "-----BEGIN CERTIFICATE")) {
                free(pem);
                snprintf(msg, msg_len, "the issued certificate is not a PEM certificate");
                return -EIO;
        }
        *ret_cert = pem;
        return 1;
}

static void csr_seen(struct cert_manager *m, json_t *obj)
{
        const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        pthread_mutex_lock(&m->lock);
        if (m->csr_name && streq_ptr(name, m->csr_name)) {
                json_decref(m->csr_obj);
                m->csr_obj = json_incref(obj);
                pthread_cond_broadcast(&m->cond);
        }
        pthread_mutex_unlock(&m->lock);
}

static void csr_on_list(void *ud, json_t *items)
{
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) csr_seen(ud, it);
}

static void csr_on_state(void *ud, const char *err)
{
        struct cert_manager *m = ud;
        pthread_mutex_lock(&m->lock);
        snprintf(m->csr_watch_err, sizeof m->csr_watch_err, "%s", err ? err : "");
        pthread_mutex_unlock(&m->lock);
}

static void csr_on_event(void *ud, const char *type, json_t *obj)
{
        if (!streq(type, "DELETED"))
                csr_seen(ud, obj);
}

/* The client a CSR is posted with: the current pair while it is valid, else the bootstrap credentials (an
 * expired certificate falls back to them, as upstream). */
static int csr_client(struct cert_manager *m, bool *ret_bootstrap, struct kube_client **ret, char *err,
                      size_t errlen)
{
        const char *why;
        struct kube_auth a = {0};
        if (m->cert && usable(m->cert, m->cert_len, m->key, m->key_len, &why)) {
                copy_auth(&m->base, &a);
                a.cert_data = xstrdup(m->cert);
                a.cert_data_len = m->cert_len;
                a.key_data = xstrdup(m->key);
                a.key_data_len = m->key_len;
                *ret_bootstrap = false;
        } else if (m->bootstrap_kubeconfig) {
                _cleanup_free_ char *e = NULL;
                int r = kubeconfig_load(m->bootstrap_kubeconfig, &a, &e);
                if (r < 0) {
                        snprintf(err, errlen, "bootstrap %s", e);
                        return r;
                }
                *ret_bootstrap = true;
        } else {
                snprintf(err, errlen,
                         "the client certificate cannot be used (%s) and there is no "
                         "--bootstrap-kubeconfig",
                         m->cert ? why : "none");
                return -EKEYEXPIRED;
        }
        int r = kube_client_new(&a, 0, 1, ret);
        kube_auth_wipe(&a);
        return r;
}

static json_t *csr_object(const char *csr_pem, bool bootstrap, bool serving)
{
        _cleanup_free_ char *b64 = NULL;
        size_t n = strlen(csr_pem), outn = 4 * ((n + 2) / 3);
        b64 = OOM_CHECK(malloc(outn + 1));
        int w = EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) csr_pem, (int) n);
        b64[w < 0 ? 0 : w] = 0;
        return json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:[s, s, s]}}", "apiVersion",
                         "certificates.k8s.io/v1", "kind", "CertificateSigningRequest", "metadata",
                         "generateName", bootstrap ? "node-csr-" : "csr-", "spec", "request", b64,
                         "signerName", serving ? CERT_SIGNER_KUBELET_SERVING : CERT_SIGNER_KUBELET_CLIENT,
                         "usages", "digital signature", "key encipherment",
                         serving ? "server auth" : "client auth");
}

/* Waits for the named CSR's outcome: 1 with *ret_cert, or an error in err. */
static int csr_wait(struct cert_manager *m, struct kube_client *kc, const char *name, char **ret_cert,
                    char *err, size_t errlen)
{
        _cleanup_free_ char *query = kube_field_selector("metadata.name", name);
        struct kube_watch_ops ops = {
                .on_list = csr_on_list, .on_event = csr_on_event, .on_state = csr_on_state, .userdata = m};
        struct kube_watch *w;
        bool approved = false;
        int r;

        pthread_mutex_lock(&m->lock);
        free(m->csr_name);
        m->csr_name = xstrdup(name);
        m->csr_watch_err[0] = 0;
        pthread_mutex_unlock(&m->lock);
        r = kube_watch_start(kc, "/apis/certificates.k8s.io/v1/certificatesigningrequests", query, &ops, &w);
        if (r < 0) {
                snprintf(err, errlen, "cannot watch the certificate signing request: %s", strerror(-r));
                return r;
        }
        int64_t until = now_mono_ms() + m->cfg.wait_timeout_ms;
        pthread_mutex_lock(&m->lock);
        r = 0;
        while (!m->stop) {
                if (m->csr_obj) {
                        json_t *o = m->csr_obj;
                        m->csr_obj = NULL;
                        r = cert_csr_state(o, ret_cert, &approved, err, errlen);
                        json_decref(o);
                        if (r != 0)
                                break;
                        continue;
                }
                int64_t now = now_mono_ms();
                if (now >= until) {
                        r = -ETIMEDOUT;
                        break;
                }
                cond_wait_ms(&m->cond, &m->lock, until - now);
        }
        if (m->stop && r == 0)
                r = -ECANCELED;
        free(m->csr_name);
        m->csr_name = NULL;
        json_decref(m->csr_obj);
        m->csr_obj = NULL;
        char watch_err[512];
        snprintf(watch_err, sizeof watch_err, "%s", m->csr_watch_err);
        pthread_mutex_unlock(&m->lock);
        kube_watch_stop(w);
        char limit[32];
        format_duration_ms(m->cfg.wait_timeout_ms, limit, sizeof limit);
        if (r == -ETIMEDOUT && approved)
                snprintf(err, errlen,
                         "the certificate signing request was approved but no certificate was issued within "
                         "%s: "
                         "no signer for %s (kube-controller-manager's csrsigning controller) is running",
                         limit, m->serving ? CERT_SIGNER_KUBELET_SERVING : CERT_SIGNER_KUBELET_CLIENT);
        else if (r == -ETIMEDOUT && m->serving) /* kube-controller-manager never approves these */
                snprintf(err, errlen,
                         "the certificate signing request was not approved within %s "
                         "(`kubectl certificate approve %s`, or an approver for %s)",
                         limit, name, CERT_SIGNER_KUBELET_SERVING);
        else if (r == -ETIMEDOUT)
                snprintf(err, errlen,
                         "the certificate signing request was not approved within %s "
                         "(kube-controller-manager's "
                         "csrapproving controller, or `kubectl certificate approve %s`)",
                         limit, name);
        else if (r == -ECANCELED)
                snprintf(err, errlen, "stopped");
        return r;
}

/* One CSR from key to issued pair; on success the pair is written to the cert dir and is the current one. */
static int request_pair(struct cert_manager *m, bool *ret_bootstrap, char *err, size_t errlen)
{
        struct kube_client *kc = NULL;
        _cleanup_free_ char *csr = NULL, *cert = NULL, *path = NULL, *name = NULL;
        char *key = NULL;
        struct kube_response resp = {0};
        const char *why;
        int r;

        /* The serving certificate is asked for with the node's own client (upstream: the kubelet's client) */
        if (m->serving)
                *ret_bootstrap = false;
        else if ((r = csr_client(m, ret_bootstrap, &kc, err, errlen)) < 0)
                return r;
        struct kube_client *client = m->serving ? m->cfg.kube : kc;
        if ((r = cert_make_csr(m->node_name, m->dns_names, m->ips, &csr, &key)) < 0) {
                snprintf(err, errlen, "cannot make a key and a CSR: %s", strerror(-r));
                goto out;
        }
        json_t *obj = csr_object(csr, *ret_bootstrap, m->serving);
        r = kube_request(client, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", obj,
                         NULL, REQUEST_MS, &resp);
        json_decref(obj);
        if (r >= 0 && resp.status != 201)
                r = -EIO;
        if (r < 0) {
                snprintf(err, errlen, "cannot create the certificate signing request: %s", resp.error);
                goto out;
        }
        name = xstrdup(json_string_value(json_object_get(json_object_get(resp.body, "metadata"), "name")));
        kube_response_clear(&resp);
        if (!name) {
                snprintf(err, errlen, "the created certificate signing request has no name");
                r = -EIO;
                goto out;
        }
        if (m->serving)
                log_info("Waiting for the serving certificate", "csr=\"%s\" signerName=\"%s\"", name,
                         CERT_SIGNER_KUBELET_SERVING);
        else
                log_info("Waiting for the client certificate",
                         "csr=\"%s\" signerName=\"%s\" credentials=\"%s\"", name, CERT_SIGNER_KUBELET_CLIENT,
                         *ret_bootstrap ? "bootstrap" : "current certificate");
        if ((r = csr_wait(m, client, name, &cert, err, errlen)) < 0)
                goto out;
        if (cert_pair_usable(cert, strlen(cert), key, strlen(key), (int64_t) time(NULL), &why) < 0) {
                snprintf(err, errlen, "the issued certificate cannot be used: %s", why);
                r = -EINVAL;
                goto out;
        }
        if ((r = cert_store_write(m->cert_dir, m->serving ? CERT_SERVER_PAIR_PREFIX : CERT_PAIR_PREFIX, cert,
                                  key, time(NULL), &path)) < 0) {
                snprintf(err, errlen, "cannot write the certificate to %s: %s", m->cert_dir, strerror(-r));
                goto out;
        }
        if (!m->serving)
                unrotated_mark(m->cert_dir, false);
        size_t cl = strlen(cert), kl = strlen(key);
        set_pair(m, TAKE_PTR(cert), cl, key, kl);
        key = NULL;
        r = 0;
out:
        kube_response_clear(&resp);
        cert_secret_free(key);
        kube_client_free(kc);
        return r;
}

/* ---- the thread ------------------------------------------------------------------------------------- */

/* Waits until the wall clock reaches `when` (Unix seconds) or stop: false when stopped. Rechecked every
 * minute at most, so a suspended machine or a clock step is noticed. */
static bool wait_until(struct cert_manager *m, int64_t when_s)
{
        pthread_mutex_lock(&m->lock);
        while (!m->stop) {
                int64_t left_ms = (when_s - (int64_t) time(NULL)) * 1000;
                if (left_ms <= 0)
                        break;
                cond_wait_ms(&m->cond, &m->lock, MIN(left_ms, (int64_t) 60000));
        }
        bool stopped = m->stop;
        pthread_mutex_unlock(&m->lock);
        return !stopped;
}

/* A back-off: until ms have passed, stop, or cert_manager_retry_now. */
static bool wait_ms(struct cert_manager *m, int64_t ms)
{
        int64_t until = now_mono_ms() + ms;
        pthread_mutex_lock(&m->lock);
        while (!m->stop && !m->retry_now && now_mono_ms() < until)
                cond_wait_ms(&m->cond, &m->lock, until - now_mono_ms());
        m->retry_now = false;
        bool stopped = m->stop;
        pthread_mutex_unlock(&m->lock);
        return !stopped;
}

static double jitter01(void)
{
        uint32_t v;
        if (RAND_bytes((unsigned char *) &v, sizeof v) != 1)
                v = (uint32_t) now_real_ns();
        return (double) v / 4294967296.0;
}

static void log_times(const char *msg, struct cert_manager *m, int64_t deadline)
{
        char exp[32], rot[32];
        struct tm tm;
        time_t t = (time_t) m->not_after;
        strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        t = (time_t) deadline;
        strftime(rot, sizeof rot, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        if (deadline > 0)
                log_info(msg, "expiration=\"%s\" rotationDeadline=\"%s\"", exp, rot);
        else
                log_info(msg, "expiration=\"%s\"", exp);
}

static void *manager_thread(void *arg)
{
        struct cert_manager *m = arg;
        int64_t backoff = 0;
        char err[1536];

        for (;;) {
                bool bootstrapping = !m->cert;
                if (!bootstrapping) {
                        if (!m->cfg.rotate)
                                break; /* bootstrapped; no rotation asked for */
                        int64_t deadline = cert_rotation_deadline(m->not_before, m->not_after, jitter01());
                        if (m->rotate_now)
                                deadline = 0;
                        else
                                log_times(m->serving ? "Serving certificate rotation deadline"
                                                     : "Client certificate rotation deadline",
                                          m, deadline);
                        m->rotate_now = false;
                        if (!wait_until(m, deadline))
                                break;
                }
                for (;;) {
                        bool with_bootstrap = false;
                        err[0] = 0;
                        int r = request_pair(m, &with_bootstrap, err, sizeof err);
                        if (r >= 0)
                                break;
                        if (r == -ECANCELED)
                                goto out;
                        backoff = backoff ? MIN(backoff * 2, (int64_t) BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
                        char next[32];
                        format_duration_ms(backoff, next, sizeof next);
                        log_error(m->serving      ? "Serving certificate request failed, will retry"
                                  : bootstrapping ? "TLS bootstrap failed, will retry"
                                                  : "Client certificate rotation failed, will retry",
                                  "node=\"%s\" err=\"%s\" retryIn=\"%s\"", m->node_name, log_q(err), next);
                        if (!wait_ms(m, backoff))
                                goto out;
                }
                backoff = 0;
                if (bootstrapping && !m->serving) {
                        _cleanup_free_ char *link =
                                strdup_printf("%s/%s-current.pem", m->cert_dir, CERT_PAIR_PREFIX);
                        int r = cert_write_kubeconfig(m->kubeconfig, m->base.server, m->base.ca_file,
                                                      m->base.ca_data, m->base.ca_data_len, m->base.insecure,
                                                      link);
                        if (r < 0)
                                log_error("Cannot write the kubeconfig", "path=\"%s\" err=\"%s\"",
                                          m->kubeconfig, strerror(-r));
                }
                log_times(m->serving && bootstrapping ? "Serving certificate issued"
                          : m->serving                ? "Serving certificate rotated"
                          : bootstrapping             ? "TLS bootstrap: client certificate issued"
                                                      : "Client certificate rotated",
                          m, 0);
                if (m->cfg.on_cert)
                        m->cfg.on_cert(m->cfg.userdata, m->cert, m->cert_len, m->key, m->key_len);
        }
out:
        return NULL;
}

int cert_manager_start(struct cert_manager *m)
{
        if (m->cert && !m->cfg.rotate)
                return 0;
        int r = pthread_create(&m->thread, NULL, manager_thread, m);
        if (r != 0)
                return -r;
        pthread_setname_np(m->thread, "cert-manager");
        m->started = true;
        return 0;
}

struct cert_manager *cert_manager_free(struct cert_manager *m)
{
        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        if (m->started)
                pthread_join(m->thread, NULL);
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        json_decref(m->csr_obj);
        free(m->csr_name);
        free(m->cert);
        cert_secret_free(m->key);
        kube_auth_clear(&m->base);
        free(m->kubeconfig);
        free(m->bootstrap_kubeconfig);
        free(m->cert_dir);
        free(m->node_name);
        free(m->fallback_cert_file);
        free(m->fallback_key_file);
        strv_free(m->dns_names);
        strv_free(m->ips);
        free(m);
        return NULL;
}
