/*
 * senate/senate.h - the umbrella header: everything of the stable C ABI.
 */
#ifndef SENATE_SENATE_H
#define SENATE_SENATE_H

#include <senate/common.h>
#include <senate/errors.h>
#include <senate/buf.h>
#include <senate/log.h>
#include <senate/alloc.h>
#include <senate/sys/engine.h>
#include <senate/sys/storage.h>
#include <senate/raft.h>
#include <senate/paxos.h>
#include <senate/sys/transport.h>
#include <senate/node.h>

#endif
