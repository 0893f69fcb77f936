/*
 * client.c - one raw gRPC call over the C core client API, for tests:
 * request messages are bytes as given (any number of them: streams too),
 * so a test can send garbage on purpose. Programs use <senate/client.h>.
 */
#define _POSIX_C_SOURCE 200809L
#include "rpc.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "gutil.h"

/* Run one batch and wait for it on the pluck queue. */
static bool run(grpc_call *call, grpc_completion_queue *cq, grpc_op *ops,
		size_t n, gpr_timespec deadline)
{
	int tag;
	if (grpc_call_start_batch(call, ops, n, &tag, NULL) != GRPC_CALL_OK)
		return false;
	grpc_event ev = grpc_completion_queue_pluck(cq, &tag, deadline, NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		/* The call is cancelled; its batch still arrives. */
		grpc_call_cancel(call, NULL);
		ev = grpc_completion_queue_pluck(
			cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		return false;
	}
	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

int sn__rpc_call(sn__rpc_reply *out, const char *target, const char *method,
		 const void *const *reqs, const size_t *lens, size_t n,
		 unsigned timeout_ms)
{
	memset(out, 0, sizeof *out);
	out->code = -1;
	if (!target || !method || (n && (!reqs || !lens)))
		return sn__err(SN_EINVAL, "rpc: call needs target and method");
	grpc_init();
	gpr_timespec deadline = sn__deadline_ms(timeout_ms);
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, cr, NULL);
	grpc_channel_credentials_release(cr);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice m = grpc_slice_from_copied_string(method);
	grpc_call *call = grpc_channel_create_call(
		ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
	grpc_slice_unref(m);

	grpc_metadata_array md_initial, md_trailing;
	grpc_metadata_array_init(&md_initial);
	grpc_metadata_array_init(&md_trailing);
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_byte_buffer *resp = NULL;
	int rv = SN_OK;

	grpc_op op;
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	bool sending = run(call, cq, &op, 1, deadline);
	/* Send each message; once a send fails the call is over, but its
	 * status still says why. */
	for (size_t i = 0; sending && i < n; i++) {
		void *copy = malloc(lens[i] ? lens[i] : 1);
		if (!copy) {
			rv = SN_ENOMEM;
			break;
		}
		memcpy(copy, reqs[i], lens[i]);
		grpc_byte_buffer *bb = sn__bb_take(copy, lens[i]);
		memset(&op, 0, sizeof op);
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = bb;
		sending = run(call, cq, &op, 1, deadline);
		grpc_byte_buffer_destroy(bb);
	}
	if (rv == SN_OK) {
		grpc_op ops[4];
		memset(ops, 0, sizeof ops);
		size_t k = 0;
		if (sending)
			ops[k++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		ops[k].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[k++].data.recv_initial_metadata.recv_initial_metadata =
			&md_initial;
		ops[k].op = GRPC_OP_RECV_MESSAGE;
		ops[k++].data.recv_message.recv_message = &resp;
		ops[k].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[k].data.recv_status_on_client.trailing_metadata =
			&md_trailing;
		ops[k].data.recv_status_on_client.status = &status;
		ops[k++].data.recv_status_on_client.status_details = &details;
		/* The status op always completes (at worst with the deadline's
		 * DEADLINE_EXCEEDED); a failed batch means no status. */
		if (!run(call, cq, ops, k, gpr_inf_future(GPR_CLOCK_MONOTONIC)))
			rv = SN_ETIMEDOUT;
	}
	if (rv == SN_OK) {
		out->code = (int)status;
		char *d = grpc_slice_to_c_string(details);
		snprintf(out->details, sizeof out->details, "%s", d);
		gpr_free(d);
		for (size_t i = 0; i < md_trailing.count; i++) {
			const grpc_metadata *md = &md_trailing.metadata[i];
			if (grpc_slice_str_cmp(md->key, SN__RPC_LEADER_MD))
				continue;
			snprintf(out->leader, sizeof out->leader, "%.*s",
				 (int)GRPC_SLICE_LENGTH(md->value),
				 (const char *)GRPC_SLICE_START_PTR(md->value));
		}
		if (resp) {
			grpc_slice s = sn__bb_flatten(resp);
			out->has_message = 1;
			if (GRPC_SLICE_LENGTH(s) &&
			    sn_buf_append(&out->message,
					  GRPC_SLICE_START_PTR(s),
					  GRPC_SLICE_LENGTH(s)) != SN_OK)
				rv = SN_ENOMEM;
			grpc_slice_unref(s);
		}
	}
	if (resp)
		grpc_byte_buffer_destroy(resp);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_initial);
	grpc_metadata_array_destroy(&md_trailing);
	grpc_call_unref(call);
	grpc_channel_destroy(ch);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL,
					   gpr_inf_future(GPR_CLOCK_MONOTONIC),
					   NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	return rv;
}
