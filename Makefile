# The entry points of the Senate repository. See README.md.
#
#   make build       configure (CMake + Ninja) and build into ./build
#   make test        bootstrap the machine, build, run every test (CTest)
#   make run         start a local 3-member cluster (./senate-data) with a
#                    live status view; Ctrl-C stops it
#   make sim         the simulator demo (SEEDS=a-b seeded Raft clusters)
#   make abi-update  regenerate the ABI baseline after an intended change
#   make clean       remove the build tree

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
SEEDS      ?= 1-200

.PHONY: all bootstrap configure build test run sim abi-update clean

all: build

bootstrap:
	.ci/bootstrap

# Configure only once; afterwards Ninja re-runs CMake by itself whenever a
# CMakeLists.txt changes or a source file appears (CONFIGURE_DEPENDS).
$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: bootstrap
	$(MAKE) --no-print-directory build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

run: bootstrap
	$(MAKE) --no-print-directory build
	rpc/cmd/senate-run.sh $(BUILD)/bin senate-data

sim: build
	$(BUILD)/bin/senate-sim --engine raft --seeds $(SEEDS)

abi-update: build
	abi/update.sh $(BUILD)/lib/libsenate.so abi/libsenate.abi \
		core/include/senate
	abi/update.sh $(BUILD)/lib/libsenate-client.so abi/libsenate-client.abi \
		rpc/include/senate

clean:
	rm -rf $(BUILD)
