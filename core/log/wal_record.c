/* The WAL's byte format: segment headers, frames, records (wal_record.h). */
#include "wal_record.h"

#include <stdio.h>

/* ---- segment header and names ---- */

void sn__wal_seg_header_put(uint8_t hdr[SN__WAL_SEG_HEADER], uint64_t seq)
{
	uint8_t *p = hdr;

	memcpy(p, SN__WAL_SEG_MAGIC, 8);
	p = sn__put_u32(p + 8, SN__WAL_SEG_VERSION);
	p = sn__put_u32(p, 0);
	p = sn__put_u64(p, seq);
	p = sn__put_u32(p, 0);
	sn__put_u32(p, sn__crc32c(0, hdr, SN__WAL_SEG_HEADER - 4));
}

int sn__wal_seg_header_check(const uint8_t *p, size_t len, uint64_t *seq)
{
	sn__reader r = { p + 8, SN__WAL_SEG_HEADER - 8, false };
	uint32_t version, flags, reserved, crc;

	if (len < SN__WAL_SEG_HEADER)
		return sn__err(SN_ECORRUPT, "segment header cut short "
			       "(%zu bytes)", len);
	if (memcmp(p, SN__WAL_SEG_MAGIC, 8) != 0)
		return sn__err(SN_ECORRUPT, "not a WAL segment (bad magic)");
	version = sn__get_u32(&r);
	flags = sn__get_u32(&r);
	*seq = sn__get_u64(&r);
	reserved = sn__get_u32(&r);
	crc = sn__get_u32(&r);
	if (crc != sn__crc32c(0, p, SN__WAL_SEG_HEADER - 4))
		return sn__err(SN_ECORRUPT, "segment header checksum mismatch");
	if (version != SN__WAL_SEG_VERSION)
		return sn__err(SN_ECORRUPT, "unknown segment version %u",
			       (unsigned)version);
	if (flags != 0 || reserved != 0)
		return sn__err(SN_ECORRUPT, "unknown segment flags 0x%x or "
			       "reserved 0x%x", (unsigned)flags,
			       (unsigned)reserved);
	return SN_OK;
}

void sn__wal_seg_name(char name[SN__WAL_NAME_MAX], uint64_t seq, bool temp)
{
	snprintf(name, SN__WAL_NAME_MAX, "wal-%016llx.log%s",
		 (unsigned long long)seq, temp ? ".tmp" : "");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int sn__wal_parse_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strncmp(name, "wal-", 4) != 0)
		return 0;
	for (int i = 0; i < 16; i++) {
		int h = hexval(name[4 + i]);
		if (h < 0)
			return 0;
		v = (v << 4) | (uint64_t)h;
	}
	*seq = v;
	if (strcmp(name + 20, ".log") == 0)
		return 1;
	if (strcmp(name + 20, ".log.tmp") == 0)
		return 2;
	return 0;
}

/* ---- records ---- */

size_t sn__wal_entry_rec_size(size_t data_len)
{
	if (data_len > SN__WAL_MAX_REC_LEN - 21)
		return SIZE_MAX;
	return SN__WAL_REC_HEADER + 1 + 20 + data_len;
}

size_t sn__wal_snapshot_rec_size(size_t n_voters)
{
	if (n_voters > SN__WAL_MAX_VOTERS)
		return SIZE_MAX;
	return SN__WAL_REC_HEADER + 1 + 36 + 8 * n_voters;
}

/* Records are written as: reserve the header, payload, then seal(). */
static uint8_t *rec_begin(uint8_t *p, uint8_t type)
{
	p[SN__WAL_REC_HEADER] = type;
	return p + SN__WAL_REC_HEADER + 1;
}

static uint8_t *rec_seal(uint8_t *rec, uint8_t *end)
{
	uint32_t len = (uint32_t)(end - rec - SN__WAL_REC_HEADER);
	uint32_t crc;

	sn__put_u32(rec, len);
	crc = sn__crc32c(0, rec, 4);
	crc = sn__crc32c(crc, rec + SN__WAL_REC_HEADER, len);
	sn__put_u32(rec + 4, crc);
	return end;
}

uint8_t *sn__wal_put_entry(uint8_t *p, const sn_entry *e)
{
	uint8_t *q = rec_begin(p, SN__WAL_REC_ENTRY);

	q = sn__put_u64(q, e->index);
	q = sn__put_u64(q, e->term);
	q = sn__put_u32(q, e->type);
	if (e->len)
		memcpy(q, e->data, e->len);
	return rec_seal(p, q + e->len);
}

uint8_t *sn__wal_put_hard_state(uint8_t *p, const sn_hard_state *hs)
{
	uint8_t *q = rec_begin(p, SN__WAL_REC_HARD_STATE);

	q = sn__put_u64(q, hs->term);
	q = sn__put_u64(q, hs->vote);
	q = sn__put_u64(q, hs->commit);
	return rec_seal(p, q);
}

uint8_t *sn__wal_put_snapshot(uint8_t *p, const sn_snapshot_meta *m,
			      uint32_t flags)
{
	uint8_t *q = rec_begin(p, SN__WAL_REC_SNAPSHOT);

	q = sn__put_u32(q, flags);
	q = sn__put_u64(q, m->index);
	q = sn__put_u64(q, m->term);
	q = sn__put_u64(q, m->size);
	q = sn__put_u32(q, m->crc);
	q = sn__put_u32(q, (uint32_t)m->n_voters);
	for (size_t i = 0; i < m->n_voters; i++)
		q = sn__put_u64(q, m->voters[i]);
	return rec_seal(p, q);
}

