/*
 * tests/common/free_port.h - a loopback TCP port for a test server to
 * listen on. It is taken at random below the kernel's ephemeral range
 * (ip_local_port_range starts at 32768 by default), so that no outgoing
 * connection of another test or program can be given it between the check
 * and the server's bind; it was free when checked (bound, then closed).
 * Two tests may still draw the same port at the same moment: unlikely
 * among 17,000 ports, and the losing server fails loudly.
 */
#ifndef SENATE_TESTS_COMMON_FREE_PORT_H
#define SENATE_TESTS_COMMON_FREE_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>

namespace senate_test {

/* Whether a loopback listener could bind `port` now (0: the kernel picks;
 * *got receives the port bound). */
inline bool TryBind(int port, int *got)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(static_cast<uint16_t>(port));
	socklen_t len = sizeof a;
	bool ok = bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
		  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0;
	if (ok)
		*got = ntohs(a.sin_port);
	close(fd);
	return ok;
}

/* A loopback port nobody listens on right now; 0 when no socket could be
 * had (the caller asserts). */
inline int FreePort()
{
	static std::mt19937 rng(static_cast<unsigned>(
		getpid() ^ std::chrono::steady_clock::now()
				   .time_since_epoch()
				   .count()));
	std::uniform_int_distribution<int> pick(15000, 31999);
	int got = 0;
	for (int i = 0; i < 200; i++)
		if (TryBind(pick(rng), &got))
			return got;
	return TryBind(0, &got) ? got : 0;
}

} // namespace senate_test

#endif
