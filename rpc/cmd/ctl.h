/*
 * senatectl's commands that live outside senatectl.c (docs/senatectl.md).
 */
#ifndef SENATE_CTL_H
#define SENATE_CTL_H

#include <senate/sys/engine.h>

#include <stddef.h>

/*
 * `senatectl cluster up|down|status ...`: a local cluster of senated
 * processes kept in one directory (ctl_cluster.c). argv[0] is the word
 * after `cluster` (up, down, status), argv[1..argc) its flags; argv0 is
 * senatectl's own argv[0] (a fallback for finding the senated beside it).
 * Returns the exit status: 0 done, 1 failed (no leader in time, a member
 * died, a port taken, ...), 2 usage (bad flags, flags that contradict
 * DIR/cluster.conf, a directory that is not a cluster).
 */
int ctl_cluster(int argc, char **argv, const char *argv0);

struct sn_client;

/*
 * `senatectl --endpoints ... bench put [flags]` (ctl_bench.c): a bounded
 * write load through the client `c` (or, with --etcd, raw etcd v3 puts to
 * eps[0]); prints ops/s and latency percentiles. argv[0] is the word after
 * `bench`. Returns the exit status (0, 1 failures, 2 usage), or -1 for an
 * unknown bench command.
 */
int ctl_bench(struct sn_client *c, const char *const *eps, size_t n_eps,
	      int argc, char **argv);

/* A number in [min, max], or a message and exit(2) (senatectl.c). */
long long ctl_number(const char *flag, const char *s, long long min,
		     long long max);

/* An sn_role (or -1) as the status tables print it. */
static inline const char *ctl_role_name(int role)
{
	switch (role) {
	case SN_ROLE_FOLLOWER: return "follower";
	case SN_ROLE_PRECANDIDATE: return "precandidate";
	case SN_ROLE_CANDIDATE: return "candidate";
	case SN_ROLE_LEADER: return "leader";
	default: return "?";
	}
}

#endif
