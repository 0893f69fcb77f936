/* ReadIndex (thesis §6.4) and leader transfer (thesis §3.10). */
#include "raft_impl.h"

static void emit_read(sn__raft *r, uint64_t ctx, uint64_t index, int status)
{
	/* Out of memory drops it: the caller's read times out. */
	sn__outbox_read(&r->ob, ctx, index, status);
}

static bool committed_in_term(const sn__raft *r)
{
	return sn__log_term(&r->log, r->commit) == r->term;
}

/* Give every waiting read a heartbeat round of its own. */
static void start_round(sn__raft *r)
{
	bool any = false;

	for (size_t i = 0; i < r->n_reads; i++) {
		if (r->reads[i].round)
			continue;
		if (!any)
			r->read_round++;
		any = true;
		r->reads[i].round = r->read_round;
		r->reads[i].index = r->commit;
	}
	if (any)
		sn__raft_bcast_heartbeat(r);
}

int sn__raft_read_index(sn_engine *e, uint64_t ctx)
{
	sn__raft *r = (sn__raft *)e;

	if (r->role != SN_ROLE_LEADER)
		return sn__err(SN_ENOTLEADER, "raft %llu: not the leader "
			       "(leader %llu)", (unsigned long long)r->id,
			       (unsigned long long)r->lead);
	if (r->n_prs == 1 && committed_in_term(r)) {
		emit_read(r, ctx, r->commit, SN_OK);
		return SN_OK;
	}
	if (r->n_reads >= r->max_pending_reads)
		return sn__err(SN_EBUSY, "raft: %zu reads pending", r->n_reads);
	if (sn__grow((void **)&r->reads, &r->cap_reads, r->n_reads + 1,
		     sizeof *r->reads))
		return SN_ENOMEM;
	r->reads[r->n_reads++] = (sn__read){ ctx, 0, 0 };
	/* Until an entry of this term commits, the leader's commit index may
	 * lag what earlier leaders committed: hold the read. */
	if (committed_in_term(r))
		start_round(r);
	return SN_OK;
}

void sn__raft_reads_on_commit(sn__raft *r)
{
	if (!r->n_reads || !committed_in_term(r))
		return;
	if (r->n_prs == 1) {
		for (size_t i = 0; i < r->n_reads; i++)
			emit_read(r, r->reads[i].ctx, r->commit, SN_OK);
		r->n_reads = 0;
		return;
	}
	start_round(r);
}

void sn__raft_reads_on_ack(sn__raft *r)
{
	size_t done = 0;

	while (done < r->n_reads && r->reads[done].round) {
		size_t acks = 1;
		for (size_t i = 0; i < r->n_prs; i++)
			if (i != r->self &&
			    r->prs[i].read_ack >= r->reads[done].round)
				acks++;
		if (acks < sn__raft_quorum(r))
			break;
		emit_read(r, r->reads[done].ctx, r->reads[done].index, SN_OK);
		done++;
	}
	if (!done)
		return;
	memmove(r->reads, r->reads + done, (r->n_reads - done) * sizeof *r->reads);
	r->n_reads -= done;
}

void sn__raft_reads_fail(sn__raft *r)
{
	for (size_t i = 0; i < r->n_reads; i++)
		emit_read(r, r->reads[i].ctx, 0, SN_ENOTLEADER);
	r->n_reads = 0;
}

int sn__raft_transfer_leader(sn_engine *e, uint64_t to)
{
	sn__raft *r = (sn__raft *)e;
	sn__progress *pr;

	if (r->role != SN_ROLE_LEADER)
		return sn__err(SN_ENOTLEADER, "raft %llu: not the leader",
			       (unsigned long long)r->id);
	if (to == r->id)
		return sn__err(SN_EINVAL, "raft: transfer to self");
	pr = sn__raft_progress(r, to);
	if (!pr)
		return sn__err(SN_ENOTFOUND, "raft: %llu is not a voter",
			       (unsigned long long)to);
	r->transferee = to;
	r->election_elapsed = 0; /* the transfer gets one election timeout */
	if (pr->match == sn__log_last(&r->log))
		sn__raft_transfer_check(r, pr);
	else
		sn__raft_send_append(r, pr, true);
	return SN_OK;
}

void sn__raft_transfer_check(sn__raft *r, sn__progress *pr)
{
	sn__raft_msg m = { 0 };

	if (r->transferee != pr->id || pr->match != sn__log_last(&r->log))
		return;
	m.type = SN__RAFT_TIMEOUT_NOW;
	m.term = r->term;
	sn__raft_send(r, false, pr->id, &m);
}
