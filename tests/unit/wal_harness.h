/*
 * wal_harness.h - shared by the wal_*_test.cc files: a temporary directory,
 * a reference model of the log the WAL must recover, callbacks that record
 * their status in order, and helpers to open / append / compare.
 */
#ifndef SENATE_TESTS_WAL_HARNESS_H
#define SENATE_TESTS_WAL_HARNESS_H

#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
#include "base/storage_impl.h"
#include "log/wal_fault.h"
#include "log/wal_record.h"
}

#include <algorithm>
#include <condition_variable>
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace walt {

namespace fs = std::filesystem;

struct Entry {
	uint64_t index = 0, term = 0;
	uint32_t type = 0;
	std::vector<uint8_t> data;
	bool operator==(const Entry &o) const
	{
		return index == o.index && term == o.term && type == o.type &&
		       data == o.data;
	}
};

struct Snap {
	uint64_t index = 0, term = 0, size = 0;
	uint32_t crc = 0;
	std::vector<uint64_t> voters;
	bool operator==(const Snap &o) const
	{
		return index == o.index && term == o.term && size == o.size &&
		       crc == o.crc && voters == o.voters;
	}
	sn_snapshot_meta Meta() const
	{
		sn_snapshot_meta m{};
		m.index = index;
		m.term = term;
		m.size = size;
		m.crc = crc;
		m.voters = voters.empty() ? nullptr : voters.data();
		m.n_voters = voters.size();
		return m;
	}
};

/* What a storage holds (or must recover): the semantics of storage.h. */
struct Model {
	sn_hard_state hs{};
	bool has_snap = false;
	Snap snap;
	std::vector<Entry> entries; /* consecutive */

	uint64_t Last() const
	{
		if (!entries.empty())
			return entries.back().index;
		return has_snap ? snap.index : 0;
	}
	void Append(const sn_hard_state *h, const std::vector<Entry> &es)
	{
		if (h)
			hs = *h;
		if (es.empty())
			return;
		while (!entries.empty() &&
		       entries.back().index >= es.front().index)
			entries.pop_back();
		entries.insert(entries.end(), es.begin(), es.end());
	}
	void Install(const Snap &s)
	{
		has_snap = true;
		snap = s;
		entries.clear();
	}
	/* A snapshot taken locally: the log stays. */
	void Taken(const Snap &s)
	{
		has_snap = true;
		snap = s;
	}
};

/* A deep copy of a recovered sn_storage_state. */
inline Model FromState(const sn_storage_state &st)
{
	Model m;
	m.hs = st.hard_state;
	m.has_snap = st.has_snapshot != 0;
	if (m.has_snap) {
		m.snap.index = st.snapshot.index;
		m.snap.term = st.snapshot.term;
		m.snap.size = st.snapshot.size;
		m.snap.crc = st.snapshot.crc;
		m.snap.voters.assign(st.snapshot.voters,
				     st.snapshot.voters + st.snapshot.n_voters);
	}
	for (size_t i = 0; i < st.n_entries; i++) {
		const sn_entry &e = st.entries[i];
		Entry x;
		x.index = e.index;
		x.term = e.term;
		x.type = e.type;
		const uint8_t *d = static_cast<const uint8_t *>(e.data);
		x.data.assign(d, d + e.len);
		m.entries.push_back(x);
	}
	return m;
}

/* Equal, except that `got` may miss a prefix of the entries (compaction). */
inline ::testing::AssertionResult SameLog(const Model &want, const Model &got,
					  bool allow_compacted = false)
{
	if (want.hs.term != got.hs.term || want.hs.vote != got.hs.vote ||
	    want.hs.commit != got.hs.commit)
		return ::testing::AssertionFailure()
		       << "hard state differs: want {" << want.hs.term << ","
		       << want.hs.vote << "," << want.hs.commit << "} got {"
		       << got.hs.term << "," << got.hs.vote << ","
		       << got.hs.commit << "}";
	if (want.has_snap != got.has_snap ||
	    (want.has_snap && !(want.snap == got.snap)))
		return ::testing::AssertionFailure() << "snapshot differs";
	size_t skip = 0;
	if (got.entries.size() > want.entries.size())
		return ::testing::AssertionFailure()
		       << "recovered " << got.entries.size()
		       << " entries, want " << want.entries.size();
	if (allow_compacted)
		skip = want.entries.size() - got.entries.size();
	else if (got.entries.size() != want.entries.size())
		return ::testing::AssertionFailure()
		       << "recovered " << got.entries.size()
		       << " entries, want " << want.entries.size();
	for (size_t i = 0; i < got.entries.size(); i++)
		if (!(got.entries[i] == want.entries[skip + i]))
			return ::testing::AssertionFailure()
			       << "entry #" << i << " (index "
			       << got.entries[i].index << ") differs";
	return ::testing::AssertionSuccess();
}

inline std::vector<uint8_t> Bytes(uint64_t seed, size_t n)
{
	std::vector<uint8_t> v(n);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(sn__splitmix64(&seed) >> 56);
	return v;
}

inline std::vector<Entry> Entries(uint64_t first, size_t n, uint64_t term,
				  size_t len = 8)
{
	std::vector<Entry> v;
	for (size_t i = 0; i < n; i++) {
		Entry e;
		e.index = first + i;
		e.term = term;
		e.type = (first + i) % 3 == 0 ? SN_ENTRY_NOOP : SN_ENTRY_NORMAL;
		e.data = e.type == SN_ENTRY_NOOP ? std::vector<uint8_t>()
						 : Bytes(first * 7919 + term, len);
		v.push_back(e);
	}
	return v;
}

/* Callbacks that record (id, status) in arrival order. */
struct Completions {
	std::mutex mu;
	std::condition_variable cv;
	std::vector<std::pair<int, int>> done;

	struct Tag {
		Completions *c;
		int id;
	};
	std::vector<std::unique_ptr<Tag>> tags;

	static void Cb(void *ud, int status)
	{
		Tag *t = static_cast<Tag *>(ud);
		std::lock_guard<std::mutex> g(t->c->mu);
		t->c->done.emplace_back(t->id, status);
		t->c->cv.notify_all();
	}
	void *Tag_(int id)
	{
		tags.push_back(std::unique_ptr<Tag>(new Tag{ this, id }));
		return tags.back().get();
	}
	size_t Count()
	{
		std::lock_guard<std::mutex> g(mu);
		return done.size();
	}
	bool WaitFor(size_t n, int ms = 10000)
	{
		std::unique_lock<std::mutex> g(mu);
		return cv.wait_for(g, std::chrono::milliseconds(ms),
				   [&] { return done.size() >= n; });
	}
	/* Wait until callback `id` ran. */
	bool WaitId(int id, int ms = 10000)
	{
		std::unique_lock<std::mutex> g(mu);
		return cv.wait_for(g, std::chrono::milliseconds(ms), [&] {
			for (auto &d : done)
				if (d.first == id)
					return true;
			return false;
		});
	}
	int StatusOf(int id)
	{
		std::lock_guard<std::mutex> g(mu);
		for (auto &d : done)
			if (d.first == id)
				return d.second;
		return 1; /* not completed */
	}
};

/* Views of es: keep es alive while they are used. */
std::vector<sn_entry> CEntries(const std::vector<Entry> &&es) = delete;
inline std::vector<sn_entry> CEntries(const std::vector<Entry> &es)
{
	std::vector<sn_entry> v;
	for (const Entry &e : es) {
		sn_entry c{};
		c.index = e.index;
		c.term = e.term;
		c.type = e.type;
		c.data = e.data.empty() ? nullptr : e.data.data();
		c.len = e.data.size();
		v.push_back(c);
	}
	return v;
}

/* A file's bytes, or the whole directory's (name -> bytes). */
inline std::vector<uint8_t> ReadFile(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
				    std::istreambuf_iterator<char>());
}

