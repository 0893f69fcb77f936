/*
 * wal_crash_test.cc - every crash point and every flipped bit. A log of
 * several acknowledged batches is written; then the last segment is cut
 * (and, separately, zero-filled) at every byte offset, and every single bit
 * of every segment is flipped, one at a time. Recovery must give back
 * exactly the batches that were complete before the cut, and for a flip
 * either the whole log or SN_ECORRUPT with nothing changed on disk.
 */
#include "wal_harness.h"

namespace {

using namespace walt;

class WalCrash : public WalTest {
protected:
	std::vector<Model> models; /* models[k]: after the first k batches */
	DirImage image;            /* the directory once all were written */
	std::string last;          /* the last segment's name */
	std::vector<size_t> ends;  /* its frames' end offsets */

	void SetUp() override
	{
		WalTest::SetUp();
		opts.segment_bytes = 1024;
	}

	/* Varied batches: hard states alone and with entries, overwrites,
	 * an install, empty entries; small, so the loops stay fast. */
	void Build(size_t n_batches, size_t data_len = 6,
		   size_t min_segments = 2)
	{
		ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
		models.push_back(model);
		uint64_t term = 1;
		for (size_t b = 0; b < n_batches; b++) {
			sn_hard_state hs{ term, 1, model.Last() / 2 };
			uint64_t next = model.Last() + 1;
			switch (b % 6) {
			case 0:
				Append(&hs, Entries(next, 3, term, data_len));
				break;
			case 1:
				Append(nullptr, Entries(next, 2, term, data_len));
				break;
			case 2: /* overwrite the last two */
				term++;
				hs.term = term;
				Append(&hs, Entries(next - 2, 3, term, data_len));
				break;
			case 3:
				hs.commit = model.Last();
				Append(&hs, {});
				break;
			case 4: {
				Snap s;
				s.index = model.Last() + 4;
				s.term = term;
				s.size = 1000 + b;
				s.crc = (uint32_t)b;
				s.voters = { 1, 2, 3 };
				Install(s);
				break;
			}
			default:
				Append(nullptr, Entries(next, 1, term, data_len));
			}
			models.push_back(model);
		}
		Close();
		image = SaveDir(dir);
		last = image.rbegin()->first;
		ends = FrameEnds(image[last]);
		ASSERT_GE(image.size(), min_segments) << "the test wants more "
							 "segments";
		ASSERT_GE(ends.size(), 4u) << "and batches in the last one";
	}

	/* Batches complete in the last segment up to offset t. */
	size_t ExpectedAt(size_t t)
	{
		size_t in_last = ends.size() - 1; /* minus the checkpoint */
		size_t j = 0;
		for (size_t i = 1; i < ends.size(); i++)
			if (ends[i] <= t)
				j++;
		return models.size() - 1 - in_last + j;
	}

