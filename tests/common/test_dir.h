/*
 * tests/common/test_dir.h - a fresh temporary directory for a test:
 * $TMPDIR (or /tmp) / NAME-XXXXXX, created with mkdtemp(). Returns the
 * path, or "" when it could not be made (the caller asserts). And
 * FdIsBelow(): whether an open file lies below a directory (for fault
 * hooks that act on one member's files only).
 */
#ifndef SENATE_TESTS_COMMON_TEST_DIR_H
#define SENATE_TESTS_COMMON_TEST_DIR_H

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

namespace senate_test {

inline std::string MakeTestDir(const std::string &name)
{
	const char *tmp = std::getenv("TMPDIR");
	std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" +
			   name + "-XXXXXX";
	std::vector<char> buf(tmpl.begin(), tmpl.end());
	buf.push_back('\0');
	return mkdtemp(buf.data()) ? std::string(buf.data()) : std::string();
}

/* Whether the file open as `fd` is below directory `dir` (by its path in
 * /proc/self/fd). */
inline bool FdIsBelow(int fd, const std::string &dir)
{
	char link[64], path[PATH_MAX];
	std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return false;
	path[n] = '\0';
	return std::string(path).rfind(dir + "/", 0) == 0;
}

} // namespace senate_test

#endif
