/*
 * core/node/node_store.h - the built-in store (core/store) as a node's
 * state machine (internal; senated uses it).
 *
 * Proposals are store commands (sn__store_cmd_put / _delete_range / _txn);
 * the result bytes a proposer gets back are the store's encoded result
 * (sn__store_result.raw). Snapshots are LMDB's compacted consistent copy;
 * a received one is copied next to the store and swapped in.
 */
#ifndef SN__NODE_STORE_H
#define SN__NODE_STORE_H

#include "../base/base.h"
#include "../store/store.h"

/* Fill *out with callbacks that run `st` (borrowed: it must outlive the
 * node). SN_OK. */
int sn__node_store_sm(sn_state_machine *out, sn__store *st);

#endif
