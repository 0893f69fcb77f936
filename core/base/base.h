/*
 * core/base/base.h - internal helpers shared by every core module.
 * Not installed; never included by a public header.
 */
#ifndef SN__BASE_H
#define SN__BASE_H

#include <senate/senate.h>

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

/* Allocation through the installed sn_allocator. */
void *sn__malloc(size_t size);
void *sn__calloc(size_t n, size_t size);
void *sn__realloc(void *ptr, size_t size);
void sn__free(void *ptr);
char *sn__strdup(const char *s); /* NULL when out of memory */
/* Grow *arr (of *cap elements of `elem` bytes) to hold at least `need`. */
int sn__grow(void **arr, size_t *cap, size_t need, size_t elem);

/* Record a detail message for sn_errmsg() and return `code`. */
int sn__err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Emit a log line through the installed handler. */
void sn__log(sn_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool sn__log_enabled(sn_log_level level);

/* Name the calling thread (15 bytes shown: top -H, ps -L, perf). The
 * library's threads are "sn-loop", "sn-wal", "sn-apply", "sn-peer",
 * "sn-rpc" and "sn-rpc-timer". */
void sn__thread_name(const char *name);

/* Little-endian codec helpers with bounds checks for decoding. */
typedef struct sn__reader {
	const uint8_t *p;
	size_t left;
	bool bad; /* set once any read ran past the end */
} sn__reader;

uint8_t sn__get_u8(sn__reader *r);
uint32_t sn__get_u32(sn__reader *r);
uint64_t sn__get_u64(sn__reader *r);
const void *sn__get_bytes(sn__reader *r, size_t n);

uint8_t *sn__put_u8(uint8_t *p, uint8_t v);
uint8_t *sn__put_u32(uint8_t *p, uint32_t v);
uint8_t *sn__put_u64(uint8_t *p, uint64_t v);

/*
 * CRC32C (Castagnoli). Start with crc = 0; to continue over more bytes pass
 * the previous result. sn__crc32c(0, "123456789", 9) == 0xe3069283.
 */
uint32_t sn__crc32c(uint32_t crc, const void *data, size_t len);
/* The table-driven path, whatever the CPU (for tests). */
uint32_t sn__crc32c_portable(uint32_t crc, const void *data, size_t len);

/* splitmix64: the deterministic generator engines fall back to. */
uint64_t sn__splitmix64(uint64_t *state);

/*
 * Mutants: deliberately broken rules, compiled only into the simulator's
 * build (SN_MUTANTS defined), to prove that its checkers can fail.
 */
enum sn__mutant_id {
	SN__MUTANT_NONE = 0,
	SN__MUTANT_COMMIT_OLD_TERM,   /* count replicas for an old-term entry */
	SN__MUTANT_VOTE_NO_LOG_CHECK, /* grant votes without up-to-date check */
	SN__MUTANT_NO_PERSIST_VOTE,   /* the vote is not part of hard state */
	SN__MUTANT_ACK_BEFORE_SYNC,   /* memstore: an append's callback fires
					 at submission, before the sync */
	SN__MUTANT_DROP_SNAPSHOT_MARKER, /* memstore: the marker of a taken
					    snapshot never reaches the
					    durable image */
	SN__MUTANT_ACCEPT_LOWER_BALLOT, /* paxos: accept below the promise */
	SN__MUTANT_SKIP_RECOVERY,       /* paxos: a new leader ignores the
					   values its promisers reported */
	SN__MUTANT_NO_PERSIST_PROMISE,  /* paxos: the promise is not part of
					   the hard state */
	SN__MUTANT_COUNT
};
#ifdef SN_MUTANTS
extern int sn__mutant;
#define SN__MUTANT(id) (sn__mutant == (id))
#else
#define SN__MUTANT(id) 0
#endif
/* Name <-> id ("commit-old-term", ...); -1 / NULL when unknown. */
int sn__mutant_from_name(const char *name);
const char *sn__mutant_name(int id);

#endif
