/*
 * core/base/msgq.h - what an engine hands out in a ready besides its log
 * and state: outgoing messages and read states (internal).
 *
 * An engine accumulates messages (to send at once, or only after the
 * ready's writes are durable) and read states in sn__outbox. A ready swaps
 * them into ready-owned buffers, alive until the ready is advanced, so that
 * new output during the ready's life cannot move them.
 */
#ifndef SN__MSGQ_H
#define SN__MSGQ_H

#include "base.h"

/* A growable array of encoded messages (each owns its data). */
typedef struct sn__msgq {
	sn_message *v;
	size_t n, cap;
} sn__msgq;

typedef struct sn__outbox {
	/* being accumulated */
	sn__msgq out, out_after;
	sn_read_state *reads;
	size_t n_reads, cap_reads;
	/* the ready handed out, alive until advance */
	sn__msgq rd, rd_after;
	sn_read_state *rd_reads;
	size_t n_rd_reads, cap_rd_reads;
} sn__outbox;

/*
 * Queue a message of `size` bytes from `from` to `to` in `group`, to be
 * sent at once or after_persist; *buf receives its bytes, to be encoded
 * before the next ready. SN_ENOMEM (then nothing is queued; `engine` names
 * the engine in the error detail).
 */
int sn__outbox_msg(sn__outbox *o, bool after_persist, const char *engine,
		   uint64_t group, uint64_t from, uint64_t to, size_t size,
		   uint8_t **buf);
/* Queue a read state; out of memory drops it (the read times out). */
void sn__outbox_read(sn__outbox *o, uint64_t ctx, uint64_t index,
		     int status);
/* Anything accumulated for the next ready? */
bool sn__outbox_pending(const sn__outbox *o);
/* Hand the accumulated output to `rd` (messages and reads). */
void sn__outbox_ready(sn__outbox *o, sn_ready *rd);
/* The ready was acknowledged: release what it held. */
void sn__outbox_advance(sn__outbox *o);
void sn__outbox_free(sn__outbox *o);

#endif
