/* The manifest URL source (upstream's config/http.go): a Pod or PodList read from staticPodURL every
 * httpCheckFrequency on a thread of its own, fed to podconfig as the "http" source. */
#pragma once

#include <stdint.h>

struct podconfig;
struct url_source;

struct url_source_config {
        const char *url;
        char *const *headers; /* "Name:value", in order (repeated names are sent in order); NULL: none */
        const char *node_name;
        int64_t period_ms;  /* httpCheckFrequency: the wait after one read ends and the next begins */
        int64_t timeout_ms; /* one read, redirects and body included; <= 0: upstream's 10 s */
        struct podconfig *pc;
        /* The source gave podconfig its first set (sources-ready); once, from the source's thread. */
        void (*first_set)(void *userdata);
        void *userdata;
};

/* Starts the thread; its first read begins at once. A read that fails (unreachable, an HTTP status other
 * than 200, a bad document) keeps the pods of the last good read; an empty body is an empty set, as
 * upstream. Until a read gives a set, the source has not spoken. */
int url_source_start(const struct url_source_config *cfg, struct url_source **ret);
/* Stops the thread (a read in flight is aborted within about a second) and frees. NULL is fine. */
void url_source_stop(struct url_source *s);