	void CheckCut(size_t t, bool zero_fill)
	{
		DirImage img = image;
		std::vector<uint8_t> &seg = img[last];
		if (zero_fill)
			std::fill(seg.begin() + (long)t, seg.end(), 0);
		else
			seg.resize(t);
		RestoreDir(dir, img);
		Model got;
		int rc = Open(&got);
		ASSERT_EQ(rc, SN_OK) << (zero_fill ? "zero-fill" : "cut")
				     << " at " << t << ": " << sn_errmsg();
		size_t k = ExpectedAt(t);
		ASSERT_TRUE(SameLog(models[k], got))
			<< (zero_fill ? "zero-fill" : "cut") << " at " << t
			<< ": want the first " << k << " batches";
		if (t % 61 == 0) {
			/* The repaired log takes appends and recovers them. */
			model = models[k];
			Append(nullptr, Entries(model.Last() + 1, 2, 9));
			Close();
			ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
			ASSERT_TRUE(SameLog(model, got)) << "after cut at " << t;
		}
		Close();
	}
};

TEST_F(WalCrash, EveryTruncationOfTheLastSegment)
{
	LogCapture quiet; /* torn-tail warnings are expected */
	Build(14);
	for (size_t t = 0; t <= ends.back(); t++) {
		CheckCut(t, false);
		if (HasFatalFailure())
			return;
	}
}

TEST_F(WalCrash, EveryZeroFillOfTheLastSegment)
{
	LogCapture quiet;
	Build(14);
	for (size_t t = 0; t <= ends.back(); t++) {
		CheckCut(t, true);
		if (HasFatalFailure())
			return;
	}
}

TEST_F(WalCrash, EveryBitFlip)
{
	LogCapture quiet;
	Build(14);
	const Model &full = models.back();
	size_t flips = 0, refused = 0;
	for (auto &kv : image) {
		const std::string &name = kv.first;
		const std::vector<uint8_t> orig = kv.second;
		size_t end = FrameEnds(orig).back();
		std::vector<uint8_t> b = orig;
		for (size_t bit = 0; bit < 8 * end; bit++, flips++) {
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			WriteFile(Path(name), b);
			Model got;
			int rc = Open(&got);
			if (rc == SN_OK) {
				ASSERT_TRUE(SameLog(full, got))
					<< name << " bit " << bit;
				Close();
				RestoreDir(dir, image);
			} else {
				ASSERT_EQ(rc, SN_ECORRUPT)
					<< name << " bit " << bit << ": "
					<< sn_errmsg();
				ASSERT_NE(std::string(sn_errmsg()).find(name),
					  std::string::npos) << sn_errmsg();
				refused++;
				if (bit % 97 == 0) {
					DirImage now = SaveDir(dir);
					ASSERT_TRUE(now[name] == b)
						<< "refused but changed the disk";
					ASSERT_EQ(now.size(), image.size());
				}
			}
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		WriteFile(Path(name), orig);
	}
	/* Every bit lies in some header, record or trailer: all refused. */
	EXPECT_EQ(refused, flips);
	EXPECT_GT(flips, 8000u);
	RecordProperty("flips", (int)flips);
}

/* A write-back that reached the disk out of order: a whole sector of the
 * last (unacknowledged) frame is missing while later ones arrived. */
TEST_F(WalCrash, LostSectorInTheLastFrameIsATornTail)
{
	LogCapture quiet;
	opts.segment_bytes = 1 << 20;
	Build(8, 1200, 1); /* frames span several sectors */
	std::vector<uint8_t> &seg = image[last];
	size_t from = ends[ends.size() - 2], to = ends.back();
	size_t sector = (from + 16 + 511) / 512 * 512;
	ASSERT_LE(sector + 512, to - 1) << "the frame must span a sector";
	DirImage img = image;
	std::fill(img[last].begin() + (long)sector,
		  img[last].begin() + (long)sector + 512, 0);
	RestoreDir(dir, img);
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(models[models.size() - 2], got));
	Close();

	/* The same loss in an earlier frame is corruption: a complete frame
	 * follows it. */
	size_t f2 = ends[ends.size() - 3], f2_end = ends[ends.size() - 2];
	sector = (f2 + 16 + 511) / 512 * 512;
	if (sector + 512 < f2_end) {
		img = image;
		std::fill(img[last].begin() + (long)sector,
			  img[last].begin() + (long)sector + 512, 0);
		RestoreDir(dir, img);
		EXPECT_EQ(Open(), SN_ECORRUPT);
	}
	(void)seg;
}

TEST_F(WalCrash, LostFrameHeader)
{
	LogCapture quiet;
	Build(14);
	/* The last frame's header is zero, its body is there: torn. */
	DirImage img = image;
	size_t from = ends[ends.size() - 2];
	std::fill(img[last].begin() + (long)from,
		  img[last].begin() + (long)from + SN__WAL_FRAME_HEADER, 0);
	RestoreDir(dir, img);
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(models[models.size() - 2], got));
	Close();

	/* An earlier frame's header: complete frames follow, corruption. */
	img = image;
	from = ends[ends.size() - 3];
	std::fill(img[last].begin() + (long)from,
		  img[last].begin() + (long)from + SN__WAL_FRAME_HEADER, 0);
	RestoreDir(dir, img);
	EXPECT_EQ(Open(), SN_ECORRUPT);
	EXPECT_NE(std::string(sn_errmsg()).find(
			  last + ": offset " + std::to_string(from)),
		  std::string::npos) << sn_errmsg();
}

} // namespace
