"""A Python gRPC client against three real senated processes.

What a user of another language does: generate stubs from
rpc/proto/senate.proto with grpc_tools.protoc (into a temporary directory,
at test time: nothing generated is committed), start a cluster, and call
senate.v1.KV / senate.v1.Cluster / grpc.health.v1.Health with grpcio,
following the `senate-leader` trailing metadata of a follower's
UNAVAILABLE. One cluster per engine (raft, paxos).

Environment (set by CTest, tests/rpc/CMakeLists.txt):
  SENATED           path of the senated binary
  SENATE_PROTO_DIR  rpc/proto (default: found from this file)

Run: python3 tests/python/test_grpc_client.py   (or python3 -m pytest ...)
The Python packages come from .ci/bootstrap (Debian's python3-grpcio,
python3-grpc-tools, python3-protobuf, python3-pytest, for /usr/bin/python3).
"""

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

_BOOTSTRAP = ("install them with .ci/bootstrap (Debian packages python3-grpcio "
              "python3-grpc-tools python3-protobuf python3-pytest, seen by "
              "Debian's /usr/bin/python3)")
try:
    import grpc
    import grpc_tools.protoc  # noqa: F401 (checked here, run as a module)
    import pytest
except ImportError as e:  # fail, never skip: the test must run in CI
    _why = (f"FAIL: tests/python needs grpc, grpc_tools and pytest in "
            f"{sys.executable}: {e}; {_BOOTSTRAP}")
    if __name__ == "__main__":
        raise SystemExit(_why)
    raise ImportError(_why) from e  # a collection error under pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.environ.get("SENATE_PROTO_DIR",
                           os.path.join(HERE, "..", "..", "rpc", "proto"))
LEADER_WAIT_S = 15.0   # a leader serves within this, or the test fails
CALL_TIMEOUT_S = 5.0   # every RPC's deadline
STOP_WAIT_S = 10.0     # a SIGTERMed member exits within this
MAX_VALUE = 1 << 20    # max_value_bytes (docs/rpc.md, "KV")


# ------------------------------------------------------------ the stubs --

@pytest.fixture(scope="session")
def pb():
    """senate_pb2, senate_pb2_grpc, health_pb2, health_pb2_grpc, generated
    now from the repository's .proto files."""
    out = tempfile.mkdtemp(prefix="senate-pystubs-")
    try:
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
               f"--python_out={out}", f"--grpc_python_out={out}",
               "senate.proto", "health.proto"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}"
        sys.path.insert(0, out)
        try:
            mods = {n: importlib.import_module(n) for n in
                    ("senate_pb2", "senate_pb2_grpc",
                     "health_pb2", "health_pb2_grpc")}
        finally:
            sys.path.remove(out)
        yield type("Stubs", (), mods)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ------------------------------------------------------------ the cluster --

