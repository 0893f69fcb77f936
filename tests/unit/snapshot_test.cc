/*
 * snapshot_test.cc - core/log/snapshot*.c: the header codec, writing
 * (resumable, atomic commit, cleanup), reading with every checksum checked.
 */
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
#include "log/snapshot.h"
}

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> Pattern(size_t n, uint64_t seed)
{
	std::vector<uint8_t> v(n);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(sn__splitmix64(&seed) >> 56);
	return v;
}

uint32_t Crc(const std::vector<uint8_t> &v)
{
	return sn__crc32c(0, v.data(), v.size());
}

/* A fresh directory per test, removed afterwards. */
class SnapshotFile : public ::testing::Test {
protected:
	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-snap");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		dir = root + "/snaps";
	}
	void TearDown() override { fs::remove_all(root); }

	sn_snapshot_meta Meta(uint64_t index, uint64_t term,
			      const std::vector<uint8_t> &data)
	{
		sn_snapshot_meta m{};
		m.index = index;
		m.term = term;
		m.size = data.size();
		m.crc = Crc(data);
		m.voters = voters.data();
		m.n_voters = voters.size();
		return m;
	}

	/* Write `data` in chunks of `chunk` bytes and commit. */
	void Commit(const std::string &d, uint64_t index, uint64_t term,
		    const std::vector<uint8_t> &data, size_t chunk = 1000)
	{
		sn_snapshot_meta m = Meta(index, term, data);
		sn_snapshot_writer *w = nullptr;
		ASSERT_EQ(sn_snapshot_writer_open(&w, d.c_str(), &m), SN_OK)
			<< sn_errmsg();
		for (size_t off = 0; off < data.size(); off += chunk) {
			size_t n = std::min(chunk, data.size() - off);
			ASSERT_EQ(sn_snapshot_write(w, off, data.data() + off, n),
				  SN_OK) << sn_errmsg();
		}
		ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK) << sn_errmsg();
	}

	/* Open the newest snapshot, read it all, compare. */
	void ExpectSnapshot(uint64_t index, uint64_t term,
			    const std::vector<uint8_t> &data)
	{
		sn_snapshot_reader *r = nullptr;
		sn_snapshot_meta m{};
		ASSERT_EQ(sn_snapshot_reader_open(&r, &m, dir.c_str()), SN_OK)
			<< sn_errmsg();
		EXPECT_EQ(m.index, index);
		EXPECT_EQ(m.term, term);
		EXPECT_EQ(m.size, data.size());
		EXPECT_EQ(m.crc, Crc(data));
		ASSERT_EQ(m.n_voters, voters.size());
		for (size_t i = 0; i < voters.size(); i++)
			EXPECT_EQ(m.voters[i], voters[i]);
		std::vector<uint8_t> got;
		uint8_t buf[777];
		for (;;) {
			size_t n = 99;
			ASSERT_EQ(sn_snapshot_read(r, got.size(), buf, sizeof buf,
						   &n), SN_OK);
			if (n == 0)
				break;
			got.insert(got.end(), buf, buf + n);
		}
		EXPECT_EQ(got, data);
		sn_snapshot_reader_close(r);
	}

	int OpenReader(std::string *msg)
	{
		sn_snapshot_reader *r = nullptr;
		sn_snapshot_meta m{};
		int rv = sn_snapshot_reader_open(&r, &m, dir.c_str());
		*msg = sn_errmsg();
		sn_snapshot_reader_close(r);
		if (rv != SN_OK) {
			EXPECT_EQ(r, nullptr);
		}
		return rv;
	}

	std::vector<std::string> Files(const std::string &d)
	{
		std::vector<std::string> names;
		for (auto &e : fs::directory_iterator(d))
			names.push_back(e.path().filename().string());
		std::sort(names.begin(), names.end());
		return names;
	}

	static std::string Name(uint64_t index, uint64_t term)
	{
		char n[SN__SNAPSHOT_NAME_MAX];
		sn__snapshot_name(n, index, term);
		return n;
	}

	static void FlipBit(const std::string &path, uint64_t byte, int bit)
	{
		std::fstream f(path, std::ios::in | std::ios::out |
					     std::ios::binary);
		ASSERT_TRUE(f.good()) << path;
		f.seekg((std::streamoff)byte);
		char c = 0;
		f.read(&c, 1);
		c = (char)(c ^ (1 << bit));
		f.seekp((std::streamoff)byte);
		f.write(&c, 1);
	}

	std::string root, dir;
	std::vector<uint64_t> voters{1, 2, 3};
};

