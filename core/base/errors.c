#include "base.h"

#include <stdio.h>

static _Thread_local char errmsg[512];

const char *sn_strerror(int code)
{
	switch (code) {
	case SN_OK: return "success";
	case SN_ERROR: return "error";
	case SN_ENOMEM: return "out of memory";
	case SN_EINVAL: return "invalid argument";
	case SN_ENOTLEADER: return "not the leader";
	case SN_EBUSY: return "busy: a queue or budget is full, retry later";
	case SN_ETIMEDOUT: return "timed out";
	case SN_ECONFLICT: return "conflict";
	case SN_EFENCED: return "fenced: a newer lock holder exists";
	case SN_EMALFORMED: return "malformed message";
	case SN_ESTOPPED: return "node stopped";
	case SN_EIO: return "I/O error";
	case SN_ENOSPC: return "no space left on device";
	case SN_ECORRUPT: return "corrupt data";
	case SN_ENOTFOUND: return "not found";
	case SN_ENOTSUP: return "not supported";
	case SN_ETOOLARGE: return "too large";
	case SN_ESTATE: return "invalid in the current state";
	default: return "unknown error";
	}
}

const char *sn_errmsg(void)
{
	return errmsg;
}

void sn_errmsg_clear(void)
{
	errmsg[0] = '\0';
}

static int set_v(int code, const char *fmt, va_list ap)
{
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	return code;
}

int sn_errmsg_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = set_v(code, fmt, ap);
	va_end(ap);
	return code;
}

int sn__err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = set_v(code, fmt, ap);
	va_end(ap);
	return code;
}
