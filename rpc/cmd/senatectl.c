/*
 * senatectl - talk to a Senate cluster over gRPC (docs/senatectl.md).
 *
 *   senatectl --endpoints A,B,C put KEY VALUE
 *   senatectl --endpoints A,B,C get KEY [--serializable]
 *   senatectl --endpoints A,B,C del KEY
 *   senatectl --endpoints A,B,C range PREFIX [--limit N]
 *   senatectl --endpoints A,B,C status
 *   senatectl cluster up|down|status --data-dir DIR ...   (ctl_cluster.c)
 *
 * A request goes to the first endpoint that answers; a follower's
 * UNAVAILABLE with `senate-leader` sends it to the leader. A write carries
 * a request id (this process's client id, seq 1), so retrying it after a
 * lost reply cannot apply it twice. Exit status: 0 done, 1 the cluster
 * said no (not found, refused, unreachable), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include "ctl.h"
#include "rpc.h"
#include "senate.pb.h"

#include <senate/senate.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENDPOINTS 16
#define TIMEOUT_MS 5000
#define GRPC_UNAVAILABLE 14

static const char *endpoints[MAX_ENDPOINTS];
static size_t n_endpoints;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: senatectl --endpoints HOST:PORT[,HOST:PORT...] COMMAND\n"
		"  put KEY VALUE              write a key (prints the revision)\n"
		"  get KEY [--serializable]   read a key (linearizable unless "
		"--serializable)\n"
		"  del KEY                    delete a key\n"
		"  range PREFIX [--limit N]   keys with this prefix, in order\n"
		"  status                     every endpoint's view: member, "
		"role, term, commit, applied, leader\n"
		"       senatectl cluster up|down|status --data-dir DIR [...]\n"
		"                             a local cluster of senated "
		"processes in DIR\n"
		"                             (senatectl cluster --help)\n");
}

/* ---- nanopb helpers ------------------------------------------------------ */

typedef struct str {
	const char *p;
	size_t n;
} str;

static bool enc_str(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const str *s = *arg;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, (const pb_byte_t *)s->p, s->n);
}

/* Decode a bytes field into a malloc()ed NUL-terminated copy. */
static bool dec_str(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	char **out = *arg; /* the field's arg: where the copy goes */
	size_t n = st->bytes_left;
	(void)f;
	free(*out);
	*out = malloc(n + 1);
	if (!*out || !pb_read(st, (pb_byte_t *)*out, n))
		return false;
	(*out)[n] = '\0';
	return true;
}

static bool encode(const pb_msgdesc_t *fields, const void *m, sn_buf *out)
{
	size_t size = 0;
	if (!pb_get_encoded_size(&size, fields, m))
		return false;
	out->ptr = malloc(size ? size : 1);
	if (!out->ptr)
		return false;
	pb_ostream_t st = pb_ostream_from_buffer(out->ptr, size);
	out->size = size;
	return pb_encode(&st, fields, m);
}

static bool set_key(pb_byte_t *dst, pb_size_t *len, size_t cap, const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > cap) {
		fprintf(stderr, "senatectl: a key is 1 to %zu bytes\n", cap);
		return false;
	}
	memcpy(dst, k, n);
	*len = (pb_size_t)n;
	return true;
}

/* ---- one request, following the leader ------------------------------------ */

/*
 * Send `req` to `method`, trying the endpoints in order and following
 * `senate-leader`. On SN_OK, *rep holds the answer (code 0) or the last
 * refusal. Returns SN_OK, or SN_ETIMEDOUT when nobody answered.
 */
