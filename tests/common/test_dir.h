/*
 * tests/common/test_dir.h - a fresh temporary directory for a test:
 * $TMPDIR (or /tmp) / NAME-XXXXXX, created with mkdtemp(). Returns the
 * path, or "" when it could not be made (the caller asserts).
 */
#ifndef SENATE_TESTS_COMMON_TEST_DIR_H
#define SENATE_TESTS_COMMON_TEST_DIR_H

#include <cstdlib>
#include <string>
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

} // namespace senate_test

#endif