/* ---- the header codec ---------------------------------------------------- */

TEST(SnapshotMeta, EncodeDecodeRoundTrip)
{
	uint64_t v[] = {7, 0xffffffffffffffffULL, 1};
	sn_snapshot_meta m{};
	m.index = 0x0102030405060708ULL;
	m.term = 42;
	m.size = 1ULL << 40;
	m.crc = 0xdeadbeef;
	m.voters = v;
	m.n_voters = 3;
	uint8_t buf[256];
	size_t len = 0;
	ASSERT_EQ(sn__snapshot_meta_encode(buf, sizeof buf, &m, &len), SN_OK);
	EXPECT_EQ(len, sn__snapshot_meta_size(3));
	EXPECT_EQ(len, 48u + 24u + 4u);
	EXPECT_EQ(memcmp(buf, "SNSP", 4), 0);

	size_t hlen = 0;
	ASSERT_EQ(sn__snapshot_meta_peek(buf, len, &hlen), SN_OK);
	EXPECT_EQ(hlen, len);

	sn_snapshot_meta d{};
	uint64_t dv[3];
	ASSERT_EQ(sn__snapshot_meta_decode(&d, dv, 3, buf, len, &hlen), SN_OK);
	EXPECT_EQ(hlen, len);
	EXPECT_EQ(d.index, m.index);
	EXPECT_EQ(d.term, m.term);
	EXPECT_EQ(d.size, m.size);
	EXPECT_EQ(d.crc, m.crc);
	ASSERT_EQ(d.n_voters, 3u);
	EXPECT_EQ(d.voters, dv);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(d.voters[i], v[i]);

	/* Trailing data is ignored: it is the snapshot's content. */
	ASSERT_EQ(sn__snapshot_meta_decode(&d, dv, 3, buf, sizeof buf, nullptr),
		  SN_OK);
}

TEST(SnapshotMeta, NoVoters)
{
	sn_snapshot_meta m{};
	m.index = 1;
	m.term = 1;
	uint8_t buf[64];
	size_t len = 0;
	ASSERT_EQ(sn__snapshot_meta_encode(buf, sizeof buf, &m, &len), SN_OK);
	EXPECT_EQ(len, 52u);
	sn_snapshot_meta d{};
	ASSERT_EQ(sn__snapshot_meta_decode(&d, nullptr, 0, buf, len, nullptr),
		  SN_OK);
	EXPECT_EQ(d.n_voters, 0u);
	EXPECT_EQ(d.voters, nullptr);
}

TEST(SnapshotMeta, EncodeRejects)
{
	std::vector<uint64_t> v(SN__SNAPSHOT_MAX_VOTERS + 1, 1);
	sn_snapshot_meta m{};
	m.index = 1;
	m.voters = v.data();
	m.n_voters = v.size();
	std::vector<uint8_t> buf(SN__SNAPSHOT_MAX_HEADER + 64);
	size_t len;
	EXPECT_EQ(sn__snapshot_meta_encode(buf.data(), buf.size(), &m, &len),
		  SN_EINVAL);
	EXPECT_EQ(sn__snapshot_meta_size(v.size()), 0u);
	m.n_voters = SN__SNAPSHOT_MAX_VOTERS;
	ASSERT_EQ(sn__snapshot_meta_encode(buf.data(), buf.size(), &m, &len),
		  SN_OK);
	EXPECT_EQ(len, SN__SNAPSHOT_MAX_HEADER);
	EXPECT_EQ(sn__snapshot_meta_encode(buf.data(), len - 1, &m, &len),
		  SN_ETOOLARGE);
	m.voters = nullptr;
	m.n_voters = 2;
	EXPECT_EQ(sn__snapshot_meta_encode(buf.data(), buf.size(), &m, &len),
		  SN_EINVAL);
}

