/* Raft's wire codec. Every decoded field is bounds-checked: peer bytes are
 * untrusted. */
#include "raft_msg.h"

#define SNAP_FIXED 28u /* size, crc, n_voters, offset, len */

size_t sn__raft_msg_size(const sn__raft_msg *m)
{
	size_t size = SN__RAFT_MSG_HEADER;
	if (m->type == SN__RAFT_SNAP)
		size += SNAP_FIXED + 8 * m->n_voters + m->len;
	for (size_t i = 0; i < m->n_entries; i++)
		size += SN__RAFT_ENTRY_HEADER + m->entries[i].len;
	return size;
}

void sn__raft_msg_encode(const sn__raft_msg *m, uint8_t *p)
{
	p = sn__put_u8(p, 1);
	p = sn__put_u8(p, m->type);
	p = sn__put_u8(p, m->reject);
	p = sn__put_u8(p, m->flags);
	p = sn__put_u64(p, m->term);
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
	if (m->type != SN__RAFT_SNAP)
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

void sn__raft_msg_free(sn__raft_msg *m)
{
	sn__free(m->entries);
	sn__free(m->voters);
	m->entries = NULL;
	m->voters = NULL;
}

static int decode_snap(sn__raft_msg *m, sn__reader *r)
{
	uint32_t n;

	m->snap_size = sn__get_u64(r);
	m->snap_crc = sn__get_u32(r);
	n = sn__get_u32(r);
	if (r->bad || n > SN__RAFT_MAX_VOTERS || n > r->left / 8)
		return sn__err(SN_EMALFORMED, "raft SNAP: bad voter count");
	if (n) {
		m->voters = sn__calloc(n, sizeof *m->voters);
		if (!m->voters)
			return sn__err(SN_ENOMEM, "raft SNAP: no memory");
	}
	m->n_voters = n;
	for (uint32_t i = 0; i < n; i++)
		m->voters[i] = sn__get_u64(r);
	m->offset = sn__get_u64(r);
	m->len = sn__get_u32(r);
	m->data = sn__get_bytes(r, m->len);
	if (r->bad)
		return sn__err(SN_EMALFORMED, "raft SNAP: truncated");
	if (m->offset > m->snap_size || m->len > m->snap_size - m->offset)
		return sn__err(SN_EMALFORMED, "raft SNAP: chunk beyond size");
	if (!m->len)
		m->data = NULL;
	return SN_OK;
}

int sn__raft_msg_decode(sn__raft_msg *m, const void *buf, size_t len)
{
	sn__reader r = { buf, len, false };
	uint8_t version;
	uint32_t n;

	memset(m, 0, sizeof *m);
	version = sn__get_u8(&r);
	m->type = sn__get_u8(&r);
	m->reject = sn__get_u8(&r);
	m->flags = sn__get_u8(&r);
	m->term = sn__get_u64(&r);
	m->index = sn__get_u64(&r);
	m->log_term = sn__get_u64(&r);
	m->commit = sn__get_u64(&r);
	m->hint = sn__get_u64(&r);
	m->ctx = sn__get_u64(&r);
	n = sn__get_u32(&r);
	if (r.bad)
		return sn__err(SN_EMALFORMED, "raft message: truncated header "
			       "(%zu bytes)", len);
	if (version != 1)
		return sn__err(SN_EMALFORMED, "raft message: version %u", version);
	if (m->type < SN__RAFT_APP || m->type > SN__RAFT_MSG_TYPE_MAX)
		return sn__err(SN_EMALFORMED, "raft message: type %u", m->type);
	if (m->reject > 1 || (m->flags & ~SN__RAFT_FLAG_TRANSFER))
		return sn__err(SN_EMALFORMED, "raft message: bad flags");
	if (n && m->type != SN__RAFT_APP)
		return sn__err(SN_EMALFORMED, "raft %s carries entries",
			       sn__raft_msg_type_name(m->type));
	if (n > SN__RAFT_MAX_ENTRIES_PER_MSG)
		return sn__err(SN_EMALFORMED, "raft message: %u entries, limit "
			       "%u", n, SN__RAFT_MAX_ENTRIES_PER_MSG);
	/* Each entry needs at least its header: reject lying counts before
	 * allocating for them. */
	if (n > r.left / SN__RAFT_ENTRY_HEADER)
		return sn__err(SN_EMALFORMED, "raft message: %u entries do not "
			       "fit in %zu bytes", n, r.left);
	if (m->index > UINT64_MAX - n)
		return sn__err(SN_EMALFORMED, "raft message: index overflow");
	if (n) {
		m->entries = sn__calloc(n, sizeof *m->entries);
		if (!m->entries)
			return sn__err(SN_ENOMEM, "raft message: no memory");
	}
	for (uint32_t i = 0; i < n; i++) {
		sn_entry *e = &m->entries[i];
		e->index = m->index + 1 + i;
		e->term = sn__get_u64(&r);
		e->type = sn__get_u8(&r);
		e->len = sn__get_u32(&r);
		e->data = sn__get_bytes(&r, e->len);
		if (r.bad || e->type > SN_ENTRY_NOOP) {
			sn__free(m->entries);
			m->entries = NULL;
			return sn__err(SN_EMALFORMED, "raft message: entry %u "
				       "malformed", i);
		}
		if (!e->len)
			e->data = NULL;
	}
	m->n_entries = n;
	if (m->type == SN__RAFT_SNAP) {
		int rv = decode_snap(m, &r);
		if (rv) {
			sn__raft_msg_free(m);
			return rv;
		}
	}
	if (r.left) {
		sn__raft_msg_free(m);
		return sn__err(SN_EMALFORMED, "raft message: %zu trailing bytes",
			       r.left);
	}
	return SN_OK;
}

const char *sn__raft_msg_type_name(int type)
{
	switch (type) {
	case SN__RAFT_APP: return "APP";
	case SN__RAFT_APP_RESP: return "APP_RESP";
	case SN__RAFT_VOTE: return "VOTE";
	case SN__RAFT_VOTE_RESP: return "VOTE_RESP";
	case SN__RAFT_PREVOTE: return "PREVOTE";
	case SN__RAFT_PREVOTE_RESP: return "PREVOTE_RESP";
	case SN__RAFT_HEARTBEAT: return "HEARTBEAT";
	case SN__RAFT_HEARTBEAT_RESP: return "HEARTBEAT_RESP";
	case SN__RAFT_TIMEOUT_NOW: return "TIMEOUT_NOW";
	case SN__RAFT_SNAP: return "SNAP";
	case SN__RAFT_SNAP_RESP: return "SNAP_RESP";
	default: return "UNKNOWN";
	}
}
