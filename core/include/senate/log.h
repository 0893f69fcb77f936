/*
 * senate/log.h - where the library's log lines go.
 *
 * By default lines at SN_LOG_WARN and above are written to stderr. A program
 * may route them elsewhere with sn_log_set_handler().
 */
#ifndef SENATE_LOG_H
#define SENATE_LOG_H

#include <senate/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sn_log_level {
	SN_LOG_DEBUG = 0,
	SN_LOG_INFO = 1,
	SN_LOG_WARN = 2,
	SN_LOG_ERROR = 3,
	SN_LOG_OFF = 4
} sn_log_level;

/*
 * A log sink. `msg` is a NUL-terminated line without trailing newline, valid
 * only during the call. May be called from any thread that calls into the
 * library; it must not call back into Senate.
 */
typedef void (*sn_log_fn)(void *userdata, sn_log_level level, const char *msg);

/*
 * Send log lines at `min_level` and above to `fn(userdata, ...)`. A NULL `fn`
 * restores the stderr sink. Call it before other threads use the library:
 * it is not synchronised with concurrent logging.
 */
SN_API void sn_log_set_handler(sn_log_fn fn, void *userdata, sn_log_level min_level);

#ifdef __cplusplus
}
#endif

#endif