static int call(sn__rpc_reply *rep, const char *method, const sn_buf *req)
{
	char target[128];
	const void *p = req->ptr;
	size_t len = req->size;
	int answered = 0;

	for (size_t i = 0; i < n_endpoints; i++) {
		snprintf(target, sizeof target, "%s", endpoints[i]);
		for (int hop = 0; hop < 4; hop++) {
			memset(rep, 0, sizeof *rep);
			if (sn__rpc_call(rep, target, method, &p, &len, 1,
					 TIMEOUT_MS) != SN_OK)
				break;
			answered = 1;
			if (rep->code == GRPC_UNAVAILABLE && rep->leader[0] &&
			    strcmp(rep->leader, target) != 0) {
				snprintf(target, sizeof target, "%s",
					 rep->leader);
				sn_buf_dispose(&rep->message);
				continue;
			}
			if (rep->code != GRPC_UNAVAILABLE)
				return SN_OK;
			break; /* no leader known there: try the next one */
		}
	}
	return answered ? SN_OK : SN_ETIMEDOUT;
}

static int failed(const sn__rpc_reply *rep, int rv)
{
	if (rv != SN_OK)
		fprintf(stderr, "senatectl: no endpoint answered (%zu tried)\n",
			n_endpoints);
	else
		fprintf(stderr, "senatectl: error %d: %s\n", rep->code,
			rep->details);
	return 1;
}

static uint64_t client_id(void)
{
	struct timespec ts;
	uint64_t s;

	clock_gettime(CLOCK_REALTIME, &ts);
	s = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)getpid() << 16);
	return s ? s : 1;
}

/* ---- commands ------------------------------------------------------------- */

static int cmd_put(const char *k, const char *v)
{
	senate_v1_PutRequest q = senate_v1_PutRequest_init_zero;
	senate_v1_PutResponse r = senate_v1_PutResponse_init_zero;
	str val = { v, strlen(v) };
	sn_buf req = SN_BUF_INIT;
	sn__rpc_reply rep;
	int rv;

	if (!set_key(q.key.bytes, &q.key.size, sizeof q.key.bytes, k))
		return 2;
	q.value.funcs.encode = enc_str;
	q.value.arg = &val;
	q.has_request_id = true;
	q.request_id.client_id = client_id();
	q.request_id.seq = 1;
	if (!encode(senate_v1_PutRequest_fields, &q, &req))
		return 1;
	rv = call(&rep, "/senate.v1.KV/Put", &req);
	free(req.ptr);
	if (rv != SN_OK || rep.code != 0)
		return failed(&rep, rv);
	pb_istream_t st = pb_istream_from_buffer(rep.message.ptr,
						 rep.message.size);
	if (!pb_decode(&st, senate_v1_PutResponse_fields, &r)) {
		fprintf(stderr, "senatectl: undecodable answer\n");
		sn_buf_dispose(&rep.message);
		return 1;
	}
	printf("OK revision %lld\n", (long long)r.header.revision);
	sn_buf_dispose(&rep.message);
	return 0;
}

static int cmd_get(const char *k, bool serializable)
{
	senate_v1_GetRequest q = senate_v1_GetRequest_init_zero;
	senate_v1_GetResponse r = senate_v1_GetResponse_init_zero;
	sn_buf req = SN_BUF_INIT;
	sn__rpc_reply rep;
	char *value = NULL;
	int rv;

	if (!set_key(q.key.bytes, &q.key.size, sizeof q.key.bytes, k))
		return 2;
	q.serializable = serializable;
	if (!encode(senate_v1_GetRequest_fields, &q, &req))
		return 1;
	rv = call(&rep, "/senate.v1.KV/Get", &req);
	free(req.ptr);
	if (rv != SN_OK || rep.code != 0)
		return failed(&rep, rv);
	pb_istream_t st = pb_istream_from_buffer(rep.message.ptr,
						 rep.message.size);
	r.kv.value.funcs.decode = dec_str;
	r.kv.value.arg = &value;
	rv = pb_decode(&st, senate_v1_GetResponse_fields, &r) ? 0 : 1;
	sn_buf_dispose(&rep.message);
	if (rv) {
		fprintf(stderr, "senatectl: undecodable answer\n");
	} else if (!r.found) {
		fprintf(stderr, "senatectl: %s: not found\n", k);
		rv = 1;
	} else {
		printf("%s\n", value ? value : "");
	}
	free(value);
	return rv;
}

