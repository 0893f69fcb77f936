/*
 * The static initializers of the public headers must be usable as they are
 * in strict C99 with -Wall -Wextra -Werror (no missing-field-initializers
 * warning), at block and at file scope. Add each new *_INIT macro here.
 * (tests/unit checks that they equal the sn_*_init() defaults.)
 */
#include <senate/senate.h>

static const sn_raft_options file_scope_options = SN_RAFT_OPTIONS_INIT;
static const sn_paxos_options file_scope_paxos = SN_PAXOS_OPTIONS_INIT;
static const sn_node_options file_scope_node = SN_NODE_OPTIONS_INIT;

int headertest_init_macros(void);
int headertest_init_macros(void)
{
	sn_raft_options options = SN_RAFT_OPTIONS_INIT;
	sn_paxos_options paxos = SN_PAXOS_OPTIONS_INIT;
	sn_buf buf = SN_BUF_INIT;
	sn_node_options node = SN_NODE_OPTIONS_INIT;

	return (int)(options.version + file_scope_options.version +
		     paxos.version + file_scope_paxos.version + buf.size +
		     node.version + file_scope_node.version);
}
