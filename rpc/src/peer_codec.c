/*
 * peer_codec.c - PeerBatch <-> sn_message, with nanopb callbacks so that
 * message bytes are neither copied nor allocated by the decoder.
 */
#define _POSIX_C_SOURCE 200809L
#include "rpc.h"

#include <pb_decode.h>
#include <pb_encode.h>
#include <stdlib.h>
#include <string.h>

#include "senate.pb.h"

typedef struct enc_ctx {
	const sn_message *m;
	size_t n;
} enc_ctx;

static bool enc_data(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const sn_message *m = *arg;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, m->data, m->len);
}

static bool enc_messages(pb_ostream_t *st, const pb_field_t *f,
			 void *const *arg)
{
	const enc_ctx *c = *arg;
	for (size_t i = 0; i < c->n; i++) {
		senate_v1_PeerMessage pm = senate_v1_PeerMessage_init_zero;
		pm.group = c->m[i].group;
		pm.from = c->m[i].from;
		pm.to = c->m[i].to;
		pm.data.funcs.encode = enc_data;
		pm.data.arg = (void *)&c->m[i];
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, senate_v1_PeerMessage_fields,
					  &pm))
			return false;
	}
	return true;
}

int sn__rpc_peer_encode(void **out, size_t *len, uint64_t sender,
			const sn_message *messages, size_t n)
{
	enc_ctx c = { messages, n };
	senate_v1_PeerBatch b = senate_v1_PeerBatch_init_zero;
	b.sender = sender;
	b.messages.funcs.encode = enc_messages;
	b.messages.arg = &c;
	size_t size = 0;
	*out = NULL;
	*len = 0;
	if (!pb_get_encoded_size(&size, senate_v1_PeerBatch_fields, &b) ||
	    size > SN__RPC_PEER_MAX_MESSAGE)
		return SN_ETOOLARGE;
	pb_byte_t *buf = malloc(size ? size : 1);
	if (!buf)
		return SN_ENOMEM;
	pb_ostream_t st = pb_ostream_from_buffer(buf, size);
	if (!pb_encode(&st, senate_v1_PeerBatch_fields, &b) ||
	    st.bytes_written != size) {
		free(buf);
		return SN_ETOOLARGE;
	}
	*out = buf;
	*len = size;
	return SN_OK;
}

typedef struct bytes_ref {
	const void *p;
	size_t len;
} bytes_ref;

typedef struct dec_ctx {
	sn_message *m;
	size_t n, cap;
} dec_ctx;

/* The stream is a buffer stream (pb_istream_from_buffer): its state is the
 * current read position, so the bytes can be pointed to where they lie. */
static bool dec_data(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	(void)f;
	bytes_ref *r = *arg;
	r->p = st->state;
	r->len = st->bytes_left;
	return pb_read(st, NULL, st->bytes_left);
}

static bool dec_messages(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	(void)f;
	dec_ctx *c = *arg;
	if (c->n == c->cap)
		PB_RETURN_ERROR(st, "too many messages in one PeerBatch");
	senate_v1_PeerMessage pm = senate_v1_PeerMessage_init_zero;
	bytes_ref r = { NULL, 0 };
	pm.data.funcs.decode = dec_data;
	pm.data.arg = &r;
	if (!pb_decode(st, senate_v1_PeerMessage_fields, &pm))
		return false;
	sn_message *m = &c->m[c->n++];
	m->group = pm.group;
	m->from = pm.from;
	m->to = pm.to;
	m->data = r.p;
	m->len = r.len;
	return true;
}

int sn__rpc_peer_decode(const void *buf, size_t len, uint64_t *sender,
			sn_message *messages, size_t cap, size_t *n,
			const char **why)
{
	dec_ctx c = { messages, 0, cap };
	senate_v1_PeerBatch b = senate_v1_PeerBatch_init_zero;
	b.messages.funcs.decode = dec_messages;
	b.messages.arg = &c;
	pb_istream_t st = pb_istream_from_buffer(buf, len);
	*n = 0;
	if (!pb_decode(&st, senate_v1_PeerBatch_fields, &b)) {
		*why = PB_GET_ERROR(&st);
		return SN_EMALFORMED;
	}
	*sender = b.sender;
	*n = c.n;
	*why = NULL;
	return SN_OK;
}
