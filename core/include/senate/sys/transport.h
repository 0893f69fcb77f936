/*
 * senate/sys/transport.h - the transport seam: how a node's engine messages
 * reach the other members.
 *
 * Stability: stable within a minor version.
 *
 * A transport carries opaque engine messages (sn_message: bytes in a
 * {group, from, to} envelope) between members. Senate's gRPC transport
 * lives in rpc/ (a bidirectional stream per peer); tests plug in an
 * in-process one. Outgoing: the node calls `send` on its loop thread for
 * every message. Incoming: the transport hands each message it received to
 * sn_node_receive() (<senate/node.h>), from any thread.
 *
 * Delivery is best effort: a transport may drop, delay or (rarely) reorder
 * messages, and a message to an unreachable member is simply lost. The
 * engines retransmit what matters. It must not corrupt messages silently
 * (a stream transport checks its framing) and must not block the loop
 * thread for long: queue and return.
 */
#ifndef SENATE_SYS_TRANSPORT_H
#define SENATE_SYS_TRANSPORT_H

#include <senate/common.h>
#include <senate/sys/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_transport {
	void *userdata;
	/*
	 * Send `m` to member m->to. The bytes are borrowed for the call: copy
	 * what is kept. Called on the node's loop thread, one call at a time
	 * per node. Returns SN_OK when queued, or an error (SN_EBUSY: the
	 * peer's queue is full; SN_ENOTFOUND: unknown member); either way the
	 * node goes on and the engine retransmits.
	 */
	int (*send)(void *userdata, const sn_message *m);
} sn_transport;

#ifdef __cplusplus
}
#endif

#endif
