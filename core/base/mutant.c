#include "base.h"

#ifdef SN_MUTANTS
int sn__mutant = SN__MUTANT_NONE;
#endif

static const char *const names[SN__MUTANT_COUNT] = {
	[SN__MUTANT_NONE] = "none",
	[SN__MUTANT_COMMIT_OLD_TERM] = "commit-old-term",
	[SN__MUTANT_VOTE_NO_LOG_CHECK] = "vote-no-log-check",
	[SN__MUTANT_NO_PERSIST_VOTE] = "no-persist-vote",
	[SN__MUTANT_ACK_BEFORE_SYNC] = "ack-before-sync",
	[SN__MUTANT_DROP_SNAPSHOT_MARKER] = "drop-snapshot-marker",
	[SN__MUTANT_ACCEPT_LOWER_BALLOT] = "accept-lower-ballot",
	[SN__MUTANT_SKIP_RECOVERY] = "skip-recovery",
	[SN__MUTANT_NO_PERSIST_PROMISE] = "no-persist-promise",
};

int sn__mutant_from_name(const char *name)
{
	for (int i = 0; i < SN__MUTANT_COUNT; i++)
		if (name && strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *sn__mutant_name(int id)
{
	return id >= 0 && id < SN__MUTANT_COUNT ? names[id] : NULL;
}