class SnapshotMetaDamage : public ::testing::Test {
protected:
	void SetUp() override
	{
		uint64_t v[] = {1, 2, 3, 4, 5};
		sn_snapshot_meta m{};
		m.index = 100;
		m.term = 7;
		m.size = 12345;
		m.crc = 0x12345678;
		m.voters = v;
		m.n_voters = 5;
		buf.resize(128);
		size_t len;
		ASSERT_EQ(sn__snapshot_meta_encode(buf.data(), buf.size(), &m,
						   &len), SN_OK);
		buf.resize(len);
	}
	int Decode(const std::vector<uint8_t> &b, size_t len)
	{
		sn_snapshot_meta d{};
		uint64_t dv[8];
		return sn__snapshot_meta_decode(&d, dv, 8, b.data(), len,
						nullptr);
	}
	std::vector<uint8_t> buf;
};

TEST_F(SnapshotMetaDamage, EveryTruncationIsCorrupt)
{
	for (size_t len = 0; len < buf.size(); len++) {
		/* A copy of exactly `len` bytes, so ASan sees any overread. */
		std::vector<uint8_t> b(buf.begin(), buf.begin() + len);
		EXPECT_EQ(Decode(b, len), SN_ECORRUPT) << "len " << len;
	}
	EXPECT_EQ(Decode(buf, buf.size()), SN_OK);
}

TEST_F(SnapshotMetaDamage, EveryBitFlipIsCorrupt)
{
	for (size_t i = 0; i < buf.size() * 8; i++) {
		std::vector<uint8_t> b = buf;
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		EXPECT_EQ(Decode(b, b.size()), SN_ECORRUPT) << "bit " << i;
	}
}

TEST_F(SnapshotMetaDamage, ImpossibleFieldsWithValidCrc)
{
	/* Fields that are wrong although the CRC matches: re-sign them. */
	auto resign = [](std::vector<uint8_t> &b) {
		sn__put_u32(b.data() + b.size() - 4,
			    sn__crc32c(0, b.data(), b.size() - 4));
	};
	std::vector<uint8_t> b = buf;
	sn__put_u32(b.data() + 44, 1); /* flags */
	resign(b);
	EXPECT_EQ(Decode(b, b.size()), SN_ECORRUPT);
	EXPECT_NE(std::string(sn_errmsg()).find("flags"), std::string::npos);

	b = buf;
	sn__put_u32(b.data() + 4, 2); /* version */
	resign(b);
	EXPECT_EQ(Decode(b, b.size()), SN_ECORRUPT);

	b = buf;
	sn__put_u32(b.data() + 12, 6); /* n_voters disagrees with length */
	resign(b);
	EXPECT_EQ(Decode(b, b.size()), SN_ECORRUPT);

	b = buf;
	sn__put_u32(b.data() + 12, 0xffffffffu); /* absurd voter count */
	EXPECT_EQ(Decode(b, b.size()), SN_ECORRUPT);
	size_t hlen;
	EXPECT_EQ(sn__snapshot_meta_peek(b.data(), b.size(), &hlen),
		  SN_ECORRUPT);
}

TEST_F(SnapshotMetaDamage, TooManyVotersForTheCaller)
{
	sn_snapshot_meta d{};
	uint64_t dv[4];
	EXPECT_EQ(sn__snapshot_meta_decode(&d, dv, 4, buf.data(), buf.size(),
					   nullptr), SN_ETOOLARGE);
}

TEST(SnapshotMeta, Names)
{
	char n[SN__SNAPSHOT_NAME_MAX];
	sn__snapshot_name(n, 0x1a, 0xffffffffffffffffULL);
	EXPECT_STREQ(n, "snap-000000000000001a-ffffffffffffffff.snap");
	uint64_t i = 0, t = 0;
	ASSERT_TRUE(sn__snapshot_parse_name(n, &i, &t));
	EXPECT_EQ(i, 0x1au);
	EXPECT_EQ(t, 0xffffffffffffffffULL);
	for (const char *bad : {
		     "snap-000000000000001a-ffffffffffffffff.snap.tmp",
		     "snap-000000000000001A-ffffffffffffffff.snap",
		     "snap-000000000000001a_ffffffffffffffff.snap",
		     "snap-00000000000001a-ffffffffffffffff.snap",
		     "snap-000000000000001a-fffffffffffffffff.snap",
		     "snap-000000000000001a-ffffffffffffffff.snapx",
		     "snip-000000000000001a-ffffffffffffffff.snap", "", "snap-"})
		EXPECT_FALSE(sn__snapshot_parse_name(bad, &i, &t)) << bad;
}

