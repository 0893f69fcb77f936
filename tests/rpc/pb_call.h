/*
 * tests/rpc/pb_call.h - for the tests that speak the gRPC services directly
 * (kv_test.cc, rpc_test.cc, senated_test.cc): nanopb encoding and decoding
 * helpers, and one raw call through sn__rpc_call (rpc/src/rpc.h).
 */
#ifndef SENATE_TESTS_RPC_PB_CALL_H
#define SENATE_TESTS_RPC_PB_CALL_H

#include <gtest/gtest.h>

#include <senate/senate.h>

#include "rpc.h"

#include <pb_decode.h>
#include <pb_encode.h>

#include <string>
#include <vector>

namespace senate_test {

/* nanopb encode callback: the std::string at *arg as a bytes field. */
inline bool EncStr(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const std::string *s = static_cast<const std::string *>(*arg);
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, reinterpret_cast<const pb_byte_t *>(
					    s->data()),
				s->size());
}

/* nanopb decode callback: a bytes field into the std::string at *arg. */
inline bool DecStr(pb_istream_t *st, const pb_field_t *, void **arg)
{
	std::string *s = static_cast<std::string *>(*arg);
	s->resize(st->bytes_left);
	return pb_read(st, reinterpret_cast<pb_byte_t *>(&(*s)[0]),
		       s->size());
}

/* *m encoded; a failed encoding is a failed expectation. */
template <typename T> std::string Enc(const pb_msgdesc_t *fields, const T *m)
{
	size_t size = 0;
	EXPECT_TRUE(pb_get_encoded_size(&size, fields, m));
	std::string out(size, '\0');
	pb_ostream_t st = pb_ostream_from_buffer(
		reinterpret_cast<pb_byte_t *>(&out[0]), out.size());
	EXPECT_TRUE(pb_encode(&st, fields, m));
	return out;
}

/* s decoded into *out; false when it does not decode. */
template <typename T>
bool Dec(const std::string &s, const pb_msgdesc_t *fields, T *out)
{
	pb_istream_t st = pb_istream_from_buffer(
		reinterpret_cast<const pb_byte_t *>(s.data()), s.size());
	return pb_decode(&st, fields, out);
}

/* The outcome of one call. */
struct Reply {
	int code = -1; /* the gRPC status; -1: the call did not complete */
	std::string details, message; /* message: the (last) response */
	std::string leader;           /* the senate-leader trailer */
	bool has_message = false;
};

/*
 * One call of `method` on `target` over a new channel, sending each of
 * `reqs` as raw bytes (unary when there is one). When it does not complete
 * (nobody listening, the deadline passed): code -1, and with
 * `must_complete` also a failed expectation; tests that call members which
 * may be down pass false.
 */
inline Reply Call(const std::string &target, const char *method,
		  const std::vector<std::string> &reqs, unsigned timeout_ms,
		  bool must_complete)
{
	std::vector<const void *> ps;
	std::vector<size_t> ls;
	for (const std::string &q : reqs) {
		ps.push_back(q.data());
		ls.push_back(q.size());
	}
	sn__rpc_reply rep;
	Reply r;
	int rv = sn__rpc_call(&rep, target.c_str(), method, ps.data(),
			      ls.data(), reqs.size(), timeout_ms);
	if (must_complete) {
		EXPECT_EQ(rv, SN_OK) << "call " << method << " to " << target;
	}
	if (rv == SN_OK) {
		r.code = rep.code;
		r.details = rep.details;
		r.leader = rep.leader;
		r.has_message = rep.has_message;
		if (rep.message.size)
			r.message.assign(static_cast<char *>(rep.message.ptr),
					 rep.message.size);
	}
	sn_buf_dispose(&rep.message);
	return r;
}

} // namespace senate_test

#endif
