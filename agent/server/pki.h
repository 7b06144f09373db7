/* The node server's certificate when none is configured: a self-signed one made on first start and kept in
 * <root>/pki (cubelet.crt, cubelet.key), as upstream's kubelet does. */
#pragma once

/* Makes dir/cubelet.{crt,key} unless both exist; returns their paths. The certificate names the node
 * (DNS), localhost and ip (when given) as subject alternative names. */
int pki_ensure_self_signed(const char *dir, const char *node_name, const char *ip, char **ret_cert,
                           char **ret_key);