def free_ports(n):
    """n loopback ports the kernel says are free now (a later start may
    still lose one to another process: Cluster.start retries)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Cluster:
    """Three senated processes on free loopback ports, data in a temp dir."""

    NAMES = ("n1", "n2", "n3")  # ids 1, 2, 3 (sorted by name)

    def __init__(self, senated, engine, pb):
        self.senated, self.engine, self.pb = senated, engine, pb
        self.dir = tempfile.mkdtemp(prefix=f"senate-py-{engine}-")
        self.procs, self.clients, self.channels = [], [], []
        self.exit_codes = None

    # -- processes

    def _spawn(self, ports):
        peers = [f"127.0.0.1:{p}" for p in ports[:3]]
        self.clients = [f"127.0.0.1:{p}" for p in ports[3:]]
        cluster = ",".join(f"{n}={p};{c}" for n, p, c in
                           zip(self.NAMES, peers, self.clients))
        # The members die with this process even if it is SIGKILLed
        # (a CTest timeout): setpriv's parent-death signal.
        guard = (["setpriv", "--pdeathsig", "KILL"]
                 if shutil.which("setpriv") else [])
        for i, name in enumerate(self.NAMES):
            log = open(os.path.join(self.dir, f"{name}.log"), "ab")
            cmd = guard + [self.senated, "--name", name,
                           "--data-dir", os.path.join(self.dir, name),
                           "--listen-peer", peers[i],
                           "--listen-client", self.clients[i],
                           "--initial-cluster", cluster,
                           "--engine", self.engine, "--tick-ms", "20"]
            self.procs.append(subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL))
            log.close()

    def _kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []

    def start(self, attempts=3):
        """Start the members and wait (bounded) for a leader that serves.
        A member that exits at once (e.g. a port taken meanwhile) makes a
        new try on new ports, `attempts` times in all."""
        why = ""
        for attempt in range(attempts):
            self._spawn(free_ports(6))
            why = self._wait_for_leader()
            if why is None:
                return
            self._kill_all()
            self._close_channels()
            # New data dirs too: a member that started may have written.
            for name in self.NAMES:
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
        raise AssertionError(f"{self.engine}: no serving leader after "
                             f"{attempts} starts: {why}\n{self.logs()}")

    def _wait_for_leader(self):
        """None once every member names the same leader and it serves a
        linearizable Get; else why not (when a member exited or time ran
        out)."""
        deadline = time.monotonic() + LEADER_WAIT_S
        why = "no status yet"
        for _ in range(int(LEADER_WAIT_S / 0.05) + 1):
            if time.monotonic() > deadline:
                return f"timed out after {LEADER_WAIT_S} s: {why}"
            dead = [n for n, p in zip(self.NAMES, self.procs)
                    if p.poll() is not None]
            if dead:
                return f"{dead} exited at start"
            try:
                leaders = {self.status(i).leader_id for i in range(3)}
                if len(leaders) == 1 and 0 not in leaders:
                    leader = self.address_of(leaders.pop())
                    self.kv(leader).Get(self.pb.senate_pb2.GetRequest(
                        key=b"warmup"), timeout=CALL_TIMEOUT_S)
                    return None
                why = f"leaders named: {sorted(leaders)}"
            except grpc.RpcError as e:
                why = f"{e.code()}: {e.details()}"
            time.sleep(0.05)
        return f"no leader in {LEADER_WAIT_S} s: {why}"

    def stop(self):
        """SIGTERM every member; their exit codes (None: did not exit in
        time and was killed). Idempotent."""
        if self.exit_codes is None:
            self._close_channels()
            for p in self.procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            codes = []
            for p in self.procs:
                try:
                    codes.append(p.wait(timeout=STOP_WAIT_S))
                except subprocess.TimeoutExpired:
                    codes.append(None)
            self._kill_all()
            self.exit_codes = codes
        return self.exit_codes

    def cleanup(self):
        self._kill_all()
        self._close_channels()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        out = []
        for name in self.NAMES:
            path = os.path.join(self.dir, f"{name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- {name}.log (tail)\n"
                               + "".join(f.readlines()[-15:]))
        return "\n".join(out)

    # -- clients

    def _channel(self, addr):
        ch = grpc.insecure_channel(addr)
        self.channels.append(ch)
        return ch

    def _close_channels(self):
        for ch in self.channels:
            ch.close()
        self.channels = []

    def kv(self, addr):
        return self.pb.senate_pb2_grpc.KVStub(self._channel(addr))

    def status(self, i):
        return self.pb.senate_pb2_grpc.ClusterStub(
            self._channel(self.clients[i])).Status(
                self.pb.senate_pb2.StatusRequest(), timeout=CALL_TIMEOUT_S)

    def address_of(self, member_id):
        return self.clients[self.NAMES.index(f"n{member_id}")]

    def leader(self):
        return self.address_of(self.status(0).leader_id)

    def follower(self):
        leader = self.leader()
        return next(a for a in self.clients if a != leader)


class Client:
    """What an application writes: call any member; on UNAVAILABLE follow
    the `senate-leader` trailing metadata (or try the next member when a
    follower does not know the leader). Bounded in hops."""

    MAX_HOPS = 6

    def __init__(self, cluster, start=None):
        self.cluster = cluster
        self.addr = start or cluster.clients[0]
        self.redirects = []  # (from, to) for each senate-leader followed

    def call(self, method, request):
        why = None
        for hop in range(self.MAX_HOPS):
            stub = self.cluster.kv(self.addr)
            try:
                return getattr(stub, method)(request, timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                why = e
                md = dict(e.trailing_metadata() or ())
                leader = md.get("senate-leader")
                if leader and leader != self.addr:
                    self.redirects.append((self.addr, leader))
                    self.addr = leader
                else:  # no leader known here: ask another member
                    i = self.cluster.clients.index(self.addr)
                    self.addr = self.cluster.clients[(i + 1) % 3]
                    time.sleep(0.05 * (hop + 1))
        raise AssertionError(f"{method}: no leader after {self.MAX_HOPS} "
                             f"hops: {why}")

    # short forms

    def put(self, key, value, request_id=None):
        s = self.cluster.pb.senate_pb2
        return self.call("Put", s.PutRequest(key=key, value=value,
                                             request_id=request_id))

    def get(self, key):
        return self.call("Get", self.cluster.pb.senate_pb2.GetRequest(key=key))

    def revision(self):
        """The store's revision, from a linearizable Get's header."""
        return self.get(b"\x00revision-probe").header.revision


# ------------------------------------------------------------- fixtures --

@pytest.fixture(scope="module", params=["raft", "paxos"])
def cluster(request, pb):
    senated = os.environ.get("SENATED")
    assert senated and os.access(senated, os.X_OK), (
        f"SENATED={senated!r}: set it to the senated binary (CTest does)")
    c = Cluster(senated, request.param, pb)
    try:
        c.start()
        yield c
        codes = c.stop()
        assert codes == [0, 0, 0], (
            f"{c.engine}: exit codes after SIGTERM {codes}\n{c.logs()}")
    finally:
        c.cleanup()  # whatever happened, nothing is left running


def prefix_end(prefix):
    """The range_end that makes [prefix, end) every key with the prefix."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


