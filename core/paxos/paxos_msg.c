/* Multi-Paxos wire codec. Every decoded field is bounds-checked: peer bytes
 * are untrusted. */
#include "paxos_msg.h"

#define SNAP_FIXED 28u /* size, crc, n_voters, offset, len */

size_t sn__paxos_msg_size(const sn__paxos_msg *m)
{
	size_t size = SN__PAXOS_MSG_HEADER;

	if (m->type == SN__PAXOS_SNAP)
		size += SNAP_FIXED + 8 * m->n_voters + m->len;
	for (size_t i = 0; i < m->n_entries; i++)
		size += SN__PAXOS_ENTRY_HEADER + m->entries[i].len;
	return size;
}

void sn__paxos_msg_encode(const sn__paxos_msg *m, uint8_t *p)
{
	p = sn__put_u8(p, 1);
	p = sn__put_u8(p, m->type);
	p = sn__put_u8(p, m->reject);
	p = sn__put_u8(p, m->flags);
	p = sn__put_u64(p, m->ballot);
	p = sn__put_u64(p, m->index);
	p = sn__put_u64(p, m->log_term);
	p = sn__put_u64(p, m->commit);
	p = sn__put_u64(p, m->hint);
	p = sn__put_u64(p, m->ctx);
	p = sn__put_u32(p, (uint32_t)m->n_entries);
	for (size_t i = 0; i < m->n_entries; i++) {
		const sn_entry *e = &m->entries[i];
		p = sn__put_u64(p, e->term);
		p = sn__put_u8(p, (uint8_t)e->type);
		p = sn__put_u32(p, (uint32_t)e->len);
		if (e->len)
			memcpy(p, e->data, e->len);
		p += e->len;
	}
	if (m->type != SN__PAXOS_SNAP)
		return;
	p = sn__put_u64(p, m->snap_size);
	p = sn__put_u32(p, m->snap_crc);
	p = sn__put_u32(p, (uint32_t)m->n_voters);
	for (size_t i = 0; i < m->n_voters; i++)
		p = sn__put_u64(p, m->voters[i]);
	p = sn__put_u64(p, m->offset);
	p = sn__put_u32(p, (uint32_t)m->len);
	if (m->len)
		memcpy(p, m->data, m->len);
}

void sn__paxos_msg_free(sn__paxos_msg *m)
{
	sn__free(m->entries);
	sn__free(m->voters);
	m->entries = NULL;
	m->voters = NULL;
}

static int decode_snap(sn__paxos_msg *m, sn__reader *r)
{
	uint32_t n;

	m->snap_size = sn__get_u64(r);
	m->snap_crc = sn__get_u32(r);
	n = sn__get_u32(r);
	if (r->bad || n > SN__PAXOS_MAX_VOTERS || n > r->left / 8)
		return sn__err(SN_EMALFORMED, "paxos SNAP: bad voter count");
	if (n) {
		m->voters = sn__calloc(n, sizeof *m->voters);
		if (!m->voters)
			return sn__err(SN_ENOMEM, "paxos SNAP: no memory");
	}
	m->n_voters = n;
	for (uint32_t i = 0; i < n; i++)
		m->voters[i] = sn__get_u64(r);
	m->offset = sn__get_u64(r);
	m->len = sn__get_u32(r);
	m->data = sn__get_bytes(r, m->len);
	if (r->bad)
		return sn__err(SN_EMALFORMED, "paxos SNAP: truncated");
	if (m->offset > m->snap_size || m->len > m->snap_size - m->offset)
		return sn__err(SN_EMALFORMED, "paxos SNAP: chunk beyond size");
	if (!m->len)
		m->data = NULL;
	return SN_OK;
}

