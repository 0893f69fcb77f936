/*
 * senate/common.h - export macro and version of the Senate library.
 *
 * Every public symbol of Senate starts with `sn_` (functions, types) or `SN_`
 * (macros). Symbols are hidden unless marked with SN_API.
 */
#ifndef SENATE_COMMON_H
#define SENATE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define SN_API __attribute__((visibility("default")))
#else
#define SN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Compile-time version. The SONAME of libsenate follows SN_VERSION_MAJOR. */
#define SN_VERSION_MAJOR 0
#define SN_VERSION_MINOR 1
#define SN_VERSION_PATCH 0
#define SN_VERSION_STRING "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, as SQLite does. */
#define SN_VERSION_NUMBER \
	(SN_VERSION_MAJOR * 1000000 + SN_VERSION_MINOR * 1000 + SN_VERSION_PATCH)

/*
 * The version of the library actually loaded, encoded like
 * SN_VERSION_NUMBER. Compare it with SN_VERSION_NUMBER to detect a header /
 * library mismatch. Thread-safe.
 */
SN_API int sn_version_number(void);

/* The loaded library's version as "MAJOR.MINOR.PATCH"; static storage. */
SN_API const char *sn_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
