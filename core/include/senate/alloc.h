/*
 * senate/alloc.h - allocator hooks.
 *
 * Every allocation the library makes goes through these hooks, so a program
 * can account for memory or inject failures. Install them before any other
 * Senate call; the default is the C library's malloc/realloc/free.
 */
#ifndef SENATE_ALLOC_H
#define SENATE_ALLOC_H

#include <senate/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_allocator {
	unsigned version; /* SN_ALLOCATOR_VERSION */
	void *(*malloc)(void *userdata, size_t size);
	void *(*realloc)(void *userdata, void *ptr, size_t size);
	void (*free)(void *userdata, void *ptr);
	void *userdata;
} sn_allocator;

#define SN_ALLOCATOR_VERSION 1

/*
 * Replace the allocator (NULL restores the default). Returns SN_EINVAL if
 * the version is unknown or a hook is missing. Not thread-safe: call it
 * before any other Senate call, and free everything allocated with one
 * allocator before installing another.
 */
SN_API int sn_allocator_set(const sn_allocator *allocator);

#ifdef __cplusplus
}
#endif

#endif
