/* What cri.c shares with the other gRPC users in cri/ (events.c): not part of the public API. */
#pragma once

#include <grpc/grpc.h>

/* A channel to a unix-socket runtime with cubelet's settings: calls fail at once while it is absent, it is
 * reconnected within about a second when it comes back, and no proxy is ever used. NULL on failure. */
grpc_channel *cri__channel_new(const char *target);