/* ---- writing and reading files ----------------------------------------- */

TEST_F(SnapshotFile, WriteCommitReadRoundTrip)
{
	auto data = Pattern(300000, 1);
	sn_snapshot_meta m = Meta(50, 3, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK)
		<< sn_errmsg(); /* creates the directory */
	EXPECT_EQ(sn_snapshot_writer_offset(w), 0u);
	for (size_t off = 0; off < data.size(); off += 4096) {
		size_t n = std::min<size_t>(4096, data.size() - off);
		ASSERT_EQ(sn_snapshot_write(w, off, data.data() + off, n), SN_OK);
		if (off % 65536 == 0) {
			ASSERT_EQ(sn_snapshot_writer_sync(w), SN_OK);
		}
	}
	EXPECT_EQ(sn_snapshot_writer_offset(w), data.size());
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK) << sn_errmsg();
	EXPECT_EQ(Files(dir), std::vector<std::string>{Name(50, 3)});
	EXPECT_EQ(fs::file_size(dir + "/" + Name(50, 3)),
		  sn__snapshot_meta_size(3) + data.size());
	ExpectSnapshot(50, 3, data);
}

TEST_F(SnapshotFile, NestedDirectoriesAreCreated)
{
	auto data = Pattern(10, 40);
	dir = root + "/a/b/c/";
	Commit(dir, 2, 1, data);
	ExpectSnapshot(2, 1, data);
	EXPECT_TRUE(fs::exists(root + "/a/b/c/" + Name(2, 1)));
}

TEST_F(SnapshotFile, EmptySnapshot)
{
	voters.clear();
	Commit(dir, 1, 1, {});
	ExpectSnapshot(1, 1, {});
}

TEST_F(SnapshotFile, ReadOffsets)
{
	auto data = Pattern(5000, 2);
	Commit(dir, 9, 2, data);
	sn_snapshot_reader *r = nullptr;
	sn_snapshot_meta m{};
	ASSERT_EQ(sn_snapshot_reader_open(&r, &m, dir.c_str()), SN_OK);
	uint8_t buf[100];
	size_t n = 0;
	ASSERT_EQ(sn_snapshot_read(r, 4950, buf, sizeof buf, &n), SN_OK);
	EXPECT_EQ(n, 50u);
	EXPECT_EQ(memcmp(buf, data.data() + 4950, 50), 0);
	ASSERT_EQ(sn_snapshot_read(r, 5000, buf, sizeof buf, &n), SN_OK);
	EXPECT_EQ(n, 0u);
	EXPECT_EQ(sn_snapshot_read(r, 5001, buf, sizeof buf, &n), SN_EINVAL);
	ASSERT_EQ(sn_snapshot_read(r, 0, buf, 10, &n), SN_OK);
	EXPECT_EQ(n, 10u);
	EXPECT_EQ(memcmp(buf, data.data(), 10), 0);
	sn_snapshot_reader_close(r);
	sn_snapshot_reader_close(nullptr);
	sn_snapshot_writer_close(nullptr);
}

TEST_F(SnapshotFile, ResumeAfterCloseMidway)
{
	auto data = Pattern(200000, 3); /* > the 64 KiB re-read chunk */
	sn_snapshot_meta m = Meta(77, 5, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 150001), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_sync(w), SN_OK);
	sn_snapshot_writer_close(w); /* as if the leader went away */
	ASSERT_EQ(Files(dir).size(), 1u);
	EXPECT_NE(Files(dir)[0].find(".snap.tmp"), std::string::npos);

	std::string msg;
	EXPECT_EQ(OpenReader(&msg), SN_ENOTFOUND); /* not complete */

	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_offset(w), 150001u);
	EXPECT_EQ(sn_snapshot_write(w, 1, data.data(), 10), SN_EINVAL);
	ASSERT_EQ(sn_snapshot_write(w, 150001, data.data() + 150001,
				    data.size() - 150001), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK) << sn_errmsg();
	EXPECT_EQ(Files(dir), std::vector<std::string>{Name(77, 5)});
	ExpectSnapshot(77, 5, data);
}

