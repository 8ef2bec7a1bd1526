"""Helpers of the server agent run under a real `sh`, with `ps` and `curl` played by scripts.

How the agent switches a proxy end to end (zero failed requests, the old workers gone before it
says so) is proven against a real nginx in tests/e2e/test_release_scripts.py; here, what the
helpers read from a process list and how many routed probes they need.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from slipway.commands.agent import render_agent

MASTER = "nginx: master process nginx -c /etc/slipway-proxy/nginx.conf -g daemon off;"


def agent_functions() -> str:
    """The agent's text up to its dispatch: every helper defined, nothing run."""
    text = render_agent()
    return text[:text.rindex('case "${1:-}" in')]


def run_sh(tmp: Path, script: str, tools: dict[str, str], *, with_ps: bool = True) -> str:
    """`script` after the agent's helpers, with a PATH of `tools` (name -> sh body) and the
    system's awk, tr, date, sleep and cat (and no `ps` unless one is given)."""
    bin_dir = Path(tempfile.mkdtemp(prefix="bin-", dir=tmp))  # this call's tools only
    for name in ("awk", "tr", "date", "sleep", "cat"):
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    for name, body in tools.items():
        if name == "ps" and not with_ps:
            continue
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        os.chmod(bin_dir / name, 0o700)
    done = subprocess.run(["/bin/sh", "-c", agent_functions() + script], capture_output=True, text=True,
                          env={"PATH": str(bin_dir)}, check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fake_ps(tmp: Path, first: str, children: str = "") -> dict[str, str]:
    """`ps`: the listing of a pid and its children (`-o ppid=` asked), else that of a master's
    children (accepting_workers)."""
    (tmp / "first").write_text(first)
    (tmp / "children").write_text(children)
    return {"ps": f'case "$*" in *ppid=*) cat {tmp}/first ;; *) cat {tmp}/children ;; esac'}


def workers(tmp: Path, tools: dict[str, str], *, with_ps: bool = True) -> tuple[str, set[str]]:
    out = run_sh(tmp, 'proxy_workers 100\nprintf "%s|%s\\n" "$proxy_master" "$old_workers"\n', tools,
                 with_ps=with_ps)
    master, _, listed = out.strip("\n").partition("|")
    return master, set(listed.split())


def test_nginx_as_the_first_process_gives_its_accepting_workers_from_one_listing(tmp_path: Path) -> None:
    tools = fake_ps(tmp_path, f"""  100     1 {MASTER}
  201   100 nginx: worker process
  202   100 nginx: worker process
  203   100 nginx: worker process is shutting down
  204   100 nginx: cache manager process
""", children="  999 nginx: worker process\n")  # never asked for: one listing says it all
    assert workers(tmp_path, tools) == ("100", {"201", "202"})


def test_nginx_under_an_init_is_found_below_it_and_its_workers_listed_apart(tmp_path: Path) -> None:
    tools = fake_ps(tmp_path, f"""  100     1 /sbin/docker-init -- nginx -c /etc/slipway-proxy/nginx.conf
  150   100 {MASTER}
""", children="""  201 nginx: worker process
  202 nginx: worker process is shutting down
  203 nginx: worker proc
""")  # a title cut short counts as shutting down
    assert workers(tmp_path, tools) == ("150", {"201"})


def test_no_ps_or_no_nginx_master_says_nothing(tmp_path: Path) -> None:
    tools = fake_ps(tmp_path, "  100     1 /usr/bin/some-other-server\n")
    assert workers(tmp_path, tools) == ("", set())
    assert workers(tmp_path, fake_ps(tmp_path, f"  100     1 {MASTER}\n"), with_ps=False) == ("", set())


def test_one_routed_probe_is_enough_when_asked_for_one_and_three_otherwise(tmp_path: Path) -> None:
    log = tmp_path / "probes"
    # curl through the proxy: the upstream that answered named in a header (slipway.commands.proxy).
    curl = {"curl": f"echo probe >> {log}\n"
                    "printf 'HTTP/1.1 200 OK\\r\\nX-Slipway-Upstream: 127.0.0.1:8002\\r\\n\\r\\n'"}
    script = ('proxy_host=127.0.0.1 port=8000 health_path=/ready\n'
              'wait_routed 8002 $(( $(date +%s) + 10 )) {count} && echo routed\n')
    assert run_sh(tmp_path, script.format(count=1), curl) == "routed\n"
    assert log.read_text().count("probe") == 1
    log.unlink()
    assert run_sh(tmp_path, script.format(count=3), curl) == "routed\n"
    assert log.read_text().count("probe") == 3


def hasten(agent: Path, service_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """hasten_retirement for the service in `service_dir`, as the agent at `agent` (its $0) runs it."""
    return subprocess.run(["/bin/sh", "-c", agent_functions() + f"dir={service_dir}\nhasten_retirement\n",
                           str(agent)], capture_output=True, text=True, env=env, timeout=30, check=False)


def test_a_stage_ends_a_standby_at_once_and_the_retirement_stops_its_release(tmp_path: Path) -> None:
    """`retire` stands by (a long sleep); hasten_retirement, as a stage runs it, signals it: the
    standby ends, the release is stopped, the retirement's markers go."""
    agent = tmp_path / "agent.sh"
    agent.write_text(render_agent())
    service_dir, log = tmp_path / "svc", tmp_path / "docker.log"
    service_dir.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')  # no container to list
    os.chmod(bin_dir / "docker", 0o700)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    retiring = subprocess.Popen(
        ["sh", str(agent), "retire", "--env", "e", "--service", "s", "--dir", str(service_dir),
         "--container", "e-s-old-8001", "--drain-seconds", "0", "--stop-seconds", "1",
         "--standby-seconds", "600", "--keep", "1"], env=env, stderr=subprocess.PIPE, text=True)
    (service_dir / "retiring").write_text(f"{retiring.pid} e-s-old-8001\n")
    standby = service_dir / "standby"
    for _ in range(500):  # it stands by once its drain is over
        if standby.exists() and retiring.poll() is None:
            break
        subprocess.run(["sleep", "0.01"], check=True)
    assert standby.read_text() == "e-s-old-8001\n"
    done = hasten(agent, service_dir, env)
    assert done.returncode == 0, done.stderr
    assert "ending the standby of e-s-old-8001" in done.stderr
    assert retiring.wait(timeout=60) == 0, retiring.stderr.read() if retiring.stderr else ""
    assert "stop --time 1 e-s-old-8001" in log.read_text()
    assert not standby.exists() and not (service_dir / "retiring").exists()


def test_a_stage_leaves_a_retirement_of_another_agent_version_alone(tmp_path: Path) -> None:
    agent, other = tmp_path / "agent-new.sh", tmp_path / "agent-old.sh"
    agent.write_text(render_agent())
    other.write_text(render_agent())
    service_dir = tmp_path / "svc"
    service_dir.mkdir()
    # A process whose command line is another agent's retirement of this service.
    old = subprocess.Popen(["sh", "-c", "sleep 60", str(other), "retire", "--dir", str(service_dir)])
    try:
        (service_dir / "retiring").write_text(f"{old.pid} e-s-old-8001\n")
        (service_dir / "standby").write_text("e-s-old-8001\n")
        done = hasten(agent, service_dir, dict(os.environ))
        assert done.returncode == 0, done.stderr
        assert "ending the standby" not in done.stderr
        assert old.poll() is None  # not signalled
    finally:
        old.kill()
        old.wait()


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if int(rest[1]) == pid:
                found.append((int(entry.name), name))
    return found


def test_a_standby_ended_with_term_takes_its_sleep_along(tmp_path: Path) -> None:
    """A deploy or switch-back ends a standby with TERM (wait_retired, switch_back): the standby's
    sleep goes with the retirement instead of idling out the standby on its own."""
    agent = tmp_path / "agent.sh"
    agent.write_text(render_agent())
    service_dir = tmp_path / "svc"
    service_dir.mkdir()
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    (tmp_path / "docker").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(tmp_path / "docker", 0o700)
    retiring = subprocess.Popen(
        ["sh", str(agent), "retire", "--env", "e", "--service", "s", "--dir", str(service_dir),
         "--container", "e-s-old-8001", "--drain-seconds", "0", "--stop-seconds", "1",
         "--standby-seconds", "600", "--keep", "1"], env=env, stderr=subprocess.PIPE, text=True)
    sleepers: list[tuple[int, str]] = []
    for _ in range(500):  # standing by: its sleep runs
        sleepers = [c for c in children(retiring.pid) if c[1] == "sleep"]
        if sleepers:
            break
        subprocess.run(["sleep", "0.01"], check=True)
    assert sleepers, "the retirement never stood by"
    retiring.terminate()
    assert retiring.wait(timeout=30) == 143
    for _ in range(500):
        if not Path(f"/proc/{sleepers[0][0]}").exists():
            break
        subprocess.run(["sleep", "0.01"], check=True)
    assert not Path(f"/proc/{sleepers[0][0]}").exists(), "the standby's sleep was left running"