static int decode_entries(sn__paxos_msg *m, sn__reader *r, uint32_t n)
{
	if (n > SN__PAXOS_MAX_ENTRIES_PER_MSG)
		return sn__err(SN_EMALFORMED, "paxos message: %u entries, "
			       "limit %u", n, SN__PAXOS_MAX_ENTRIES_PER_MSG);
	/* Each entry needs at least its header: reject lying counts before
	 * allocating for them. */
	if (n > r->left / SN__PAXOS_ENTRY_HEADER)
		return sn__err(SN_EMALFORMED, "paxos message: %u entries do "
			       "not fit in %zu bytes", n, r->left);
	if (m->index > UINT64_MAX - n)
		return sn__err(SN_EMALFORMED, "paxos message: index overflow");
	if (!n)
		return SN_OK;
	m->entries = sn__calloc(n, sizeof *m->entries);
	if (!m->entries)
		return sn__err(SN_ENOMEM, "paxos message: no memory");
	for (uint32_t i = 0; i < n; i++) {
		sn_entry *e = &m->entries[i];
		e->index = m->index + 1 + i;
		e->term = sn__get_u64(r);
		e->type = sn__get_u8(r);
		e->len = sn__get_u32(r);
		e->data = sn__get_bytes(r, e->len);
		if (r->bad || e->type > SN_ENTRY_NOOP || e->term == 0)
			return sn__err(SN_EMALFORMED, "paxos message: entry %u "
				       "malformed", i);
		if (!e->len)
			e->data = NULL;
	}
	m->n_entries = n;
	return SN_OK;
}

int sn__paxos_msg_decode(sn__paxos_msg *m, const void *buf, size_t len)
{
	sn__reader r = { buf, len, false };
	uint8_t version;
	uint32_t n;
	int rv;

	memset(m, 0, sizeof *m);
	version = sn__get_u8(&r);
	m->type = sn__get_u8(&r);
	m->reject = sn__get_u8(&r);
	m->flags = sn__get_u8(&r);
	m->ballot = sn__get_u64(&r);
	m->index = sn__get_u64(&r);
	m->log_term = sn__get_u64(&r);
	m->commit = sn__get_u64(&r);
	m->hint = sn__get_u64(&r);
	m->ctx = sn__get_u64(&r);
	n = sn__get_u32(&r);
	if (r.bad)
		return sn__err(SN_EMALFORMED, "paxos message: truncated "
			       "header (%zu bytes)", len);
	if (version != 1)
		return sn__err(SN_EMALFORMED, "paxos message: version %u",
			       version);
	if (m->type < SN__PAXOS_PREPARE || m->type > SN__PAXOS_MSG_TYPE_MAX)
		return sn__err(SN_EMALFORMED, "paxos message: type %u",
			       m->type);
	if (m->reject > 1 || (m->flags & ~SN__PAXOS_FLAGS_ALL))
		return sn__err(SN_EMALFORMED, "paxos message: bad flags");
	if (n && m->type != SN__PAXOS_ACCEPT && m->type != SN__PAXOS_PROMISE)
		return sn__err(SN_EMALFORMED, "paxos %s carries entries",
			       sn__paxos_msg_type_name(m->type));
	rv = decode_entries(m, &r, n);
	if (rv == SN_OK && m->type == SN__PAXOS_SNAP)
		rv = decode_snap(m, &r);
	if (rv == SN_OK && r.left)
		rv = sn__err(SN_EMALFORMED, "paxos message: %zu trailing "
			     "bytes", r.left);
	if (rv)
		sn__paxos_msg_free(m);
	return rv;
}

const char *sn__paxos_msg_type_name(int type)
{
	switch (type) {
	case SN__PAXOS_PREPARE: return "PREPARE";
	case SN__PAXOS_PROMISE: return "PROMISE";
	case SN__PAXOS_ACCEPT: return "ACCEPT";
	case SN__PAXOS_ACCEPTED: return "ACCEPTED";
	case SN__PAXOS_HEARTBEAT: return "HEARTBEAT";
	case SN__PAXOS_HEARTBEAT_RESP: return "HEARTBEAT_RESP";
	case SN__PAXOS_SNAP: return "SNAP";
	case SN__PAXOS_SNAP_RESP: return "SNAP_RESP";
	default: return "UNKNOWN";
	}
}