/* After a restart the caller does not know which transfer was under way:
 * sn_snapshot_writer_resume() finds the newest temporary file, with its
 * meta, offset and CRC32C, and the transfer continues there. */
TEST_F(SnapshotFile, ResumeAfterARestartFindsTheTransfer)
{
	sn_snapshot_writer *w = nullptr;
	sn_snapshot_meta got{};
	EXPECT_EQ(sn_snapshot_writer_resume(&w, &got, dir.c_str()),
		  SN_ENOTFOUND);
	auto old = Pattern(5000, 1), data = Pattern(200000, 4);
	sn_snapshot_meta mo = Meta(50, 2, old), m = Meta(77, 5, data);
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &mo), SN_OK);
	ASSERT_EQ(sn_snapshot_write(w, 0, old.data(), 100), SN_OK);
	sn_snapshot_writer_close(w);
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 123457), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_sync(w), SN_OK);
	uint32_t crc = sn_snapshot_writer_crc(w);
	EXPECT_EQ(crc, sn__crc32c(0, data.data(), 123457));
	sn_snapshot_writer_close(w); /* the process dies */

	w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_resume(&w, &got, dir.c_str()), SN_OK)
		<< sn_errmsg();
	EXPECT_EQ(got.index, 77u);
	EXPECT_EQ(got.term, 5u);
	EXPECT_EQ(got.size, data.size());
	EXPECT_EQ(got.crc, m.crc);
	ASSERT_EQ(got.n_voters, voters.size());
	for (size_t i = 0; i < voters.size(); i++)
		EXPECT_EQ(got.voters[i], voters[i]);
	EXPECT_EQ(sn_snapshot_writer_offset(w), 123457u);
	EXPECT_EQ(sn_snapshot_writer_crc(w), crc);
	ASSERT_EQ(sn_snapshot_write(w, 123457, data.data() + 123457,
				    data.size() - 123457), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK) << sn_errmsg();
	ExpectSnapshot(77, 5, data);
	/* The older transfer's file went with the commit. */
	EXPECT_EQ(sn_snapshot_writer_resume(&w, &got, dir.c_str()),
		  SN_ENOTFOUND);
	EXPECT_EQ(sn_snapshot_writer_resume(nullptr, &got, dir.c_str()),
		  SN_EINVAL);
}

/* A temporary file whose header never made it to the disk is removed:
 * there is nothing to resume. */
TEST_F(SnapshotFile, ResumeOfAFileWithADamagedHeaderRemovesIt)
{
	auto data = Pattern(3000, 7);
	sn_snapshot_meta m = Meta(9, 1, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 1000), SN_OK);
	sn_snapshot_writer_close(w);
	ASSERT_EQ(Files(dir).size(), 1u);
	FlipBit(dir + "/" + Files(dir)[0], 20, 3);
	sn_snapshot_meta got{};
	EXPECT_EQ(sn_snapshot_writer_resume(&w, &got, dir.c_str()),
		  SN_ENOTFOUND);
	EXPECT_EQ(w, nullptr);
	EXPECT_TRUE(Files(dir).empty());
}

TEST_F(SnapshotFile, ResumeOfOtherMetaStartsOver)
{
	auto data = Pattern(10000, 4);
	sn_snapshot_meta m = Meta(77, 5, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 5000), SN_OK);
	sn_snapshot_writer_close(w);

	/* Same {index, term, size, crc}, other voters: same file name, but
	 * the header differs, so the data cannot be trusted to match. */
	voters = {4, 5, 6};
	m = Meta(77, 5, data);
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	EXPECT_EQ(sn_snapshot_writer_offset(w), 0u);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 5000), SN_OK);
	sn_snapshot_writer_close(w);

	/* Another snapshot altogether: its own file, from 0. */
	auto other = Pattern(10000, 5);
	sn_snapshot_meta m2 = Meta(77, 5, other);
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m2), SN_OK);
	EXPECT_EQ(sn_snapshot_writer_offset(w), 0u);
	ASSERT_EQ(sn_snapshot_write(w, 0, other.data(), other.size()), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK);
	/* The commit removed the other temporary file of index 77. */
	EXPECT_EQ(Files(dir), std::vector<std::string>{Name(77, 5)});
	ExpectSnapshot(77, 5, other);
}

