/* A pod's names as upstream's kubelet gives them: its resolver configuration (dnsPolicy, dnsConfig, the
 * cluster DNS), its hostname and domain, and its managed /etc/hosts. Pure apart from reading node files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pod.h"

/* The node's side (clusterDNS, clusterDomain, resolvConf and the node IP). */
struct dns_settings {
        char **cluster_dns;         /* valid IPs only; NULL or empty: none configured */
        const char *cluster_domain; /* NULL or "": none */
        const char *resolv_conf;    /* NULL or "": none (the pod's resolver then points at the node) */
        const char *node_ip;        /* decides 127.0.0.1 or ::1 when resolv_conf is "" */
};

/* A resolver configuration: nameservers, search domains, options ("ndots:5"). strvs, may be NULL. */
struct resolv {
        char **servers, **searches, **options;
};
void resolv_done(struct resolv *r);

/* Parses resolv.conf text as upstream does: nameservers add up, the last search and options lines win,
 * trailing dots of search domains go. A "nameserver" line without an address is an error (*ret_err,
 * upstream's text), and ret is still filled with the rest. */
int resolv_parse(const char *text, struct resolv *ret, char **ret_err);

/* The pod's resolver configuration (upstream's GetPodDNS): the node's file, then the pod's dnsPolicy and
 * the cluster DNS, then spec.dnsConfig merged in, then cut to the resolver's limits. *ret_events gets
 * (reason, message) pairs for the pod's Warning events (MissingClusterDNS, DNSConfigForming). A node file
 * that cannot be read or parsed fails the pod (-errno, *ret_err), as upstream. */
int pod_dns_config(const struct dns_settings *s, const struct pod *pod, struct resolv *ret,
                   char ***ret_events, char **ret_err);

/* Warnings about the node's resolv.conf search line that would leave no room for the cluster's domains
 * (upstream's CheckLimitsForResolvConf); NULL when all is well (caller frees). */
char *dns_check_resolv_conf(const struct dns_settings *s);

/* The pod's hostname (spec.hostname, else its name, cut to 63 characters without a trailing '-' or '.')
 * and domain ("<subdomain>.<namespace>.svc.<clusterDomain>" when spec.subdomain is set, else ""). */
int pod_hostname_domain(const struct pod *pod, const char *cluster_domain, char **ret_hostname,
                        char **ret_domain, char **ret_err);

/* The kernel's hostname for the sandbox: the FQDN with setHostnameAsFQDN and a domain (refused above 64
 * characters with upstream's error), else the hostname. */
int pod_kernel_hostname(const struct pod *pod, const char *cluster_domain, char **ret, char **ret_err);

/* The managed /etc/hosts of a pod on the pod network: localhost entries, one line per pod IP, then the
 * hostAliases (caller frees). */
char *hosts_managed_content(char *const *ips, const char *hostname, const char *domain,
                            const struct pod *pod);
/* A hostNetwork pod's: the node's hosts file under upstream's header, then the hostAliases. */
int hosts_node_content(const char *node_hosts, const struct pod *pod, char **ret, char **ret_err);
