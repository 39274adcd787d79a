"""Redis processes on loopback ports for the tests and the benches: restartable nodes, a
Sentinel group (master, replica, three sentinels) and a Cluster (redis-cli --cluster create)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from proxy.clock import SYSTEM
from proxy.serving.server import free_port, wait_for_port


def redis_binary(name: str) -> str:
    """The path of a Redis program; fails when it is missing (tests/run.sh installs it)."""
    binary = shutil.which(name)
    if binary is None:
        raise RuntimeError(f"{name} is not installed (tests/run.sh installs it)")
    return binary


class RedisNodes:
    """redis-server (and redis-sentinel) processes on loopback ports, each restartable."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.args: dict[int, list[str]] = {}

    def start(self, port: int, *extra: str, program: str = "redis-server") -> int:
        """A node on ``port`` with ``extra`` arguments, once it accepts connections."""
        if port not in self.args:
            directory = self.workdir / str(port)
            directory.mkdir(parents=True, exist_ok=True)
            args = [redis_binary(program), *extra, "--port", str(port), "--bind", "127.0.0.1"]
            self.args[port] = [*args, "--dir", str(directory), "--save", "", "--appendonly", "no"]
        self.procs[port] = subprocess.Popen(
            self.args[port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port("127.0.0.1", port)
        return port

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (as a crash would)."""
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(10)

    def stop(self) -> None:
        """Stop every node."""
        for port in list(self.procs):
            proc = self.procs.pop(port)
            proc.terminate()
            proc.wait(10)


def redis_cli(port: int, *args: str) -> str:
    """redis-cli's answer to ``args`` from the node on ``port``."""
    command = [redis_binary("redis-cli"), "-p", str(port), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout


@dataclass
class SentinelGroup:
    """A master, a replica and three sentinels watching them as ``SERVICE``."""

    nodes: RedisNodes
    data: list[int]  # the two data nodes' ports
    sentinels: list[int]

    SERVICE = "proxy-redis"

    def master(self) -> int:
        """The port the sentinels name as the master now."""
        reply = redis_cli(self.sentinels[0], "SENTINEL", "get-master-addr-by-name", self.SERVICE)
        return int(reply.split()[1])

    def toml(self, replica_acks: int = 1) -> str:
        """The ``[redis]`` table of a proxy using this group."""
        nodes = ", ".join(f'"127.0.0.1:{port}"' for port in self.sentinels)
        return (
            f'[redis]\nsentinels = [{nodes}]\nservice_name = "{self.SERVICE}"\n'
            f"replica_acks = {replica_acks}\nack_timeout = 1.0\n"
        )


@contextmanager
def redis_sentinel_group(workdir: Path) -> Iterator[SentinelGroup]:
    """One master, one replica, three sentinels (quick to declare the master down)."""
    nodes = RedisNodes(workdir)
    try:
        master = nodes.start(free_port())
        replica = nodes.start(free_port(), "--replicaof", "127.0.0.1", str(master))
        sentinels = []
        for _ in range(3):
            port = free_port()
            conf = workdir / f"sentinel-{port}.conf"
            conf.write_text(
                f"sentinel monitor {SentinelGroup.SERVICE} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {SentinelGroup.SERVICE} 1000\n"
                f"sentinel failover-timeout {SentinelGroup.SERVICE} 5000\n"
            )
            nodes.args[port] = [redis_binary("redis-sentinel"), str(conf), "--port", str(port)]
            nodes.args[port] += ["--bind", "127.0.0.1", "--dir", str(workdir)]
            sentinels.append(nodes.start(port))
        group = SentinelGroup(nodes, [master, replica], sentinels)
        deadline = SYSTEM.monotonic() + 30
        while "master_link_status:up" not in redis_cli(replica, "INFO", "replication"):
            assert SYSTEM.monotonic() < deadline, "the replica never synced"
            time.sleep(0.1)
        yield group
    finally:
        nodes.stop()


def cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is a free port too."""
    while True:
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port


@contextmanager
def redis_cluster(workdir: Path, size: int = 3) -> Iterator[list[int]]:
    """A Redis Cluster of ``size`` masters (redis-cli --cluster create); yields their ports."""
    nodes = RedisNodes(workdir)
    try:
        ports = [cluster_port() for _ in range(size)]
        for port in ports:
            conf = str(workdir / f"nodes-{port}.conf")
            nodes.start(port, "--cluster-enabled", "yes", "--cluster-config-file", conf)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        redis_cli(ports[0], "--cluster", "create", *addresses, "--cluster-yes")
        deadline = SYSTEM.monotonic() + 30
        while not all("cluster_state:ok" in redis_cli(p, "CLUSTER", "INFO") for p in ports):
            assert SYSTEM.monotonic() < deadline, "the cluster never became ready"
            time.sleep(0.1)
        yield ports
    finally:
        nodes.stop()
