/*
 * Snapshots of the simulated state machine.
 *
 * The state machine is a register plus the digest of the applied sequence
 * (a hash chain over every entry applied, index and term included - the
 * term left out for an engine that re-ballots values), so that
 * a snapshot carries what the checkers need to compare a restored node with
 * the global history. Encoded, a snapshot is a 48-byte header
 *
 *   u32 magic "SIMS", u32 filler length, u64 index, u64 term, u64 register,
 *   u64 digest, u64 check (a hash of the fields before it)
 *
 * followed by filler derived from the check word, so that the bytes are a
 * function of the content (two nodes' snapshots at one index are
 * identical) and every byte can be verified, and so that a snapshot is
 * several KB: transfers take many chunks of max_msg_bytes.
 *
 * Each node takes a snapshot every K applied entries (K per seed, jittered
 * per node), stores it in its snapshot store, tells the engine
 * (sn_engine_snapshot_taken), then compacts the engine's log and the
 * storage behind it, keeping a trailing window of the seed's size.
 */
#include "sim.h"

#include "base/base.h"
#include "log/memstore.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC 0x534d4953u /* "SIMS" */
#define SNAP_HEADER 48u

bool sim_digest_values_only;

uint64_t sim_digest(uint64_t digest, uint64_t index, const sim_entry *e)
{
	uint64_t h = sim_mix(digest ^ index);

	h = sim_mix(h ^ (sim_digest_values_only ? 0 : e->term));
	h = sim_mix(h ^ ((uint64_t)e->type << 32 | e->len));
	for (uint32_t i = 0; i < e->len; i += 8) {
		uint64_t w = 0;
		for (uint32_t j = 0; j < 8 && i + j < e->len; j++)
			w |= (uint64_t)e->data[i + j] << (8 * j);
		h = sim_mix(h ^ w);
	}
	return h;
}

void sim_sm_apply(sim_sm *sm, uint64_t index, const sim_entry *e)
{
	uint64_t value = sim_entry_value(e);

	sm->applied = index;
	sm->digest = sim_digest(sm->digest, index, e);
	if (value)
		sm->reg = value;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t header_check(const sim_sm *sm, uint64_t term, uint32_t fill)
{
	uint64_t h = sim_mix(SNAP_MAGIC ^ (uint64_t)fill << 32);

	h = sim_mix(h ^ sm->applied);
	h = sim_mix(h ^ term);
	h = sim_mix(h ^ sm->reg);
	return sim_mix(h ^ sm->digest);
}

/* Byte i of the filler. Written and checked a word at a time. */
static void filler(uint8_t *p, size_t len, uint64_t check)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = sim_mix(check + i);
		for (size_t j = 0; j < 8 && i + j < len; j++, w >>= 8)
			p[i + j] = (uint8_t)w;
	}
}

uint8_t *sim_snap_encode(const sim *s, const sim_sm *sm, uint64_t term,
			 size_t *len)
{
	uint32_t fill = s->pf.snap_pad + (uint32_t)(sm->digest % 512);
	uint64_t check = header_check(sm, term, fill);
	uint8_t *p = sim_alloc(SNAP_HEADER + fill);

	put_u32(p, SNAP_MAGIC);
	put_u32(p + 4, fill);
	put_u64(p + 8, sm->applied);
	put_u64(p + 16, term);
	put_u64(p + 24, sm->reg);
	put_u64(p + 32, sm->digest);
	put_u64(p + 40, check);
	filler(p + SNAP_HEADER, fill, check);
	*len = SNAP_HEADER + fill;
	return p;
}

bool sim_snap_decode(const sn_snapshot_meta *meta, const void *data,
		     size_t len, sim_sm *out, char *why, size_t cap)
{
	const uint8_t *p = data;
	uint8_t *want;
	uint32_t fill;
	uint64_t term, check;
	bool same;

	if (len < SNAP_HEADER || get_u32(p) != SNAP_MAGIC) {
		snprintf(why, cap, "no snapshot header (%zu bytes)", len);
		return false;
	}
	fill = get_u32(p + 4);
	out->applied = get_u64(p + 8);
	term = get_u64(p + 16);
	out->reg = get_u64(p + 24);
	out->digest = get_u64(p + 32);
	check = get_u64(p + 40);
	if (len != SNAP_HEADER + (size_t)fill || len != meta->size) {
		snprintf(why, cap, "%zu bytes, header says %u + %u, meta %"
			 PRIu64, len, SNAP_HEADER, fill, meta->size);
		return false;
	}
	if (check != header_check(out, term, fill)) {
		snprintf(why, cap, "header check word is wrong");
		return false;
	}
	if (out->applied != meta->index || term != meta->term) {
		snprintf(why, cap, "content is %" PRIu64 "/%" PRIu64
			 ", meta says %" PRIu64 "/%" PRIu64, out->applied,
			 term, meta->index, meta->term);
		return false;
	}
	want = sim_alloc(fill);
	filler(want, fill, check);
	same = memcmp(want, p + SNAP_HEADER, fill) == 0;
	free(want);
	if (!same) {
		snprintf(why, cap, "filler bytes differ from the content's");
		return false;
	}
	return true;
}