# ---------------------------------------------------------------- tests --

def test_status_from_every_member_agrees(cluster, pb):
    answers = [cluster.status(i) for i in range(3)]
    assert {a.member_id for a in answers} == {1, 2, 3}
    leader = answers[0].leader_id
    assert leader in (1, 2, 3)
    for a in answers:
        assert a.leader_id == leader, a
        assert a.engine == cluster.engine
        assert a.error == ""
        assert len(a.members) == 3
        assert sorted(m.client_address for m in a.members) == \
            sorted(cluster.clients)
        me = next(m for m in a.members if m.self)
        assert me.id == a.member_id
        want = pb.senate_pb2.ROLE_LEADER if a.member_id == leader \
            else pb.senate_pb2.ROLE_FOLLOWER
        assert me.role == want, (a.member_id, me.role)


def test_health_is_serving_on_every_member(cluster, pb):
    h = pb.health_pb2
    for addr in cluster.clients:
        stub = pb.health_pb2_grpc.HealthStub(cluster._channel(addr))
        r = stub.Check(h.HealthCheckRequest(service=""),
                       timeout=CALL_TIMEOUT_S)
        assert r.status == h.HealthCheckResponse.SERVING, addr


def test_follower_names_the_leader_in_trailing_metadata(cluster, pb):
    follower, leader = cluster.follower(), cluster.leader()
    with pytest.raises(grpc.RpcError) as e:
        cluster.kv(follower).Put(pb.senate_pb2.PutRequest(
            key=b"redirect/k", value=b"v"), timeout=CALL_TIMEOUT_S)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert dict(e.value.trailing_metadata())["senate-leader"] == leader
    assert e.value.details()


def test_put_through_a_follower_follows_the_leader_one_revision_each(
        cluster):
    follower, leader = cluster.follower(), cluster.leader()
    c = Client(cluster, start=follower)
    base = c.revision()
    assert c.redirects == [(follower, leader)]
    revs = [c.put(b"put/%d" % i, b"value-%d" % i).header.revision
            for i in range(5)]
    assert revs == [base + 1 + i for i in range(5)]
    for i, rev in enumerate(revs):
        r = c.get(b"put/%d" % i)
        assert r.found
        assert (r.kv.key, r.kv.value) == (b"put/%d" % i, b"value-%d" % i)
        assert (r.kv.create_revision, r.kv.mod_revision, r.kv.version) == \
            (rev, rev, 1)
    again = c.put(b"put/0", b"second").header.revision
    assert again == revs[-1] + 1
    r = c.get(b"put/0")
    assert (r.kv.value, r.kv.create_revision, r.kv.mod_revision,
            r.kv.version) == (b"second", revs[0], again, 2)
    assert r.header.revision == again