/* Rewrite a file in place. (Not O_TRUNC: ext4 flushes a file truncated
 * to zero on close, which would make the mutation loops crawl.) */
inline void WriteFile(const std::string &path, const std::vector<uint8_t> &b)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_GE(fd, 0) << path;
	size_t off = 0;
	while (off < b.size()) {
		ssize_t n = pwrite(fd, b.data() + off, b.size() - off,
				   (off_t)off);
		ASSERT_GT(n, 0) << path;
		off += (size_t)n;
	}
	ASSERT_EQ(ftruncate(fd, (off_t)b.size()), 0) << path;
	close(fd);
}

typedef std::map<std::string, std::vector<uint8_t>> DirImage;

inline DirImage SaveDir(const std::string &dir)
{
	DirImage img;
	for (auto &p : fs::directory_iterator(dir))
		img[p.path().filename().string()] = ReadFile(p.path().string());
	return img;
}

inline void RestoreDir(const std::string &dir, const DirImage &img)
{
	for (auto &p : fs::directory_iterator(dir))
		if (!img.count(p.path().filename().string()))
			fs::remove(p.path());
	for (auto &kv : img)
		WriteFile(dir + "/" + kv.first, kv.second);
}

inline std::string SegName(uint64_t seq)
{
	char name[SN__WAL_NAME_MAX];
	sn__wal_seg_name(name, seq, false);
	return name;
}

/* The end offsets of the complete frames of a segment image. */
inline std::vector<size_t> FrameEnds(const std::vector<uint8_t> &seg)
{
	std::vector<size_t> ends;
	size_t off = SN__WAL_SEG_HEADER;
	for (;;) {
		sn__wal_frame f;
		if (off >= seg.size() ||
		    sn__wal_frame_parse(&f, seg.data() + off, seg.size() - off) !=
			    SN__FRAME_OK)
			break;
		off += f.size;
		ends.push_back(off);
	}
	return ends;
}

