/*
 * rpc/src/gutil.h - small helpers around the gRPC C core, shared by the
 * server, the peer transport and the raw client. Internal to rpc/src.
 */
#ifndef SENATE_RPC_GUTIL_H
#define SENATE_RPC_GUTIL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <pb.h>
#include <pb_decode.h>
#include <pb_encode.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* What every completion-queue tag points to: the handler of its event.
 * Each tag arrives exactly once, with ok == false when the operation
 * failed or was cancelled (shutdown included). */
typedef struct sn__tag {
	void (*fn)(struct sn__tag *t, bool ok);
} sn__tag;

/* A completion-queue thread's body: run each event's handler until the
 * queue is shut down and drained. */
static inline void sn__cq_run(grpc_completion_queue *cq)
{
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE) {
			sn__tag *t = ev.tag;
			t->fn(t, ev.success != 0);
		}
	}
}

#define SN__CONTAINER(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* A byte buffer holding `len` bytes taken over from malloc()ed `p`. */
static inline grpc_byte_buffer *sn__bb_take(void *p, size_t len)
{
	grpc_slice s = grpc_slice_new(p, len, free);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* A byte buffer with the nanopb encoding of `msg`, or NULL. */
static inline grpc_byte_buffer *sn__bb_encode(const pb_msgdesc_t *fields,
					      const void *msg)
{
	size_t size = 0;
	if (!pb_get_encoded_size(&size, fields, msg))
		return NULL;
	pb_byte_t *p = malloc(size ? size : 1);
	if (!p)
		return NULL;
	pb_ostream_t st = pb_ostream_from_buffer(p, size);
	if (!pb_encode(&st, fields, msg)) {
		free(p);
		return NULL;
	}
	return sn__bb_take(p, size);
}

/* The whole content of `bb` as one slice (unref it). */
static inline grpc_slice sn__bb_flatten(grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader r;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return grpc_empty_slice();
	grpc_slice s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	return s;
}

static inline gpr_timespec sn__deadline_ms(unsigned ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static inline int64_t sn__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
