/*
 * core/raft/raft_msg.h - Raft's wire messages and their codec (internal).
 *
 * Layout (little endian): u8 version (1), u8 type, u8 reject, u8 flags,
 * u64 term, u64 index, u64 log_term, u64 commit, u64 hint, u64 ctx,
 * u32 n_entries, then per entry: u64 term, u8 type, u32 len, len bytes.
 * Entry i has index `index + 1 + i`.
 * A SNAP message (no entries) continues with: u64 size, u32 crc, u32
 * n_voters, n_voters x u64 voter, u64 offset, u32 len, len bytes of data.
 */
#ifndef SN__RAFT_MSG_H
#define SN__RAFT_MSG_H

#include "../base/base.h"

enum sn__raft_msg_type {
	SN__RAFT_APP = 1,        /* append entries (index/log_term = prev) */
	SN__RAFT_APP_RESP,       /* index = match (or rejected prev index);
				    hint = follower's last index on reject */
	SN__RAFT_VOTE,           /* index/log_term = candidate's last entry */
	SN__RAFT_VOTE_RESP,
	SN__RAFT_PREVOTE,        /* term = the term the candidate would use */
	SN__RAFT_PREVOTE_RESP,
	SN__RAFT_HEARTBEAT,      /* commit, ctx = read-index round */
	SN__RAFT_HEARTBEAT_RESP, /* ctx echoed */
	SN__RAFT_TIMEOUT_NOW,    /* leader transfer: campaign at once */
	SN__RAFT_SNAP,           /* a snapshot chunk: index/log_term = the
				    snapshot's; snapshot fields below */
	SN__RAFT_SNAP_RESP,      /* index = snapshot index, hint = bytes
				    durable; reject = resend from hint */
	SN__RAFT_MSG_TYPE_MAX = SN__RAFT_SNAP_RESP
};

/* flags */
#define SN__RAFT_FLAG_TRANSFER 0x1 /* VOTE caused by leader transfer */

#define SN__RAFT_MSG_HEADER 56u
#define SN__RAFT_ENTRY_HEADER 13u
#define SN__RAFT_MAX_ENTRIES_PER_MSG (1u << 16)
#define SN__RAFT_MAX_VOTERS 1024u

typedef struct sn__raft_msg {
	uint8_t type;
	uint8_t reject;
	uint8_t flags;
	uint64_t term;
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
} sn__raft_msg;

/* Size of the encoding of `m`. */
size_t sn__raft_msg_size(const sn__raft_msg *m);
/* Encode into `out`, which holds sn__raft_msg_size(m) bytes. */
void sn__raft_msg_encode(const sn__raft_msg *m, uint8_t *out);
/*
 * Decode `len` bytes into *m. Entry data points into `buf`. On success the
 * caller releases it with sn__raft_msg_free() (for a message without
 * voters, sn__free(m->entries) is enough). Returns SN_OK, SN_EMALFORMED
 * (with sn_errmsg() set) or SN_ENOMEM.
 */
int sn__raft_msg_decode(sn__raft_msg *m, const void *buf, size_t len);
void sn__raft_msg_free(sn__raft_msg *m);
const char *sn__raft_msg_type_name(int type);

#endif
