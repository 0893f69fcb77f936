#include "base.h"

void sn_buf_dispose(sn_buf *buf)
{
	if (!buf)
		return;
	sn__free(buf->ptr);
	buf->ptr = NULL;
	buf->size = 0;
	buf->reserved = 0;
}

int sn_buf_append(sn_buf *buf, const void *data, size_t len)
{
	if (!buf || (len && !data))
		return sn__err(SN_EINVAL, "sn_buf_append: NULL argument");
	if (len > SIZE_MAX - buf->size)
		return sn__err(SN_ETOOLARGE, "sn_buf_append: %zu bytes",
			       len);
	if (buf->size + len > buf->reserved) {
		size_t cap = buf->reserved;
		if (sn__grow(&buf->ptr, &cap, buf->size + len, 1))
			return SN_ENOMEM;
		buf->reserved = cap;
	}
	if (len)
		memcpy((uint8_t *)buf->ptr + buf->size, data, len);
	buf->size += len;
	return SN_OK;
}
