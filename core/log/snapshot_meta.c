/* The snapshot file header: encode, decode, and the file names. Pure: no
 * I/O, so the fuzz target (tests/fuzz/snapshot_meta_fuzz.c) drives it. */
#include "snapshot.h"

#include <stdio.h>

size_t sn__snapshot_meta_size(size_t n_voters)
{
	if (n_voters > SN__SNAPSHOT_MAX_VOTERS)
		return 0;
	return SN__SNAPSHOT_FIXED_LEN + 8 * n_voters + 4;
}

int sn__snapshot_meta_encode(void *buf, size_t cap, const sn_snapshot_meta *meta,
			     size_t *len_out)
{
	size_t len = sn__snapshot_meta_size(meta->n_voters);
	uint8_t *p = buf;

	if (len == 0)
		return sn__err(SN_EINVAL, "snapshot: %zu voters (at most %u)",
			       meta->n_voters, SN__SNAPSHOT_MAX_VOTERS);
	if (meta->n_voters > 0 && !meta->voters)
		return sn__err(SN_EINVAL, "snapshot: voters is NULL");
	if (cap < len)
		return sn__err(SN_ETOOLARGE, "snapshot: header needs %zu bytes",
			       len);
	p = sn__put_u32(p, SN__SNAPSHOT_MAGIC);
	p = sn__put_u32(p, SN__SNAPSHOT_VERSION);
	p = sn__put_u32(p, (uint32_t)len);
	p = sn__put_u32(p, (uint32_t)meta->n_voters);
	p = sn__put_u64(p, meta->index);
	p = sn__put_u64(p, meta->term);
	p = sn__put_u64(p, meta->size);
	p = sn__put_u32(p, meta->crc);
	p = sn__put_u32(p, 0); /* flags */
	for (size_t i = 0; i < meta->n_voters; i++)
		p = sn__put_u64(p, meta->voters[i]);
	sn__put_u32(p, sn__crc32c(0, buf, len - 4));
	*len_out = len;
	return SN_OK;
}

int sn__snapshot_meta_peek(const void *buf, size_t len, size_t *header_len)
{
	sn__reader r = { buf, len, false };
	uint32_t magic, version, hlen, n_voters;

	if (len < SN__SNAPSHOT_FIXED_LEN)
		return sn__err(SN_ECORRUPT, "snapshot header: %zu bytes, "
			       "need at least %u", len, SN__SNAPSHOT_FIXED_LEN);
	magic = sn__get_u32(&r);
	version = sn__get_u32(&r);
	hlen = sn__get_u32(&r);
	n_voters = sn__get_u32(&r);
	if (magic != SN__SNAPSHOT_MAGIC)
		return sn__err(SN_ECORRUPT, "snapshot header: bad magic "
			       "0x%08x", (unsigned)magic);
	if (version != SN__SNAPSHOT_VERSION)
		return sn__err(SN_ECORRUPT, "snapshot header: unknown version "
			       "%u", (unsigned)version);
	if (n_voters > SN__SNAPSHOT_MAX_VOTERS)
		return sn__err(SN_ECORRUPT, "snapshot header: %u voters",
			       (unsigned)n_voters);
	if (hlen != sn__snapshot_meta_size(n_voters))
		return sn__err(SN_ECORRUPT, "snapshot header: length %u does "
			       "not match %u voters", (unsigned)hlen,
			       (unsigned)n_voters);
	*header_len = hlen;
	return SN_OK;
}

int sn__snapshot_meta_decode(sn_snapshot_meta *meta, uint64_t *voters,
			     size_t voters_cap, const void *buf, size_t len,
			     size_t *header_len)
{
	sn__reader r;
	size_t hlen;
	uint32_t n_voters, flags, stored, crc;
	int rv = sn__snapshot_meta_peek(buf, len, &hlen);

	if (rv != SN_OK)
		return rv;
	if (len < hlen)
		return sn__err(SN_ECORRUPT, "snapshot header: truncated (%zu "
			       "of %zu bytes)", len, hlen);
	crc = sn__crc32c(0, buf, hlen - 4);
	r = (sn__reader){ (const uint8_t *)buf + hlen - 4, 4, false };
	stored = sn__get_u32(&r);
	if (crc != stored)
		return sn__err(SN_ECORRUPT, "snapshot header: CRC 0x%08x, "
			       "expected 0x%08x", (unsigned)crc,
			       (unsigned)stored);

	r = (sn__reader){ buf, hlen - 4, false };
	sn__get_bytes(&r, 12); /* magic, version, header_len: peeked */
	n_voters = sn__get_u32(&r);
	meta->index = sn__get_u64(&r);
	meta->term = sn__get_u64(&r);
	meta->size = sn__get_u64(&r);
	meta->crc = sn__get_u32(&r);
	flags = sn__get_u32(&r);
	if (flags != 0)
		return sn__err(SN_ECORRUPT, "snapshot header: unknown flags "
			       "0x%08x", (unsigned)flags);
	if (n_voters > voters_cap)
		return sn__err(SN_ETOOLARGE, "snapshot header: %u voters, "
			       "room for %zu", (unsigned)n_voters, voters_cap);
	for (uint32_t i = 0; i < n_voters; i++)
		voters[i] = sn__get_u64(&r);
	if (r.bad || r.left != 0) /* cannot happen after peek; be sure */
		return sn__err(SN_ECORRUPT, "snapshot header: bad length");
	meta->voters = n_voters ? voters : NULL;
	meta->n_voters = n_voters;
	if (header_len)
		*header_len = hlen;
	return SN_OK;
}

void sn__snapshot_name(char *name, uint64_t index, uint64_t term)
{
	snprintf(name, SN__SNAPSHOT_NAME_MAX, "snap-%016llx-%016llx.snap",
		 (unsigned long long)index, (unsigned long long)term);
}

static bool parse_hex(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

bool sn__snapshot_parse_name(const char *name, uint64_t *index, uint64_t *term)
{
	/* snap- (5) + 16 + '-' + 16 + .snap (5) */
	if (strlen(name) != 43 || strncmp(name, "snap-", 5) != 0 ||
	    name[21] != '-' || strcmp(name + 38, ".snap") != 0)
		return false;
	return parse_hex(name + 5, 16, index) && parse_hex(name + 22, 16, term);
}
