/*
 * senate/errors.h - error codes and error details.
 *
 * Every function that can fail returns an int: SN_OK (0) on success or one of
 * the negative codes below. Codes are stable and never reused. When a call
 * fails, a human-readable detail is left in a thread-local slot, read with
 * sn_errmsg().
 */
#ifndef SENATE_ERRORS_H
#define SENATE_ERRORS_H

#include <senate/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sn_error_code {
	SN_OK = 0,
	SN_ERROR = -1,        /* unclassified failure */
	SN_ENOMEM = -2,       /* out of memory */
	SN_EINVAL = -3,       /* invalid argument or option */
	SN_ENOTLEADER = -4,   /* this member is not the leader */
	SN_EBUSY = -5,        /* a bounded queue or budget is full; retry later */
	SN_ETIMEDOUT = -6,    /* deadline passed */
	SN_ECONFLICT = -7,    /* compare / transaction conflict */
	SN_EFENCED = -8,      /* write carried a stale fencing token */
	SN_EMALFORMED = -9,   /* malformed or impossible message, dropped */
	SN_ESTOPPED = -10,    /* the node stopped (e.g. after a failed fsync) */
	SN_EIO = -11,         /* I/O error */
	SN_ENOSPC = -12,      /* no space left on a device */
	SN_ECORRUPT = -13,    /* on-disk data failed a checksum */
	SN_ENOTFOUND = -14,   /* no such key, member or object */
	SN_ENOTSUP = -15,     /* not supported by this engine or build */
	SN_ETOOLARGE = -16,   /* value or message exceeds a configured limit */
	SN_ESTATE = -17       /* call not valid in the object's current state */
};

/*
 * A static, never-NULL description of an error code ("unknown error" for a
 * code this library does not know). Thread-safe.
 */
SN_API const char *sn_strerror(int code);

/*
 * The detail message of the last failed call on this thread, or "" when
 * none was recorded. The string is owned by the library and stays valid until
 * the next Senate call on the same thread. Thread-safe (thread-local).
 */
SN_API const char *sn_errmsg(void);

/* Forget this thread's detail message. */
SN_API void sn_errmsg_clear(void);

/*
 * Record a detail message (printf-style) for this thread and return `code`,
 * so that sn_errmsg() explains errors of code layered on Senate too (the
 * client library, a state machine's callbacks). Thread-safe (thread-local).
 */
SN_API int sn_errmsg_set(int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

#ifdef __cplusplus
}
#endif

#endif