TEST_F(SnapshotFile, OffsetMismatchIsInvalid)
{
	auto data = Pattern(1000, 6);
	sn_snapshot_meta m = Meta(3, 1, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	EXPECT_EQ(sn_snapshot_write(w, 1, data.data(), 10), SN_EINVAL);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 100), SN_OK);
	EXPECT_EQ(sn_snapshot_write(w, 99, data.data() + 99, 10), SN_EINVAL);
	EXPECT_EQ(sn_snapshot_write(w, 200, data.data() + 200, 10), SN_EINVAL);
	EXPECT_NE(std::string(sn_errmsg()).find("expected 100"),
		  std::string::npos) << sn_errmsg();
	EXPECT_EQ(sn_snapshot_writer_offset(w), 100u);
	/* A rejected write changes nothing: the rest still commits. */
	ASSERT_EQ(sn_snapshot_write(w, 100, data.data() + 100, 900), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK);
	ExpectSnapshot(3, 1, data);
}

TEST_F(SnapshotFile, WriteAtZeroStartsTheFileOver)
{
	auto data = Pattern(1000, 9);
	auto junk = Pattern(600, 10);
	sn_snapshot_meta m = Meta(4, 2, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	/* A transfer that went wrong (its CRC would not match)... */
	ASSERT_EQ(sn_snapshot_write(w, 0, junk.data(), junk.size()), SN_OK);
	EXPECT_EQ(sn_snapshot_writer_offset(w), 600u);
	/* ...starts over at offset 0, and only the new bytes count. */
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 400), SN_OK);
	EXPECT_EQ(sn_snapshot_writer_offset(w), 400u);
	ASSERT_EQ(sn_snapshot_write(w, 400, data.data() + 400, 600), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK);
	ExpectSnapshot(4, 2, data);
}

TEST_F(SnapshotFile, WritePastSizeIsTooLarge)
{
	auto data = Pattern(1000, 7);
	sn_snapshot_meta m = Meta(3, 1, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	std::vector<uint8_t> big(1001);
	EXPECT_EQ(sn_snapshot_write(w, 0, big.data(), big.size()), SN_ETOOLARGE);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 999), SN_OK);
	EXPECT_EQ(sn_snapshot_write(w, 999, big.data(), 2), SN_ETOOLARGE);
	/* A length that would wrap offset + len around. */
	EXPECT_EQ(sn_snapshot_write(w, 999, big.data(), SIZE_MAX),
		  SN_ETOOLARGE);
	ASSERT_EQ(sn_snapshot_write(w, 999, data.data() + 999, 1), SN_OK);
	ASSERT_EQ(sn_snapshot_writer_commit(w), SN_OK);
	ExpectSnapshot(3, 1, data);
}

TEST_F(SnapshotFile, CrcMismatchAtCommitIsCorrupt)
{
	auto data = Pattern(4000, 8);
	sn_snapshot_meta m = Meta(12, 2, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	auto wrong = data;
	wrong[1234] ^= 0x10;
	ASSERT_EQ(sn_snapshot_write(w, 0, wrong.data(), wrong.size()), SN_OK);
	EXPECT_EQ(sn_snapshot_writer_commit(w), SN_ECORRUPT);
	EXPECT_NE(std::string(sn_errmsg()).find("CRC32C"), std::string::npos);
	EXPECT_TRUE(Files(dir).empty()); /* the temporary file is gone */
	std::string msg;
	EXPECT_EQ(OpenReader(&msg), SN_ENOTFOUND);
}

TEST_F(SnapshotFile, ShortAtCommitIsCorrupt)
{
	auto data = Pattern(4000, 9);
	sn_snapshot_meta m = Meta(12, 2, data);
	sn_snapshot_writer *w = nullptr;
	ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_OK);
	ASSERT_EQ(sn_snapshot_write(w, 0, data.data(), 3999), SN_OK);
	EXPECT_EQ(sn_snapshot_writer_commit(w), SN_ECORRUPT);
	EXPECT_TRUE(Files(dir).empty());
}

