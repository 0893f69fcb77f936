/*
 * senate/buf.h - byte buffers handed out by the library.
 *
 * Bytes go into Senate as pointer + length; bytes come out in an sn_buf that
 * the library fills and the caller releases with sn_buf_dispose(). Callers
 * never free() library memory.
 */
#ifndef SENATE_BUF_H
#define SENATE_BUF_H

#include <senate/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_buf {
	void *ptr;       /* the bytes (NULL when empty); owned by the library */
	size_t size;     /* number of valid bytes at ptr */
	size_t reserved; /* allocated capacity; internal */
} sn_buf;

#define SN_BUF_INIT { NULL, 0, 0 }

/*
 * Release the memory of a buffer filled by the library and reset it to
 * SN_BUF_INIT. NULL and an already disposed buffer are no-ops.
 */
SN_API void sn_buf_dispose(sn_buf *buf);

/*
 * Append `len` bytes (copied) to the buffer, growing it with the library's
 * allocator (for callbacks that fill an sn_buf the library hands them).
 * Errors: SN_EINVAL (NULL), SN_ETOOLARGE, SN_ENOMEM (the buffer is
 * unchanged).
 */
SN_API int sn_buf_append(sn_buf *buf, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
