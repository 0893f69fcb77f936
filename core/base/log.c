#include "base.h"

#include <stdio.h>

static sn_log_fn log_fn;
static void *log_userdata;
static sn_log_level log_min = SN_LOG_WARN;

static const char *level_name(sn_log_level level)
{
	switch (level) {
	case SN_LOG_DEBUG: return "debug";
	case SN_LOG_INFO: return "info";
	case SN_LOG_WARN: return "warn";
	default: return "error";
	}
}

void sn_log_set_handler(sn_log_fn fn, void *userdata, sn_log_level min_level)
{
	log_fn = fn;
	log_userdata = userdata;
	log_min = fn ? min_level : SN_LOG_WARN;
}

bool sn__log_enabled(sn_log_level level)
{
	return level >= log_min && level < SN_LOG_OFF;
}

void sn__log(sn_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!sn__log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(log_userdata, level, line);
	else
		fprintf(stderr, "senate %s: %s\n", level_name(level), line);
}
