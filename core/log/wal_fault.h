/*
 * core/log/wal_fault.h - the WAL's system-call seam (internal, for tests).
 *
 * Every call through which the WAL makes data durable goes through this
 * table, so a test can make fdatasync fail, cut a write short or run out of
 * space. It is compiled into every build (an indirect call costs nothing next
 * to a write). Replace entries before the calls that should see them; restore
 * the real ones with sn__wal_hooks_reset(). Not synchronised: change it only
 * while no storage thread is between a write and its sync (e.g. before an
 * append whose write should fail).
 */
#ifndef SN__LOG_WAL_FAULT_H
#define SN__LOG_WAL_FAULT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn__wal_sys {
	ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt,
			   off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	int (*fdatasync)(int fd);
	int (*fsync)(int fd); /* directories */
	/* Allocate [off, off + len): 0, or -1 with errno set. */
	int (*fallocate)(int fd, off_t off, off_t len);
} sn__wal_sys;

extern sn__wal_sys sn__wal_hooks;

/* Restore the real system calls (and the default busy timeout). */
void sn__wal_hooks_reset(void);

/* How long sn_storage_append() waits for room in a full queue before it
 * gives up with SN_EBUSY [10000 ms]. */
extern unsigned sn__wal_busy_timeout_ms;

#ifdef __cplusplus
}
#endif

#endif
