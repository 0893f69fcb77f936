/*
 * tests/common/free_port.h - a loopback TCP port for a test server to
 * listen on: the kernel picks one, it is read and the socket closed, so it
 * was free a moment ago (another process may still take it first).
 */
#ifndef SENATE_TESTS_COMMON_FREE_PORT_H
#define SENATE_TESTS_COMMON_FREE_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace senate_test {

/* A loopback port nobody listens on right now (bound, read, closed); 0 when
 * no socket could be had (the caller asserts). */
inline int FreePort()
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	int port = 0;
	if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
	    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

} // namespace senate_test

#endif
