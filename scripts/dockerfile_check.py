"""Carry out the Dockerfile's steps in a Debian 12 root made by debootstrap, then run the image's
command there as its user on every fixture: the image's recipe tried where no Docker engine runs.

    sudo python3 scripts/dockerfile_check.py [ROOT]     (a folder not there yet; default /tmp/mediaprep-image)

Needs root, debootstrap and Debian's mirror; 74 s here, from an empty folder. While it runs, the
host's /proc and /dev are mounted in ROOT: if it is killed, unmount them (umount ROOT/proc ROOT/dev)
before removing ROOT. The base image's Python is stood in for by Debian 12's own (3.11, as in
python:3.11-slim-bookworm); pip may install into it as it does in the image. Only the instructions
this Dockerfile uses are known: FROM, RUN, WORKDIR, COPY, USER, ENTRYPOINT and CMD.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# What python:3.11-slim-bookworm has beyond debootstrap's minimal Debian 12: its Python (here Debian's),
# pip and certificates, and the useradd that debian:bookworm-slim has.
BASE = ["python3", "python3-pip", "ca-certificates", "passwd"]
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
       "PIP_BREAK_SYSTEM_PACKAGES": "1", "DEBIAN_FRONTEND": "noninteractive"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    joined, lines = "", []
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        joined += line.rstrip()
        if joined.endswith("\\"):
            joined = joined[:-1] + " "
            continue
        if joined.strip():
            lines.append(joined.strip())
        joined = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def in_root(root: Path, command: str, user: str = "root", workdir: str = "/", *, output: bool = False) -> str:
    spec = [] if user == "root" else [f"--userspec={user}:{user}"]
    env = [f"{k}={v}" for k, v in ENV.items()]
    done = subprocess.run(["chroot", *spec, str(root), "env", "-i", *env, "sh", "-c",
                           f"cd {shlex.quote(workdir)} && {command}"],
                          check=not output, stdout=subprocess.PIPE if output else None, text=True)
    return done.stdout or ""


def build(root: Path) -> tuple[str, list[str]]:
    """The image's user and its entrypoint, after every step has run."""
    in_root(root, f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {' '.join(BASE)}")
    # The host's bundle: where a proxy signs the traffic, pip would refuse PyPI without it.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    user, entrypoint, workdir = "root", [], "/"
    for op, args in instructions(PROJECT / "Dockerfile"):
        print(f"--> {op} {args}", flush=True)
        if op == "RUN":
            in_root(root, args, user, workdir)
        elif op == "WORKDIR":
            workdir = args
            (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif op == "COPY":
            *sources, dest = shlex.split(args)
            target = root / (dest if dest.startswith("/") else f"{workdir}/{dest}").lstrip("/")
            for source in sources:
                path = PROJECT / source
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target / path.name)
        elif op == "USER":
            user = args
        elif op == "ENTRYPOINT":
            entrypoint = json.loads(args)
        elif op not in ("FROM", "CMD"):
            sys.exit(f"dockerfile_check: {op} is not an instruction it knows")
    return user, entrypoint


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/mediaprep-image")
    if root.exists() and any(root.iterdir()):
        # A build starts from the base each time: the Dockerfile's useradd fails on a second go.
        sys.exit(f"dockerfile_check: {root} is not empty; give a folder that does not exist yet")
    subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), "http://deb.debian.org/debian"],
                   check=True)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # A container has /proc and /dev of its own; the root borrows the host's while the check runs.
    mounted = []
    try:
        for system in ("proc", "dev"):
            (root / system).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", f"/{system}", str(root / system)], check=True)
            mounted.append(root / system)
        check(root)
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "--lazy", str(path)], check=False)


def check(root: Path) -> None:
    user, entrypoint = build(root)
    # The fixtures where the image's user can read them and write beside them, as a mounted folder.
    work = root / "work"
    shutil.copytree(PROJECT / "fixtures/media", work / "media")
    in_root(root, f"chown -R {user} /work")
    command = " ".join(map(shlex.quote, entrypoint))
    in_root(root, f"{command} doctor", user, "/work")
    made = 0
    for media in sorted((work / "media").iterdir()):
        for profile in ("clicksend", "clicksend+legacy-30k", "sinch"):
            answer = json.loads(in_root(root, f"{command} convert media/{shlex.quote(media.name)} -o out/{profile}/ "
                                              f"--profile {profile} --json", user, "/work", output=True))
            if not answer.get("ok", True) and answer["error"]["code"] != "convert.not_allowed":
                sys.exit(f"dockerfile_check: {media.name} for {profile}: {answer['error']}")
            made += "path" in answer
            print(f"{media.name:20s} {profile:22s} {answer.get('path') or answer['error']['code']}")
    print(f"dockerfile_check: every step ran; the image's command, as {user}, made {made} outputs from the "
          f"fixtures and refused the rest as the profiles do not take them ({root})")


if __name__ == "__main__":
    main()
