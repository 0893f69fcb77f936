// rpc/cmd/absl_tune.cc - process-wide settings of the abseil under gRPC,
// for the programs (senated, senatectl), never for the libraries: a
// library must not change its host process's global settings.
//
// Debian's abseil leaves absl::Mutex's deadlock detection on (it is a
// debugging aid: every lock records lock-order edges in a global graph).
// gRPC takes such mutexes on every call; measured with perf under
// `senatectl bench put`, the graph upkeep was ~4% of the members' CPU.
#include <absl/synchronization/mutex.h>

extern "C" void sn__absl_tune(void)
{
	absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}
