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
#include <string.h>
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

/* The six ops of a whole unary call in one batch: initial metadata and
 * `send` out, half-close, then initial metadata, the response (*recv) and
 * the status in. */
static inline void sn__unary_ops(grpc_op ops[6], grpc_byte_buffer *send,
				 grpc_metadata_array *initial,
				 grpc_byte_buffer **recv,
				 grpc_metadata_array *trailing,
				 grpc_status_code *status, grpc_slice *details)
{
	memset(ops, 0, 6 * sizeof *ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = trailing;
	ops[5].data.recv_status_on_client.status = status;
	ops[5].data.recv_status_on_client.status_details = details;
}

/* The outcome of sn__unary(); release it with sn__unary_done(). */
typedef struct sn__unary_out {
	bool completed;            /* false: the call could not even start */
	grpc_status_code status;
	grpc_slice details;
	grpc_metadata_array trailing;
	grpc_byte_buffer *response; /* NULL when none came */
} sn__unary_out;

/*
 * One unary call of `method` with the request `req` on `ch`, as one batch
 * (send, half-close, receive) on a completion queue of its own, so any
 * number of threads may call at once. The status op always completes: at
 * worst with the deadline's DEADLINE_EXCEEDED.
 */
static inline void sn__unary(grpc_channel *ch, const char *method,
			     grpc_slice req, gpr_timespec deadline,
			     sn__unary_out *out)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice m = grpc_slice_from_static_string(method);
	grpc_call *call = grpc_channel_create_call(
		ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&req, 1);
	grpc_metadata_array initial;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&out->trailing);
	out->completed = false;
	out->status = GRPC_STATUS_UNKNOWN;
	out->details = grpc_empty_slice();
	out->response = NULL;

	grpc_op ops[6];
	sn__unary_ops(ops, send, &initial, &out->response, &out->trailing,
		      &out->status, &out->details);
	int tag;
	if (call && grpc_call_start_batch(call, ops, 6, &tag, NULL) ==
			    GRPC_CALL_OK)
		out->completed =
			grpc_completion_queue_pluck(
				cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC),
				NULL).type == GRPC_OP_COMPLETE;
	grpc_byte_buffer_destroy(send);
	grpc_metadata_array_destroy(&initial);
	if (call)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL,
					   gpr_inf_future(GPR_CLOCK_MONOTONIC),
					   NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

static inline void sn__unary_done(sn__unary_out *out)
{
	if (out->response)
		grpc_byte_buffer_destroy(out->response);
	out->response = NULL;
	grpc_slice_unref(out->details);
	out->details = grpc_empty_slice();
	grpc_metadata_array_destroy(&out->trailing);
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