def test_range_by_prefix_in_order_with_limit_more_count(cluster, pb):
    c = Client(cluster)
    names = [b"d", b"a", b"e", b"c", b"b"]  # written out of order
    for n in names:
        c.put(b"range/" + n, b"v-" + n)
    c.put(b"range0", b"outside")  # just past the prefix
    c.put(b"rang", b"outside")    # just before it
    s = pb.senate_pb2
    end = prefix_end(b"range/")
    r = c.call("Range", s.RangeRequest(key=b"range/", range_end=end,
                                       limit=3))
    assert [kv.key for kv in r.kvs] == [b"range/a", b"range/b", b"range/c"]
    assert [kv.value for kv in r.kvs] == [b"v-a", b"v-b", b"v-c"]
    assert r.more and r.count == 5
    r = c.call("Range", s.RangeRequest(key=b"range/", range_end=end))
    assert [kv.key for kv in r.kvs] == [b"range/" + n for n in sorted(names)]
    assert not r.more and r.count == 5
    r = c.call("Range", s.RangeRequest(key=b"range/", range_end=end,
                                       count_only=True))
    assert list(r.kvs) == [] and r.count == 5


def test_delete_then_get_is_not_found(cluster, pb):
    c = Client(cluster)
    put = c.put(b"del/k", b"v").header.revision
    r = c.call("Delete", pb.senate_pb2.DeleteRequest(key=b"del/k",
                                                     prev_kv=True))
    assert r.deleted == 1
    assert r.header.revision == put + 1
    assert [(kv.key, kv.value) for kv in r.prev_kvs] == [(b"del/k", b"v")]
    g = c.get(b"del/k")
    assert not g.found
    assert g.header.revision == put + 1


def test_retried_put_with_the_same_request_id_is_applied_once(cluster, pb):
    c = Client(cluster)
    rid = pb.senate_pb2.RequestId(client_id=0x5e7a7e, seq=1)
    first = c.put(b"retry/k", b"once", request_id=rid).header.revision
    assert c.revision() == first
    again = c.put(b"retry/k", b"once", request_id=rid).header.revision
    assert again == first
    assert c.revision() == first  # the store's revision did not move
    r = c.get(b"retry/k")
    assert (r.kv.value, r.kv.version, r.kv.mod_revision) == \
        (b"once", 1, first)
    # The next seq is a new write.
    rid2 = pb.senate_pb2.RequestId(client_id=0x5e7a7e, seq=2)
    assert c.put(b"retry/k", b"twice", request_id=rid2).header.revision == \
        first + 1


def test_bad_input_is_invalid_argument_and_changes_nothing(cluster, pb):
    c = Client(cluster)
    c.put(b"bad/k", b"before")
    before = c.revision()
    leader = cluster.kv(cluster.leader())
    s = pb.senate_pb2
    for req in (s.PutRequest(key=b"", value=b"v"),
                s.PutRequest(key=b"bad/k", value=b"x" * (MAX_VALUE + 1))):
        with pytest.raises(grpc.RpcError) as e:
            leader.Put(req, timeout=CALL_TIMEOUT_S)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, \
            (len(req.key), len(req.value), e.value)
        assert e.value.details(), "INVALID_ARGUMENT without a message"
    assert c.revision() == before
    r = c.get(b"bad/k")
    assert (r.kv.value, r.kv.version) == (b"before", 1)


def test_sigterm_stops_every_member_with_exit_0(cluster):
    codes = cluster.stop()
    assert codes == [0, 0, 0], f"{codes}\n{cluster.logs()}"


if __name__ == "__main__":
    # -p no:cacheprovider: nothing is written into the source tree.
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", __file__]
                         + sys.argv[1:]))
