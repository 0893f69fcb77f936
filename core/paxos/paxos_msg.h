/*
 * core/paxos/paxos_msg.h - Multi-Paxos wire messages and their codec
 * (internal).
 *
 * Layout (little endian): u8 version (1), u8 type, u8 reject, u8 flags,
 * u64 ballot, u64 index, u64 log_term, u64 commit, u64 hint, u64 ctx,
 * u32 n_entries, then per entry: u64 ballot, u8 type, u32 len, len bytes.
 * Entry i has index `index + 1 + i`. Only ACCEPT and PROMISE carry entries.
 * A SNAP message (no entries) continues with: u64 size, u32 crc, u32
 * n_voters, n_voters x u64 voter, u64 offset, u32 len, len bytes of data.
 */
#ifndef SN__PAXOS_MSG_H
#define SN__PAXOS_MSG_H

#include "../base/base.h"

enum sn__paxos_msg_type {
	SN__PAXOS_PREPARE = 1,  /* phase 1a: ballot, commit = the candidate's
				   commit c */
	SN__PAXOS_PROMISE,      /* phase 1b, one part: ballot promised;
				   entries = accepted slots index+1.. (with
				   their ballots); flag LAST on the final part;
				   commit = the acceptor's commit. Reject:
				   hint = promised ballot (flag BALLOT) or the
				   acceptor's commit (flag COMMIT) */
	SN__PAXOS_ACCEPT,       /* phase 2a: entries index+1.. at `ballot`,
				   commit = the leader's commit */
	SN__PAXOS_ACCEPTED,     /* phase 2b: index = the acceptor's match
				   (slots it holds chosen or at `ballot`,
				   contiguously). Reject: flag BALLOT with
				   ballot = its promise, or a gap: index = the
				   rejected Accept's index, hint = match */
	SN__PAXOS_HEARTBEAT,    /* commit, ctx = read round */
	SN__PAXOS_HEARTBEAT_RESP, /* ctx echoed; reject (flag BALLOT):
				     ballot = a higher promise */
	SN__PAXOS_SNAP,         /* a snapshot chunk: index/log_term = the
				   snapshot's; snapshot fields below */
	SN__PAXOS_SNAP_RESP,    /* index = snapshot index, hint = bytes
				   durable, ctx = size; reject = resend from
				   hint */
	SN__PAXOS_MSG_TYPE_MAX = SN__PAXOS_SNAP_RESP
};

/* flags */
#define SN__PAXOS_FLAG_LAST 0x1   /* PROMISE: the final part */
#define SN__PAXOS_FLAG_BALLOT 0x2 /* reject: a higher ballot is promised */
#define SN__PAXOS_FLAG_COMMIT 0x4 /* PROMISE reject: the acceptor's commit
				     is above the candidate's */
#define SN__PAXOS_FLAGS_ALL 0x7

#define SN__PAXOS_MSG_HEADER 56u
#define SN__PAXOS_ENTRY_HEADER 13u
#define SN__PAXOS_MAX_ENTRIES_PER_MSG (1u << 16)
#define SN__PAXOS_MAX_VOTERS 65535u

/* Ballots: (round << 16) | (position in the sorted voters + 1). */
#define SN__BALLOT_POS(b) ((uint64_t)(b) & 0xffffu)
#define SN__BALLOT_ROUND(b) ((uint64_t)(b) >> 16)

typedef struct sn__paxos_msg {
	uint8_t type;
	uint8_t reject;
	uint8_t flags;
	uint64_t ballot;
	uint64_t index;
	uint64_t log_term;
	uint64_t commit;
	uint64_t hint;
	uint64_t ctx;
	size_t n_entries;
	sn_entry *entries; /* on decode: allocated array, data points into
			      the decoded buffer */
	/* SNAP only */
	uint64_t snap_size;
	uint32_t snap_crc;
	size_t n_voters;
	uint64_t *voters;  /* on decode: allocated */
	uint64_t offset;
	const void *data;  /* on decode: points into the buffer */
	size_t len;
} sn__paxos_msg;

size_t sn__paxos_msg_size(const sn__paxos_msg *m);
void sn__paxos_msg_encode(const sn__paxos_msg *m, uint8_t *out);
/*
 * Decode `len` bytes into *m. Entry data points into `buf`. On success the
 * caller releases it with sn__paxos_msg_free(). Returns SN_OK,
 * SN_EMALFORMED (with sn_errmsg() set) or SN_ENOMEM.
 */
int sn__paxos_msg_decode(sn__paxos_msg *m, const void *buf, size_t len);
void sn__paxos_msg_free(sn__paxos_msg *m);
const char *sn__paxos_msg_type_name(int type);

#endif