TEST_F(SnapshotFile, BitFlipInDataIsCorruptAndNamesTheFile)
{
	auto data = Pattern(100000, 10);
	Commit(dir, 40, 4, data);
	std::string path = dir + "/" + Name(40, 4);
	for (uint64_t byte : {0ul, 65535ul, 65536ul, 99999ul}) {
		FlipBit(path, sn__snapshot_meta_size(3) + byte, 3);
		std::string msg;
		EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT) << byte;
		EXPECT_NE(msg.find(path), std::string::npos) << msg;
		EXPECT_NE(msg.find("CRC32C"), std::string::npos) << msg;
		FlipBit(path, sn__snapshot_meta_size(3) + byte, 3);
	}
	ExpectSnapshot(40, 4, data);
}

TEST_F(SnapshotFile, BitFlipInHeaderIsCorruptAndNamesTheFile)
{
	auto data = Pattern(1000, 11);
	Commit(dir, 40, 4, data);
	std::string path = dir + "/" + Name(40, 4);
	size_t hlen = sn__snapshot_meta_size(voters.size());
	for (size_t bit = 0; bit < hlen * 8; bit++) {
		FlipBit(path, bit / 8, (int)(bit % 8));
		std::string msg;
		EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT) << "bit " << bit;
		EXPECT_NE(msg.find(path), std::string::npos) << msg;
		FlipBit(path, bit / 8, (int)(bit % 8));
	}
	ExpectSnapshot(40, 4, data);
}

TEST_F(SnapshotFile, WrongLengthOrNameIsCorrupt)
{
	auto data = Pattern(1000, 12);
	Commit(dir, 40, 4, data);
	std::string path = dir + "/" + Name(40, 4);
	std::string msg;

	fs::resize_file(path, fs::file_size(path) - 1);
	EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT);
	EXPECT_NE(msg.find(path), std::string::npos) << msg;
	fs::resize_file(path, fs::file_size(path) + 2);
	EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT);
	fs::resize_file(path, 10); /* shorter than the header */
	EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT);
	EXPECT_NE(msg.find(path), std::string::npos) << msg;

	/* A valid file under another snapshot's name. */
	fs::remove(path);
	Commit(dir, 40, 4, data);
	fs::rename(path, dir + "/" + Name(41, 4));
	EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT);
	EXPECT_NE(msg.find(Name(41, 4)), std::string::npos) << msg;
}

TEST_F(SnapshotFile, NotFound)
{
	std::string msg;
	EXPECT_EQ(OpenReader(&msg), SN_ENOTFOUND); /* no directory */
	fs::create_directories(dir);
	EXPECT_EQ(OpenReader(&msg), SN_ENOTFOUND); /* empty */
	std::ofstream(dir + "/README") << "not a snapshot";
	std::ofstream(dir + "/snap-1-1.snap") << "not a snapshot name";
	std::ofstream(dir + "/" + Name(5, 1) + ".tmp") << "a temp name";
	EXPECT_EQ(OpenReader(&msg), SN_ENOTFOUND);
}

TEST_F(SnapshotFile, CommitRemovesCrashLeftovers)
{
	fs::create_directories(dir);
	auto old = Pattern(3000, 13);
	Commit(dir, 10, 1, old);

	/* What crashes leave: temporaries of an older and of the same index,
	 * one whose name is mangled, an older snapshot of an earlier term at
	 * the same index. A temporary of a newer snapshot may belong to an
	 * InstallSnapshot still in progress: it stays. */
	auto data = Pattern(5000, 14);
	sn_snapshot_meta t1 = Meta(15, 2, old);
	sn_snapshot_meta t2 = Meta(20, 3, Pattern(10, 15));
	sn_snapshot_meta t3 = Meta(99, 3, Pattern(10, 16));
	for (sn_snapshot_meta *t : {&t1, &t2, &t3}) {
		sn_snapshot_writer *w = nullptr;
		ASSERT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), t), SN_OK);
		ASSERT_EQ(sn_snapshot_write(w, 0, old.data(), 5), SN_OK);
		sn_snapshot_writer_close(w);
	}
	std::ofstream(dir + "/snap-garbage.snap.tmp") << "x";
	std::ofstream(dir + "/unrelated.txt") << "kept";
	fs::copy_file(dir + "/" + Name(10, 1), dir + "/" + Name(20, 2));
	ASSERT_EQ(Files(dir).size(), 7u);

	Commit(dir, 20, 3, data);
	auto files = Files(dir);
	ASSERT_EQ(files.size(), 3u) << ::testing::PrintToString(files);
	EXPECT_EQ(files[0], Name(20, 3));
	EXPECT_EQ(files[1].rfind("snap-0000000000000063-", 0), 0u); /* 99 */
	EXPECT_EQ(files[2], "unrelated.txt");
	ExpectSnapshot(20, 3, data);
}

