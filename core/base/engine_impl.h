/*
 * core/base/engine_impl.h - how a protocol plugs into the sn_engine seam.
 * Each engine (raft, paxos) fills one sn__engine_ops table; the public
 * sn_engine_* functions dispatch through it.
 */
#ifndef SN__ENGINE_IMPL_H
#define SN__ENGINE_IMPL_H

#include "base.h"

typedef struct sn__engine_ops {
	const char *name;
	int (*step)(sn_engine *e, const sn_message *m);
	void (*tick)(sn_engine *e);
	int (*propose)(sn_engine *e, uint64_t *index_out, const void *data,
		       size_t len);
	int (*read_index)(sn_engine *e, uint64_t ctx);
	int (*transfer_leader)(sn_engine *e, uint64_t to);
	int (*campaign)(sn_engine *e);
	int (*has_ready)(const sn_engine *e);
	int (*ready)(sn_engine *e, sn_ready *rd);
	void (*advance)(sn_engine *e);
	void (*persisted)(sn_engine *e, uint64_t index, uint64_t term);
	int (*snapshot_taken)(sn_engine *e, const sn_snapshot_meta *meta);
	int (*compact)(sn_engine *e, uint64_t index);
	void (*status)(const sn_engine *e, sn_engine_status *st);
	void (*destroy)(sn_engine *e);
} sn__engine_ops;

/* Every engine struct starts with this header. */
struct sn_engine {
	const sn__engine_ops *ops;
};

#endif
