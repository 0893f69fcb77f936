/*
 * senatectl's commands that live outside senatectl.c (docs/senatectl.md).
 */
#ifndef SENATE_CTL_H
#define SENATE_CTL_H

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

#endif
