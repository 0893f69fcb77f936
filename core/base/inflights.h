/*
 * core/base/inflights.h - the in-flight window of one member, shared by
 * the engines' flow control (internal).
 *
 * A leader replicating to a member pipelines messages: each one in flight
 * is remembered by the last index it carries and its entry bytes, in a ring
 * of `cap` (max_inflight_msgs) slots. An acknowledgment frees the messages
 * it covers; the window is full at `cap` messages or at a byte limit.
 */
#ifndef SN__INFLIGHTS_H
#define SN__INFLIGHTS_H

#include "base.h"

typedef struct sn__inflight {
	uint64_t last; /* last index carried by the message */
	size_t bytes;  /* entry bytes carried */
} sn__inflight;

typedef struct sn__inflights {
	sn__inflight *ring;
	size_t cap;          /* slots in the ring */
	size_t start, count; /* oldest message, messages in flight */
	size_t bytes;        /* their entry bytes */
} sn__inflights;

/* An empty window of `cap` messages. SN_ENOMEM (no detail set). */
int sn__inflights_init(sn__inflights *f, size_t cap);
void sn__inflights_free(sn__inflights *f);

bool sn__inflights_full(const sn__inflights *f, size_t max_bytes);
/* A message carrying entries through `last` (bytes of them) was sent. */
void sn__inflights_add(sn__inflights *f, uint64_t last, size_t bytes);
/* Forget messages whose entries are all acknowledged (index <= upto). */
void sn__inflights_free_to(sn__inflights *f, uint64_t upto);
/* Forget the oldest message (a full window with no acks: let one more
 * message probe it). */
void sn__inflights_free_first(sn__inflights *f);
void sn__inflights_reset(sn__inflights *f);

#endif