/* Collect log lines at WARN and above while alive. */
struct LogCapture {
	static std::vector<std::string> &Lines()
	{
		static std::vector<std::string> lines;
		return lines;
	}
	static std::mutex &Mu()
	{
		static std::mutex mu;
		return mu;
	}
	static void Fn(void *, sn_log_level, const char *msg)
	{
		std::lock_guard<std::mutex> g(Mu());
		Lines().push_back(msg);
	}
	LogCapture()
	{
		Lines().clear();
		sn_log_set_handler(Fn, nullptr, SN_LOG_WARN);
	}
	~LogCapture() { sn_log_set_handler(nullptr, nullptr, SN_LOG_WARN); }
	bool Contains(const std::string &s)
	{
		std::lock_guard<std::mutex> g(Mu());
		for (auto &l : Lines())
			if (l.find(s) != std::string::npos)
				return true;
		return false;
	}
	size_t Count()
	{
		std::lock_guard<std::mutex> g(Mu());
		return Lines().size();
	}
};

/* A fresh WAL directory per test, removed afterwards. */
class WalTest : public ::testing::Test {
protected:
	std::string root, dir;
	sn_storage *st = nullptr;
	Model model;   /* what was acknowledged */
	Completions done;
	int next_id = 0;
	sn_wal_options opts{};
	bool inline_writes = false; /* sn__wal_open_inline: no thread */

	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-wal");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		dir = root + "/wal";
		ASSERT_EQ(sn_wal_options_init(&opts, SN_WAL_OPTIONS_VERSION),
			  SN_OK);
		opts.dir = dir.c_str();
		opts.segment_bytes = 4096;
		opts.no_sync = 1;
	}
	void TearDown() override
	{
		Close();
		sn__wal_hooks_reset();
		fs::remove_all(root);
	}

	void Close()
	{
		sn_storage_close(st);
		st = nullptr;
	}

	/* Open; on success the recovered state is returned as a Model. */
	int Open(Model *got = nullptr)
	{
		sn_storage_state s;
		Close();
		int rc = inline_writes ? sn__wal_open_inline(&st, &s, &opts)
				       : sn_wal_open(&st, &s, &opts);
		if (rc == SN_OK && got)
			*got = FromState(s);
		return rc;
	}

	/* Queue an append; returns its id (for Completions) or the error. */
	int AppendAsync(const sn_hard_state *hs, const std::vector<Entry> &es,
			int *id_out = nullptr)
	{
		std::vector<sn_entry> ce = CEntries(es);
		int id = next_id++;
		int rc = sn_storage_append(st, hs, ce.empty() ? nullptr : ce.data(),
					   ce.size(), Completions::Cb,
					   done.Tag_(id));
		if (id_out)
			*id_out = id;
		return rc;
	}

	/* Append, wait for durability, and record it in the model. */
	void Append(const sn_hard_state *hs, const std::vector<Entry> &es)
	{
		int id;
		ASSERT_EQ(AppendAsync(hs, es, &id), SN_OK) << sn_errmsg();
		ASSERT_TRUE(done.WaitId(id));
		ASSERT_EQ(done.StatusOf(id), SN_OK);
		model.Append(hs, es);
	}

	void Install(const Snap &s)
	{
		sn_snapshot_meta m = s.Meta();
		int id = next_id++;
		ASSERT_EQ(sn_storage_install(st, &m, Completions::Cb,
					     done.Tag_(id)),
			  SN_OK)
			<< sn_errmsg();
		ASSERT_TRUE(done.WaitId(id));
		ASSERT_EQ(done.StatusOf(id), SN_OK);
		model.Install(s);
	}

	/* sn_storage_snapshot(): record a snapshot taken locally. */
	void Taken(const Snap &s)
	{
		sn_snapshot_meta m = s.Meta();
		int id = next_id++;
		ASSERT_EQ(sn_storage_snapshot(st, &m, Completions::Cb,
					      done.Tag_(id)),
			  SN_OK)
			<< sn_errmsg();
		ASSERT_TRUE(done.WaitId(id));
		ASSERT_EQ(done.StatusOf(id), SN_OK);
		model.Taken(s);
	}

	/* Wait until everything queued so far is durable (a barrier). */
	void Barrier()
	{
		int id = next_id++;
		ASSERT_EQ(sn_storage_append(st, nullptr, nullptr, 0,
					    Completions::Cb, done.Tag_(id)),
			  SN_OK);
		ASSERT_TRUE(done.WaitId(id));
	}

	std::vector<std::string> Files()
	{
		std::vector<std::string> v;
		for (auto &p : fs::directory_iterator(dir))
			v.push_back(p.path().filename().string());
		std::sort(v.begin(), v.end());
		return v;
	}
	std::string Path(const std::string &name) { return dir + "/" + name; }
};

} // namespace walt

#endif