static int cmd_del(const char *k)
{
	senate_v1_DeleteRequest q = senate_v1_DeleteRequest_init_zero;
	senate_v1_DeleteResponse r = senate_v1_DeleteResponse_init_zero;
	sn_buf req = SN_BUF_INIT;
	sn__rpc_reply rep;
	int rv;

	if (!set_key(q.key.bytes, &q.key.size, sizeof q.key.bytes, k))
		return 2;
	q.has_request_id = true;
	q.request_id.client_id = client_id();
	q.request_id.seq = 1;
	if (!encode(senate_v1_DeleteRequest_fields, &q, &req))
		return 1;
	rv = call(&rep, "/senate.v1.KV/Delete", &req);
	free(req.ptr);
	if (rv != SN_OK || rep.code != 0)
		return failed(&rep, rv);
	pb_istream_t st = pb_istream_from_buffer(rep.message.ptr,
						 rep.message.size);
	rv = pb_decode(&st, senate_v1_DeleteResponse_fields, &r) ? 0 : 1;
	sn_buf_dispose(&rep.message);
	if (rv) {
		fprintf(stderr, "senatectl: undecodable answer\n");
		return 1;
	}
	printf("deleted %lld\n", (long long)r.deleted);
	return 0;
}

/* Print each KeyValue of a RangeResponse as it is decoded. */
static bool print_kv(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	senate_v1_KeyValue kv = senate_v1_KeyValue_init_zero;
	char *value = NULL;
	bool ok;

	(void)f;
	(void)arg;
	kv.value.funcs.decode = dec_str;
	kv.value.arg = &value;
	ok = pb_decode(st, senate_v1_KeyValue_fields, &kv);
	if (ok)
		printf("%.*s=%s\n", (int)kv.key.size, (const char *)kv.key.bytes,
		       value ? value : "");
	free(value);
	return ok;
}

static int cmd_range(const char *prefix, long long limit)
{
	senate_v1_RangeRequest q = senate_v1_RangeRequest_init_zero;
	senate_v1_RangeResponse r = senate_v1_RangeResponse_init_zero;
	sn_buf req = SN_BUF_INIT;
	sn__rpc_reply rep;
	size_t n = strlen(prefix);
	int rv;

	if (!set_key(q.key.bytes, &q.key.size, sizeof q.key.bytes, prefix))
		return 2;
	/* [prefix, prefix with its last byte + 1): every key it starts. */
	memcpy(q.range_end.bytes, prefix, n);
	q.range_end.size = (pb_size_t)n;
	while (q.range_end.size &&
	       q.range_end.bytes[q.range_end.size - 1] == 0xff)
		q.range_end.size--;
	if (q.range_end.size)
		q.range_end.bytes[q.range_end.size - 1]++;
	else
		q.range_end.bytes[q.range_end.size++] = 0; /* all keys */
	q.limit = limit;
	if (!encode(senate_v1_RangeRequest_fields, &q, &req))
		return 1;
	rv = call(&rep, "/senate.v1.KV/Range", &req);
	free(req.ptr);
	if (rv != SN_OK || rep.code != 0)
		return failed(&rep, rv);
	pb_istream_t st = pb_istream_from_buffer(rep.message.ptr,
						 rep.message.size);
	r.kvs.funcs.decode = print_kv;
	rv = pb_decode(&st, senate_v1_RangeResponse_fields, &r) ? 0 : 1;
	sn_buf_dispose(&rep.message);
	if (rv)
		fprintf(stderr, "senatectl: undecodable answer\n");
	else if (r.more)
		fprintf(stderr, "(%lld keys in all; --limit cut the list)\n",
			(long long)r.count);
	return rv;
}

static const char *role_name(senate_v1_Role r)
{
	switch (r) {
	case senate_v1_Role_ROLE_FOLLOWER:
		return "follower";
	case senate_v1_Role_ROLE_PRECANDIDATE:
		return "precandidate";
	case senate_v1_Role_ROLE_CANDIDATE:
		return "candidate";
	case senate_v1_Role_ROLE_LEADER:
		return "leader";
	default:
		return "?";
	}
}