void sim_snap_take(sim *s, sim_node *n)
{
	uint64_t idx = n->sm.applied, upto;
	const sim_entry *e = sim_log_at(&n->mem, idx);
	sn_snapshot_meta meta;
	uint8_t *data;
	size_t len;
	int rv;

	if (!e) {
		sim_violation(s, "node %" PRIu64 " applied %" PRIu64 " but its "
			      "log holds %" PRIu64 "..%" PRIu64, n->id, idx,
			      n->mem.base + 1, sim_log_last(&n->mem));
		return;
	}
	data = sim_snap_encode(s, &n->sm, e->term, &len);
	meta = (sn_snapshot_meta){ idx, e->term, len, sn__crc32c(0, data, len),
				   s->voters, (size_t)s->pf.n_nodes };
	rv = sn__memsnap_put(n->snaps, &meta, data, len);
	free(data);
	if (rv == SN_OK)
		rv = sn_engine_snapshot_taken(n->eng, &meta);
	if (rv != SN_OK) {
		sim_violation(s, "node %" PRIu64 " snapshot at %" PRIu64
			      " refused: %s (%s)", n->id, idx, sn_strerror(rv),
			      sn_errmsg());
		return;
	}
	n->last_snap = idx;
	s->stats.snaps_taken++;
	sim_check_snapshot(s, n, &n->sm, "taken");
	upto = idx > s->pf.snap_trailing ? idx - s->pf.snap_trailing : 0;
	if (upto <= n->mem.base || s->violated)
		upto = 0; /* nothing to compact this time */
	rv = upto ? sn_engine_compact(n->eng, upto) : SN_OK;
	if (rv == SN_OK)
		rv = sim_node_record_snapshot(s, n, &meta, upto);
	if (rv != SN_OK) {
		sim_violation(s, "node %" PRIu64 " snapshot %" PRIu64
			      " (compaction to %" PRIu64 ") refused: %s (%s)",
			      n->id, idx, upto, sn_strerror(rv), sn_errmsg());
		return;
	}
	if (!upto)
		return;
	sim_log_compact(&n->mem, upto);
	s->stats.compactions++;
	sim_trace(s, "node %" PRIu64 " snapshot at %" PRIu64 " (%zu bytes), "
		  "log compacted to %" PRIu64 " (storage: once the marker is "
		  "durable)", n->id, idx, len, upto);
}

bool sim_snap_restore(sim *s, sim_node *n, const sn_snapshot_meta *meta,
		      const char *how)
{
	const void *data;
	size_t len;
	sim_sm sm;
	char why[160];

	if (sn__memsnap_get(n->snaps, meta->index, meta->term, NULL, &data,
			    &len) != SN_OK) {
		sim_violation(s, "node %" PRIu64 " %s: snapshot %" PRIu64 "/%"
			      PRIu64 " is not in its store", n->id, how,
			      meta->index, meta->term);
		return false;
	}
	if (meta->n_voters != (size_t)s->pf.n_nodes ||
	    !sim_snap_decode(meta, data, len, &sm, why, sizeof why)) {
		if (meta->n_voters != (size_t)s->pf.n_nodes)
			snprintf(why, sizeof why, "%zu voters", meta->n_voters);
		sim_violation(s, "node %" PRIu64 " %s: snapshot %" PRIu64 "/%"
			      PRIu64 " is bad: %s", n->id, how, meta->index,
			      meta->term, why);
		return false;
	}
	sim_check_snapshot(s, n, &sm, how);
	if (s->violated)
		return false;
	n->sm = sm;
	n->restored_at = sm.applied;
	n->last_snap = meta->index;
	sim_trace(s, "node %" PRIu64 " %s: state machine restored from "
		  "snapshot %" PRIu64 "/%" PRIu64 " (register %" PRIu64 ")",
		  n->id, how, meta->index, meta->term, sm.reg);
	sim_client_on_restore(s, n, sm.applied);
	return true;
}

