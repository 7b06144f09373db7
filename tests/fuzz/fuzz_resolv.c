/* libFuzzer target for the node's name files as pods get them (agent/pod/dns.c): the node's resolv.conf
 * (often written by DHCP or a network manager) through each dnsPolicy with the pod's dnsConfig, and the
 * node's /etc/hosts as hostNetwork pods get it. The bytes are both files. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "manifest.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One pod per dnsPolicy, the last two with dnsConfig merged in. */
static const char PODS[] =
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  dnsPolicy: Default\n"
        "  containers: [{name: c, image: i}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  dnsPolicy: ClusterFirst\n"
        "  containers: [{name: c, image: i}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n  hostNetwork: true\n"
        "  dnsPolicy: ClusterFirstWithHostNet\n  hostAliases: [{ip: 10.0.0.1, hostnames: [x]}]\n"
        "  containers: [{name: c, image: i}]\n"
        "  dnsConfig: {nameservers: [1.1.1.1], searches: [a.example, b.example], options: [{name: ndots, "
        "value: '2'}, {name: edns0}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: d}\nspec:\n  dnsPolicy: None\n"
        "  containers: [{name: c, image: i}]\n"
        "  dnsConfig: {nameservers: [8.8.8.8], searches: [s.example]}\n";

static struct manifest_result pods;
static char path[64];

static void remove_file(void)
{
        unlink(path);
}

static void die(const char *what)
{
        fprintf(stderr, "%s\n", what);
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!path[0]) {
                manifest_decode("/etc/fuzz.yaml", PODS, sizeof PODS - 1, "fuzz-node", &pods);
                if (pods.error || pods.n_pods != 4)
                        die(pods.error ? pods.error : "the fuzz target's pods do not decode");
                snprintf(path, sizeof path, "/tmp/fuzz-resolv-%d", (int) getpid());
                atexit(remove_file);
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return 0;
        bool written = write(fd, data, size) == (ssize_t) size;
        close(fd);
        if (!written)
                return 0;

        /* The text itself (a C string: up to the first NUL, as a file is read). */
        char *text = strndup((const char *) data, size);
        struct resolv r = {0};
        char *err = NULL;
        if (!text)
                return 0;
        if (resolv_parse(text, &r, &err) < 0 && !err)
                die("resolv_parse failed without a message");
        free(err);
        resolv_done(&r);
        free(text);

        char *dns[] = {"10.96.0.10", "fd00::a", NULL};
        struct dns_settings s = {.cluster_dns = dns, .cluster_domain = "cluster.local", .resolv_conf = path};
        free(dns_check_resolv_conf(&s));
        for (size_t i = 0; i < pods.n_pods; i++) {
                char **events = NULL;
                err = NULL;
                r = (struct resolv){0};
                /* Within the resolver's limits, whatever the node's file holds. */
                if (pod_dns_config(&s, pods.pods[i], &r, &events, &err) >= 0 &&
                    (strv_length(r.servers) > 3 || strv_length(r.searches) > 6))
                        die("resolver over its limits");
                resolv_done(&r);
                strv_free(events);
                free(err);
        }
        char *hosts = NULL;
        err = NULL;
        if (hosts_node_content(path, pods.pods[2], &hosts, &err) == 0 && !hosts)
                die("hosts_node_content gave nothing");
        free(hosts);
        free(err);
        return 0;
}
