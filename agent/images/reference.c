/* Image reference parsing and normalization (the distribution reference grammar, as upstream uses it). */
#include "reference.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"

#define NAME_MAX_LEN 255 /* NameTotalLengthMax */
#define TAG_MAX_LEN  128

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
        return is_alnum(c) || c == '_';
}

static bool is_hex_lower(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* alpha-numeric (separator alpha-numeric)*, separator = [._] | "__" | "-"+ */
static bool path_component_ok(const char *s, size_t n)
{
        size_t i = 0;
        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == n)
                        return true;
                size_t sep = i;
                if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else if (s[i] == '_' && i + 1 < n && s[i + 1] == '_')
                        i += 2;
                else if (s[i] == '.' || s[i] == '_')
                        i++;
                else
                        return false;
                if (i == sep || i == n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

/* component ('.' component)* (':' port)?, component = [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_ok(const char *s, size_t n)
{
        const char *colon = memchr(s, ':', n);
        size_t host = colon ? (size_t) (colon - s) : n;
        if (colon) {
                if (host + 1 == n)
                        return false;
                for (size_t i = host + 1; i < n; i++)
                        if (s[i] < '0' || s[i] > '9')
                                return false;
        }
        size_t start = 0;
        for (size_t i = 0; i <= host; i++) {
                if (i < host && s[i] != '.')
                        continue;
                size_t len = i - start;
                if (len == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
                        return false;
                for (size_t j = start; j < i; j++)
                        if (!is_alnum(s[j]) && s[j] != '-')
                                return false;
                start = i + 1;
        }
        return true;
}

/* (domain '/')? path-component ('/' path-component)*: the first segment may be either. */
static bool name_ok(const char *s, size_t n)
{
        size_t start = 0;
        bool first = true;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != '/')
                        continue;
                if (!path_component_ok(s + start, i - start)) {
                        if (!first || i == n || !domain_ok(s + start, i - start))
                                return false;
                }
                first = false;
                start = i + 1;
        }
        return true;
}

static bool tag_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > TAG_MAX_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_word(s[i]) && (i == 0 || (s[i] != '.' && s[i] != '-')))
                        return false;
        return true;
}

/* The grammar's digest, then go-digest's check of the algorithms it knows. NULL when fine. */
static const char *digest_problem(const char *d)
{
        const char *colon = strchr(d, ':');
        if (!colon || colon == d)
                return "invalid reference format";
        /* algorithm: [A-Za-z][A-Za-z0-9]* joined by [+._-] */
        bool want_alpha = true;
        for (const char *p = d; p < colon; p++) {
                if (want_alpha) {
                        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                                return "invalid reference format";
                        want_alpha = false;
                } else if (*p == '+' || *p == '.' || *p == '_' || *p == '-')
                        want_alpha = true;
                else if (!is_alnum(*p))
                        return "invalid reference format";
        }
        if (want_alpha)
                return "invalid reference format";
        const char *hex = colon + 1;
        size_t n = strlen(hex);
        if (n < 32)
                return "invalid reference format";
        for (size_t i = 0; i < n; i++)
                if (!is_hex_lower(hex[i]) && !(hex[i] >= 'A' && hex[i] <= 'F'))
                        return "invalid reference format";
        size_t alg = (size_t) (colon - d), want;
        if (alg == 6 && strncmp(d, "sha256", 6) == 0)
                want = 64;
        else if (alg == 6 && strncmp(d, "sha384", 6) == 0)
                want = 96;
        else if (alg == 6 && strncmp(d, "sha512", 6) == 0)
                want = 128;
        else
                return "unsupported digest algorithm";
        if (n != want)
                return "invalid checksum digest length";
        for (size_t i = 0; i < n; i++)
                if (!is_hex_lower(hex[i]))
                        return "invalid checksum digest format";
        return NULL;
}

static int fail(char *err, size_t err_len, const char *why)
{
        snprintf(err, err_len, "%s", why);
        return -EINVAL;
}

int image_ref_parse(const char *image, struct image_ref *ret, char *err, size_t err_len)
{
        size_t len = strlen(image);

        if (len == 64) {
                size_t i = 0;
                while (i < 64 && is_hex_lower(image[i]))
                        i++;
                if (i == 64) {
                        char why[160];
                        snprintf(why, sizeof why,
                                 "invalid repository name (%s), cannot specify 64-byte hexadecimal strings",
                                 image);
                        return fail(err, err_len, why);
                }
        }
        /* splitDockerDomain */
        const char *slash = strchr(image, '/');
        _cleanup_free_ char *domain = NULL;
        const char *rest;
        if (!slash || (!memchr(image, '.', (size_t) (slash - image)) &&
                       !memchr(image, ':', (size_t) (slash - image)) &&
                       !((size_t) (slash - image) == 9 && strncmp(image, "localhost", 9) == 0))) {
                domain = xstrdup("docker.io");
                rest = image;
        } else {
                domain = strndup(image, (size_t) (slash - image));
                if (!domain)
                        abort();
                rest = slash + 1;
        }
        if (streq(domain, "index.docker.io")) {
                free(domain);
                domain = xstrdup("docker.io");
        }
        _cleanup_free_ char *full = NULL;
        if (streq(domain, "docker.io") && !strchr(rest, '/'))
                full = strdup_printf("%s/library/%s", domain, rest);
        else
                full = strdup_printf("%s/%s", domain, rest);
        /* The repository name (up to a tag's ':') must be lowercase. */
        const char *tagsep = strchr(rest, ':');
        for (const char *p = rest; *p && p != tagsep; p++)
                if (*p >= 'A' && *p <= 'Z')
                        return fail(err, err_len,
                                    "invalid reference format: repository name must be lowercase");

        /* Parse: name (':' tag)? ('@' digest)? */
        char *at = strchr(full, '@');
        const char *digest = NULL;
        if (at) {
                *at = '\0';
                digest = at + 1;
                const char *why = digest_problem(digest);
                if (why)
                        return fail(err, err_len, why);
        }
        char *last_slash = strrchr(full, '/');
        char *colon = strrchr(full, ':');
        const char *tag = NULL;
        if (colon && (!last_slash || colon > last_slash)) {
                *colon = '\0';
                tag = colon + 1;
                if (!tag_ok(tag))
                        return fail(err, err_len, "invalid reference format");
        }
        if (!name_ok(full, strlen(full)))
                return fail(err, err_len, "invalid reference format");
        if (strlen(full) > NAME_MAX_LEN)
                return fail(err, err_len, "repository name must not be more than 255 characters");

        *ret = (struct image_ref){
                .repo = xstrdup(full),
                .tag = xstrdup(tag      ? tag
                               : digest ? NULL
                                        : "latest"),
                .digest = xstrdup(digest),
                .tag_defaulted = !tag && !digest,
        };
        return 0;
}

void image_ref_done(struct image_ref *r)
{
        if (!r)
                return;
        free(r->repo);
        free(r->tag);
        free(r->digest);
        *r = (struct image_ref){0};
}
