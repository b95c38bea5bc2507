"""The stand-in server (seatrial/fixtures/kind/standins/server.py): `bin/docker` and `bin/kind` hand their calls to
it, and a fork of it answers as a fresh interpreter would: same output, exit code, streams, directory and
environment; without a server, or with one that is gone, the call runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess

from seatrial.fixtures.kind.fixture import _STANDIN_SERVER


def _call(*argv: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
                          env=env or dict(os.environ))


def test_a_call_is_answered_by_a_fork_of_the_server_as_a_fresh_interpreter_answers_it(kind_standins, tmp_path):
    server = _STANDIN_SERVER[0]
    assert os.environ["SEATRIAL_STANDIN_SERVER"] == _STANDIN_SERVER[1] and server.poll() is None
    fresh_env = {k: v for k, v in os.environ.items() if k != "SEATRIAL_STANDIN_SERVER"}
    gone_env = {**os.environ, "SEATRIAL_STANDIN_SERVER": str(tmp_path / "no-such-socket")}
    answers = [_call("docker", "info", "--format", "{{json .}}", cwd=tmp_path, env=env)
               for env in (None, fresh_env, gone_env)]
    assert [a.returncode for a in answers] == [0, 0, 0], [a.stderr for a in answers]
    assert answers[0].stdout == answers[1].stdout == answers[2].stdout and answers[0].stdout.startswith("{")
    calls = kind_standins.calls("docker")
    assert [c["ppid"] == server.pid for c in calls] == [True, False, False]
    assert {c["cwd"] for c in calls} == {str(tmp_path)}
    refused = [_call("docker", "version", env=env) for env in (None, fresh_env)]
    assert refused[0].returncode == refused[1].returncode == 2
    assert refused[0].stderr == refused[1].stderr and "not one of the commands the kind path calls" in refused[0].stderr


def test_the_callers_environment_reaches_the_fork_and_a_forked_daemon_keeps_no_stream_of_the_caller(kind_standins,
                                                                                                    tmp_path):
    kind_standins.set("DOCKER_VERSION", "27.5.1")  # read by the fork from the caller's environment
    assert '"ServerVersion": "27.5.1"' in _call("docker", "info", "--format", "{{json .}}").stdout
    # `kind create cluster` starts the cluster's daemon (a fork of the fork): the call returns, its output ends
    done = _call("kind", "create", "cluster", "--name=seatrial-source",
                 f"--kubeconfig={tmp_path / 'source.kubeconfig'}")
    assert done.returncode == 0, done.stderr
    assert kind_standins.running() == ["clusters/seatrial-source"]
    assert _call("kind", "get", "clusters").stdout.split() == ["seatrial-source"]
    assert _call("kind", "delete", "cluster", "--name=seatrial-source").returncode == 0
    assert kind_standins.running() == []
