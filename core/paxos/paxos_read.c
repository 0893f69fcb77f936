/*
 * Read-index rounds. A leader whose recovery is complete holds every value
 * ever chosen in its log through its commit index. A read records that
 * index, then a heartbeat round at the leader's ballot: once a quorum
 * answered without having promised a higher ballot, no newer leader had
 * finished phase 1 when the read began (its promise quorum would intersect
 * ours), so nothing chosen before the read is missing from that index.
 * No lease: acceptors promise any higher ballot at once, so only a round
 * trip proves leadership.
 */
#include "paxos_impl.h"

static void emit_read(sn__paxos *p, uint64_t ctx, uint64_t index, int status)
{
	/* Out of memory drops it: the caller's read times out. */
	sn__outbox_read(&p->ob, ctx, index, status);
}

static bool serving(const sn__paxos *p)
{
	return p->role == SN_ROLE_LEADER && !p->recovering;
}

/* Give every waiting read a heartbeat round of its own. */
static void start_round(sn__paxos *p)
{
	bool any = false;

	for (size_t i = 0; i < p->n_reads; i++) {
		if (p->reads[i].round)
			continue;
		if (!any)
			p->read_round++;
		any = true;
		p->reads[i].round = p->read_round;
		p->reads[i].index = p->commit;
	}
	if (any)
		sn__paxos_bcast_heartbeat(p);
}

int sn__paxos_read_index(sn_engine *e, uint64_t ctx)
{
	sn__paxos *p = (sn__paxos *)e;

	if (p->role != SN_ROLE_LEADER)
		return sn__err(SN_ENOTLEADER, "paxos %llu: not the leader "
			       "(leader %llu)", (unsigned long long)p->id,
			       (unsigned long long)p->lead);
	if (p->n_prs == 1 && serving(p)) {
		emit_read(p, ctx, p->commit, SN_OK);
		return SN_OK;
	}
	if (p->n_reads >= p->max_pending_reads)
		return sn__err(SN_EBUSY, "paxos: %zu reads pending", p->n_reads);
	if (sn__grow((void **)&p->reads, &p->cap_reads, p->n_reads + 1,
		     sizeof *p->reads))
		return SN_ENOMEM;
	p->reads[p->n_reads++] = (sn__pread){ ctx, 0, 0 };
	/* While recovering, the commit index may lag what earlier leaders
	 * chose: hold the read until recovery ends. */
	if (serving(p))
		start_round(p);
	return SN_OK;
}

void sn__paxos_reads_on_recovered(sn__paxos *p)
{
	if (!p->n_reads)
		return;
	if (p->n_prs == 1) {
		for (size_t i = 0; i < p->n_reads; i++)
			emit_read(p, p->reads[i].ctx, p->commit, SN_OK);
		p->n_reads = 0;
		return;
	}
	start_round(p);
}

void sn__paxos_reads_on_ack(sn__paxos *p)
{
	size_t done = 0;

	while (done < p->n_reads && p->reads[done].round) {
		size_t acks = 1;
		for (size_t i = 0; i < p->n_prs; i++)
			if (i != p->self &&
			    p->prs[i].read_ack >= p->reads[done].round)
				acks++;
		if (acks < sn__paxos_quorum(p))
			break;
		emit_read(p, p->reads[done].ctx, p->reads[done].index, SN_OK);
		done++;
	}
	if (!done)
		return;
	memmove(p->reads, p->reads + done,
		(p->n_reads - done) * sizeof *p->reads);
	p->n_reads -= done;
}

void sn__paxos_reads_fail(sn__paxos *p)
{
	for (size_t i = 0; i < p->n_reads; i++)
		emit_read(p, p->reads[i].ctx, 0, SN_ENOTLEADER);
	p->n_reads = 0;
}

int sn__paxos_transfer_leader(sn_engine *e, uint64_t to)
{
	sn__paxos *p = (sn__paxos *)e;

	(void)to;
	return sn__err(SN_ENOTSUP, "paxos %llu: leader transfer is not "
		       "supported", (unsigned long long)p->id);
}