static int cmd_status(void)
{
	senate_v1_StatusRequest q = senate_v1_StatusRequest_init_zero;
	sn_buf req = SN_BUF_INIT;
	int bad = 0;

	if (!encode(senate_v1_StatusRequest_fields, &q, &req))
		return 1;
	printf("%-22s %6s %-12s %10s %10s %10s %8s %s\n", "endpoint", "member",
	       "role", "term", "commit", "applied", "leader", "engine");
	for (size_t i = 0; i < n_endpoints; i++) {
		senate_v1_StatusResponse *r = calloc(1, sizeof *r);
		sn__rpc_reply rep;
		const void *p = req.ptr;
		size_t len = req.size;
		memset(&rep, 0, sizeof rep);
		if (!r)
			return 1;
		if (sn__rpc_call(&rep, endpoints[i], "/senate.v1.Cluster/Status",
				 &p, &len, 1, TIMEOUT_MS) != SN_OK ||
		    rep.code != 0) {
			printf("%-22s %6s %-12s  %s\n", endpoints[i], "-",
			       "unreachable", rep.details);
			bad = 1;
		} else {
			pb_istream_t st = pb_istream_from_buffer(
				rep.message.ptr, rep.message.size);
			if (!pb_decode(&st, senate_v1_StatusResponse_fields, r)) {
				printf("%-22s undecodable answer\n",
				       endpoints[i]);
				bad = 1;
			}
			for (pb_size_t m = 0; m < r->members_count; m++) {
				const senate_v1_MemberStatus *ms =
					&r->members[m];
				if (!ms->self)
					continue;
				printf("%-22s %6llu %-12s %10llu %10llu %10llu "
				       "%8llu %s%s%s\n", endpoints[i],
				       (unsigned long long)ms->id,
				       role_name(ms->role),
				       (unsigned long long)ms->term,
				       (unsigned long long)ms->commit,
				       (unsigned long long)ms->applied,
				       (unsigned long long)r->leader_id,
				       r->engine, r->error[0] ? " STOPPED: "
							      : "",
				       r->error);
			}
		}
		sn_buf_dispose(&rep.message);
		free(r);
	}
	free(req.ptr);
	return bad;
}

/* ---- main ----------------------------------------------------------------- */

static int split_endpoints(char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (n_endpoints == MAX_ENDPOINTS) {
			fprintf(stderr, "senatectl: at most %d endpoints\n",
				MAX_ENDPOINTS);
			return -1;
		}
		endpoints[n_endpoints++] = t;
	}
	return n_endpoints ? 0 : -1;
}

int main(int argc, char **argv)
{
	char *list = NULL;
	int i = 1;

	sn_log_set_handler(NULL, NULL, SN_LOG_OFF);
	if (argc > 1 && strcmp(argv[1], "cluster") == 0)
		return ctl_cluster(argc - 2, argv + 2, argv[0]);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--endpoints") == 0 && i + 1 < argc) {
			list = argv[++i];
			continue;
		}
		fprintf(stderr, "senatectl: unknown option %s\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (!list || i >= argc || split_endpoints(list) != 0) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i++];
	int left = argc - i;
	if (strcmp(cmd, "put") == 0 && left == 2)
		return cmd_put(argv[i], argv[i + 1]);
	if (strcmp(cmd, "get") == 0 && (left == 1 || (left == 2 &&
			strcmp(argv[i + 1], "--serializable") == 0)))
		return cmd_get(argv[i], left == 2);
	if (strcmp(cmd, "del") == 0 && left == 1)
		return cmd_del(argv[i]);
	if (strcmp(cmd, "range") == 0 && (left == 1 || (left == 3 &&
			strcmp(argv[i + 1], "--limit") == 0)))
		return cmd_range(argv[i], left == 3 ? atoll(argv[i + 2]) : 0);
	if (strcmp(cmd, "status") == 0 && left == 0)
		return cmd_status();
	fprintf(stderr, "senatectl: bad command or arguments: %s\n", cmd);
	usage(stderr);
	return 2;
}
