/*
 * tests/common/senated_cluster.h - N real `senated` processes on free
 * loopback ports, for the process-level tests: start, SIGKILL, SIGTERM and
 * restart members (or signal several, then reap each with its wait
 * status), read their logs, run the binary once with other arguments.
 * Everything left running is SIGKILLed and the data directory removed when
 * the object goes away.
 */
#ifndef SENATE_TESTS_SENATED_CLUSTER_H
#define SENATE_TESTS_SENATED_CLUSTER_H

#include "free_port.h"
#include "test_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace senate_test {

class SenatedCluster {
public:
	std::string senated; /* the binary */
	std::string root;    /* data: root/NAME/data, logs: root/NAME.log */
	std::vector<std::string> names;
	std::map<std::string, std::string> peer, client;
	std::map<std::string, pid_t> pid;
	std::string initial_cluster;
	std::vector<std::string> flags; /* extra flags for every member */

	/* Members n1..nN (ids 1..N: names sort in that order for N <= 9). */
	SenatedCluster(const std::string &binary, const std::string &tag,
		       int n)
		: senated(binary), root(MakeTestDir(tag))
	{
		for (int i = 1; i <= n; i++) {
			std::string name = "n" + std::to_string(i);
			names.push_back(name);
			peer[name] = "127.0.0.1:" + std::to_string(FreePort());
			client[name] =
				"127.0.0.1:" + std::to_string(FreePort());
			if (!initial_cluster.empty())
				initial_cluster += ",";
			initial_cluster +=
				name + "=" + peer[name] + ";" + client[name];
		}
	}
	~SenatedCluster()
	{
		for (auto &p : pid)
			Kill(p.first);
		if (!root.empty())
			std::filesystem::remove_all(root);
	}
	SenatedCluster(const SenatedCluster &) = delete;
	SenatedCluster &operator=(const SenatedCluster &) = delete;

	bool ok() const { return !root.empty(); }

	/* The members' client addresses, in name order. */
	std::vector<std::string> Endpoints() const
	{
		std::vector<std::string> out;
		for (const std::string &n : names)
			out.push_back(client.at(n));
		return out;
	}

	/* Start (or restart on its data) one member; its pid, or -1. */
	pid_t Start(const std::string &n)
	{
		std::vector<std::string> args = {
			"--name", n, "--data-dir", root + "/" + n + "/data",
			"--listen-peer", peer[n], "--listen-client", client[n],
			"--initial-cluster", initial_cluster
		};
		args.insert(args.end(), flags.begin(), flags.end());
		pid_t p = Spawn(args, root + "/" + n + ".log");
		pid[n] = p;
		return p;
	}
	bool StartAll()
	{
		for (const std::string &n : names)
			if (Start(n) <= 0)
				return false;
		return true;
	}
	/*
	 * Send `sig` to a running member without waiting for it (to signal
	 * several members at once, then Wait for each); false when it is not
	 * running.
	 */
	bool Signal(const std::string &n, int sig)
	{
		return pid[n] > 0 && kill(pid[n], sig) == 0;
	}
	/*
	 * Reap a member that was signalled or exits by itself: its wait
	 * status, or -1 when it was not running or could not be reaped. It is
	 * not running afterwards.
	 */
	int Wait(const std::string &n)
	{
		int st = -1;
		if (pid[n] > 0 && waitpid(pid[n], &st, 0) != pid[n])
			st = -1;
		pid[n] = 0;
		return st;
	}
	/* SIGKILL, reaped. */
	void Kill(const std::string &n)
	{
		Signal(n, SIGKILL);
		Wait(n);
	}
	/* SIGTERM; the wait status (-1 when it was not running). */
	int Stop(const std::string &n)
	{
		Signal(n, SIGTERM);
		return Wait(n);
	}
	bool Running(const std::string &n) { return pid[n] > 0; }

	/*
	 * Run the binary once, not as a member: exactly `args` (no member
	 * flags, none of `flags`), stdout and stderr appended to the file
	 * `log`. Its wait status, or -1 when it could not be started or
	 * reaped. For checking flags and usage.
	 */
	int Run(const std::vector<std::string> &args, const std::string &log)
	{
		pid_t p = Spawn(args, log);
		int st = -1;
		if (p <= 0 || waitpid(p, &st, 0) != p)
			return -1;
		return st;
	}

	/* A member's log (its output so far, all runs); "" if none. */
	std::string Log(const std::string &n) const
	{
		return ReadFile(root + "/" + n + ".log");
	}
	/* The whole file at `path`; "" when it cannot be read. */
	static std::string ReadFile(const std::string &path)
	{
		std::string s;
		FILE *f = fopen(path.c_str(), "r");
		if (!f)
			return s;
		char buf[4096];
		size_t k;
		while ((k = fread(buf, 1, sizeof buf, f)) > 0)
			s.append(buf, k);
		fclose(f);
		return s;
	}

	/* Which member listens for clients at `addr` ("" if none). */
	std::string NameOf(const std::string &addr) const
	{
		for (const auto &c : client)
			if (c.second == addr)
				return c.first;
		return "";
	}

private:
	pid_t Spawn(const std::vector<std::string> &args,
		    const std::string &log)
	{
		pid_t p = fork();
		if (p == 0) {
			int fd = open(log.c_str(),
				      O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 2);
				dup2(fd, 1);
			}
			std::vector<char *> av;
			av.push_back(const_cast<char *>(senated.c_str()));
			for (const std::string &a : args)
				av.push_back(const_cast<char *>(a.c_str()));
			av.push_back(nullptr);
			execv(senated.c_str(), av.data());
			_exit(127);
		}
		return p;
	}
};

} // namespace senate_test

#endif