int sim_snap_read(void *userdata, const sn_snapshot_meta *meta,
		  uint64_t offset, void *buf, size_t len, size_t *n_read)
{
	sim_node *n = userdata;
	const void *data;
	size_t size, k;

	if (sn__memsnap_get(n->snaps, meta->index, meta->term, NULL, &data,
			    &size) != SN_OK)
		return SN_ENOTFOUND;
	if (offset > size)
		return SN_EINVAL;
	k = size - (size_t)offset < len ? size - (size_t)offset : len;
	memcpy(buf, (const uint8_t *)data + offset, k);
	*n_read = k;
	return SN_OK;
}

/* ---- transfers, as the receiver sees them (counters) ------------------- */

static bool rcv_same(const sim_rcv *r, const sn_snapshot_meta *m)
{
	return r->index == m->index && r->term == m->term &&
	       r->size == m->size && r->crc == m->crc;
}

static bool rcv_busy(const sim_rcv *r)
{
	return r->index && r->offset > 0 && r->offset < r->size;
}

void sim_snap_transfer_cut(sim *s, sim_node *n)
{
	if (!rcv_busy(&n->rcv))
		return;
	s->stats.interrupted++;
	n->rcv.interrupted = true;
	sim_trace(s, "node %" PRIu64 " transfer of snapshot %" PRIu64
		  " cut at %" PRIu64 " of %" PRIu64 " bytes", n->id,
		  n->rcv.index, n->rcv.offset, n->rcv.size);
}

void sim_snap_chunk_written(sim *s, sim_node *n, const sn_snapshot_chunk *c)
{
	const sn_snapshot_meta *m = c->meta;
	sim_rcv *r = &n->rcv;
	int rv = sn__memsnap_write(n->snaps, m, c->offset, c->data, c->len);

	if (rv != SN_OK) {
		sim_violation(s, "node %" PRIu64 " was handed %zu bytes at "
			      "offset %" PRIu64 " of snapshot %" PRIu64 "/%"
			      PRIu64 " but holds %" PRIu64 " of it: %s (%s)",
			      n->id, c->len, c->offset, m->index, m->term,
			      sn__memsnap_offset(n->snaps, m), sn_strerror(rv),
			      sn_errmsg());
		return;
	}
	s->stats.chunks_written++;
	if (r->resume_at && c->offset == r->resume_at && rcv_same(r, m)) {
		s->stats.restart_resumes++;
		sim_trace(s, "node %" PRIu64 " resumes snapshot %" PRIu64
			  " at offset %" PRIu64 " after its restart", n->id,
			  m->index, c->offset);
	}
	r->resume_at = 0;
	if (c->offset == 0 || !rcv_same(r, m)) {
		bool same = rcv_same(r, m);
		bool cut = same ? c->offset == 0 && r->offset > 0 : rcv_busy(r);
		bool was = same && r->interrupted;
		if (cut)
			sim_snap_transfer_cut(s, n);
		*r = (sim_rcv){ m->index, m->term, m->size, m->crc, 0, 0,
				was || (same && cut), 0 };
	}
	r->offset = c->offset + c->len;
	r->chunks++;
}

void sim_snap_installed(sim *s, sim_node *n, const sn_snapshot_meta *meta)
{
	sim_rcv *r = &n->rcv;
	size_t chunks = rcv_same(r, meta) ? r->chunks : 0;

	s->stats.installs++;
	if (chunks >= 2)
		s->stats.chunked_installs++;
	if (chunks > s->stats.max_chunks)
		s->stats.max_chunks = chunks;
	if (rcv_same(r, meta) && r->interrupted)
		s->stats.resumed_installs++;
	sim_trace(s, "node %" PRIu64 " installs snapshot %" PRIu64 "/%" PRIu64
		  " (%" PRIu64 " bytes, %zu chunks%s)", n->id, meta->index,
		  meta->term, meta->size, chunks,
		  rcv_same(r, meta) && r->interrupted ? ", after an interruption"
						      : "");
	*r = (sim_rcv){ 0 };
}
