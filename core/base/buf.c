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