TEST_F(SnapshotFile, NewestIsChosen)
{
	/* Several complete snapshots side by side (a crash between rename
	 * and cleanup leaves two; copy them in to get more). */
	fs::create_directories(dir);
	struct S { uint64_t index, term; std::vector<uint8_t> data; };
	std::vector<S> snaps = {{5, 1, Pattern(100, 20)},
				{9, 2, Pattern(200, 21)},
				{9, 3, Pattern(300, 22)},
				{7, 4, Pattern(400, 23)}};
	for (size_t i = 0; i < snaps.size(); i++) {
		std::string d = root + "/s" + std::to_string(i);
		Commit(d, snaps[i].index, snaps[i].term, snaps[i].data);
		std::string n = Name(snaps[i].index, snaps[i].term);
		fs::rename(d + "/" + n, dir + "/" + n);
	}
	ExpectSnapshot(9, 3, snaps[2].data);

	/* The newest is damaged: refuse, naming it; never fall back to an
	 * older one silently (the log may be compacted behind the newest). */
	std::string path = dir + "/" + Name(9, 3);
	FlipBit(path, fs::file_size(path) - 1, 0);
	std::string msg;
	EXPECT_EQ(OpenReader(&msg), SN_ECORRUPT);
	EXPECT_NE(msg.find(Name(9, 3)), std::string::npos) << msg;
}

TEST_F(SnapshotFile, InvalidArguments)
{
	auto data = Pattern(10, 30);
	sn_snapshot_meta m = Meta(1, 1, data);
	sn_snapshot_writer *w = nullptr;
	EXPECT_EQ(sn_snapshot_writer_open(nullptr, dir.c_str(), &m), SN_EINVAL);
	EXPECT_EQ(sn_snapshot_writer_open(&w, nullptr, &m), SN_EINVAL);
	EXPECT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), nullptr), SN_EINVAL);
	m.index = 0;
	EXPECT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_EINVAL);
	m.index = 1;
	m.voters = nullptr;
	EXPECT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_EINVAL);
	std::vector<uint64_t> many(SN__SNAPSHOT_MAX_VOTERS + 1, 1);
	m.voters = many.data();
	m.n_voters = many.size();
	EXPECT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_EINVAL);
	m.n_voters = 1;
	m.size = UINT64_MAX;
	EXPECT_EQ(sn_snapshot_writer_open(&w, dir.c_str(), &m), SN_ETOOLARGE);
	EXPECT_EQ(w, nullptr);

	/* A directory that cannot be created. */
	m.size = 10;
	std::ofstream(root + "/file") << "x";
	std::string under_file = root + "/file/snaps";
	EXPECT_EQ(sn_snapshot_writer_open(&w, under_file.c_str(), &m), SN_EIO);
	EXPECT_NE(std::string(sn_errmsg()).find(under_file), std::string::npos);

	sn_snapshot_reader *r = nullptr;
	sn_snapshot_meta out{};
	EXPECT_EQ(sn_snapshot_reader_open(nullptr, &out, dir.c_str()), SN_EINVAL);
	EXPECT_EQ(sn_snapshot_reader_open(&r, nullptr, dir.c_str()), SN_EINVAL);
	EXPECT_EQ(sn_snapshot_reader_open(&r, &out, nullptr), SN_EINVAL);
}

TEST_F(SnapshotFile, ManyVoters)
{
	voters.clear();
	for (uint64_t i = 0; i < SN__SNAPSHOT_MAX_VOTERS; i++)
		voters.push_back(i * 0x9e3779b97f4a7c15ULL);
	auto data = Pattern(70000, 31);
	Commit(dir, 1000, 10, data, 65536);
	ExpectSnapshot(1000, 10, data);
}

} // namespace
