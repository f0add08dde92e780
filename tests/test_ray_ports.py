"""The local cluster's port choice: every port a node is given is one no other node of the
cluster holds, and worker ranges stay below the kernel's ephemeral ports (a restart once drew
an object-manager port inside its own worker range and `ray start` refused it)."""

from harness.executors.ray.local import LocalCluster, ephemeral_range, free_ports, free_range


def test_free_ports_skip_the_ones_held():
    held = set(free_ports(20))
    fresh = free_ports(10, avoid=held)
    assert len(set(fresh)) == 10 and not held & set(fresh)


def test_worker_ranges_lie_below_the_ephemeral_ports_and_avoid_held_ones():
    low_ephemeral = ephemeral_range()[0]
    for _ in range(20):
        base = free_range(64)
        assert base + 64 <= low_ephemeral
    held = set(range(20000, low_ephemeral - 2000))   # leaves a window wide enough that other
    base = free_range(64, avoid=held)                 # clusters running here cannot fill it
    assert base >= low_ephemeral - 2000 and base + 64 <= low_ephemeral


def test_no_two_ports_of_a_cluster_collide_across_its_nodes():
    cluster = LocalCluster(workers=3)
    cluster.port = 1
    args = [cluster._node_args() for _ in range(4)]   # head and three workers, none started
    ports = []
    for a in args:
        value = {k: a[i + 1] for i, k in enumerate(a[:-1]) if k.startswith("--") and not a[i + 1].startswith("--")}
        ports += [int(value[k]) for k in ("--node-manager-port", "--object-manager-port",
                  "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                  "--runtime-env-agent-port", "--metrics-export-port")]
        ports += range(int(value["--min-worker-port"]), int(value["--max-worker-port"]) + 1)
    assert len(ports) == len(set(ports)) == 4 * (6 + 64)