uint8_t *sn__wal_put_checkpoint(uint8_t *p, const sn__wal_checkpoint *cp)
{
	uint8_t *q = rec_begin(p, SN__WAL_REC_CHECKPOINT);

	q = sn__put_u64(q, cp->prev_end);
	q = sn__put_u64(q, cp->last_index);
	q = sn__put_u64(q, cp->last_term);
	return rec_seal(p, q);
}

static int decode_payload(sn__wal_rec *rec, sn__reader *r)
{
	switch (rec->type) {
	case SN__WAL_REC_ENTRY:
		rec->entry.index = sn__get_u64(r);
		rec->entry.term = sn__get_u64(r);
		rec->entry.type = sn__get_u32(r);
		rec->entry.len = r->bad ? 0 : r->left;
		rec->entry.data = sn__get_bytes(r, rec->entry.len);
		break;
	case SN__WAL_REC_HARD_STATE:
		rec->hs.term = sn__get_u64(r);
		rec->hs.vote = sn__get_u64(r);
		rec->hs.commit = sn__get_u64(r);
		break;
	case SN__WAL_REC_SNAPSHOT:
		rec->snap_flags = sn__get_u32(r);
		rec->snap.index = sn__get_u64(r);
		rec->snap.term = sn__get_u64(r);
		rec->snap.size = sn__get_u64(r);
		rec->snap.crc = sn__get_u32(r);
		rec->snap.n_voters = sn__get_u32(r);
		rec->snap.voters = NULL;
		if (rec->snap.n_voters > SN__WAL_MAX_VOTERS ||
		    (rec->snap_flags != 0 &&
		     rec->snap_flags != SN__WAL_SNAP_RESET &&
		     rec->snap_flags != SN__WAL_SNAP_TAKEN))
			return SN_ECORRUPT;
		rec->voters_le = sn__get_bytes(r, 8 * rec->snap.n_voters);
		break;
	case SN__WAL_REC_CHECKPOINT:
		rec->cp.prev_end = sn__get_u64(r);
		rec->cp.last_index = sn__get_u64(r);
		rec->cp.last_term = sn__get_u64(r);
		break;
	default:
		return SN_ECORRUPT;
	}
	/* Every byte must be accounted for. */
	return r->bad || r->left ? SN_ECORRUPT : SN_OK;
}

int sn__wal_rec_decode(sn__wal_rec *rec, const uint8_t *p, size_t avail,
		       size_t *used)
{
	sn__reader r = { p, avail, false };
	uint32_t len, crc;

	memset(rec, 0, sizeof *rec);
	len = sn__get_u32(&r);
	crc = sn__get_u32(&r);
	if (r.bad || len == 0 || len > SN__WAL_MAX_REC_LEN || len > r.left)
		return SN_ECORRUPT;
	if (crc != sn__crc32c(sn__crc32c(0, p, 4), r.p, len))
		return SN_ECORRUPT;
	r.left = len; /* the payload reader stops at this record's end */
	rec->type = sn__get_u8(&r);
	*used = SN__WAL_REC_HEADER + len;
	return decode_payload(rec, &r);
}

uint64_t sn__wal_rec_voter(const sn__wal_rec *rec, size_t i)
{
	sn__reader r = { rec->voters_le + 8 * i, 8, false };
	return sn__get_u64(&r);
}

/* ---- frames ---- */

void sn__wal_frame_header_put(uint8_t hdr[SN__WAL_FRAME_HEADER],
			      uint32_t body_len, uint32_t n)
{
	uint8_t *p = sn__put_u32(hdr, SN__WAL_FRAME_MAGIC);
	p = sn__put_u32(p, body_len);
	p = sn__put_u32(p, n);
	sn__put_u32(p, sn__crc32c(0, hdr, 12));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int check_body(const sn__wal_frame *f)
{
	const uint8_t *p = f->body;
	size_t left = f->body_len;

	for (uint32_t i = 0; i < f->n_records; i++) {
		sn__wal_rec rec;
		size_t used;
		if (sn__wal_rec_decode(&rec, p, left, &used) != SN_OK)
			return SN__FRAME_BAD_BODY;
		p += used;
		left -= used;
	}
	if (left != 0 || f->body[f->body_len] != SN__WAL_FRAME_TRAILER)
		return SN__FRAME_BAD_BODY;
	return SN__FRAME_OK;
}

int sn__wal_frame_parse(sn__wal_frame *f, const uint8_t *p, size_t avail)
{
	sn__reader r = { p, avail, false };
	uint32_t magic, crc;

	memset(f, 0, sizeof *f);
	if (avail < SN__WAL_FRAME_HEADER)
		return all_zero(p, avail) ? SN__FRAME_ZERO : SN__FRAME_SHORT;
	if (all_zero(p, SN__WAL_FRAME_HEADER))
		return SN__FRAME_ZERO;
	magic = sn__get_u32(&r);
	f->body_len = sn__get_u32(&r);
	f->n_records = sn__get_u32(&r);
	crc = sn__get_u32(&r);
	if (magic != SN__WAL_FRAME_MAGIC || crc != sn__crc32c(0, p, 12) ||
	    f->body_len == 0 || f->n_records == 0 ||
	    f->body_len > SN__WAL_MAX_REC_LEN ||
	    f->n_records > f->body_len / (SN__WAL_REC_HEADER + 1))
		return SN__FRAME_BAD_HEADER;
	f->size = SN__WAL_FRAME_OVERHEAD + (size_t)f->body_len;
	f->body = p + SN__WAL_FRAME_HEADER;
	if (f->size > avail)
		return SN__FRAME_SHORT;
	return check_body(f);
}
