#include "base.h"

#include <stdlib.h>

static void *libc_malloc(void *ud, size_t size)
{
	(void)ud;
	return malloc(size);
}

static void *libc_realloc(void *ud, void *ptr, size_t size)
{
	(void)ud;
	return realloc(ptr, size);
}

static void libc_free(void *ud, void *ptr)
{
	(void)ud;
	free(ptr);
}

static sn_allocator allocator = {
	SN_ALLOCATOR_VERSION, libc_malloc, libc_realloc, libc_free, NULL
};

int sn_allocator_set(const sn_allocator *a)
{
	static const sn_allocator libc = {
		SN_ALLOCATOR_VERSION, libc_malloc, libc_realloc, libc_free, NULL
	};
	if (!a) {
		allocator = libc;
		return SN_OK;
	}
	if (a->version != SN_ALLOCATOR_VERSION)
		return sn__err(SN_EINVAL, "sn_allocator: unknown version %u",
			       a->version);
	if (!a->malloc || !a->realloc || !a->free)
		return sn__err(SN_EINVAL, "sn_allocator: missing hook");
	allocator = *a;
	return SN_OK;
}

void *sn__malloc(size_t size)
{
	return allocator.malloc(allocator.userdata, size ? size : 1);
}

void *sn__calloc(size_t n, size_t size)
{
	void *p;
	if (size && n > SIZE_MAX / size)
		return NULL;
	p = sn__malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *sn__realloc(void *ptr, size_t size)
{
	return allocator.realloc(allocator.userdata, ptr, size ? size : 1);
}

void sn__free(void *ptr)
{
	if (ptr)
		allocator.free(allocator.userdata, ptr);
}

int sn__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return SN_OK;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return SN_ENOMEM;
		ncap *= 2;
	}
	p = sn__realloc(*arr, ncap * elem);
	if (!p)
		return sn__err(SN_ENOMEM, "out of memory growing an array");
	*arr = p;
	*cap = ncap;
	return SN_OK;
}

char *sn__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sn__malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}
