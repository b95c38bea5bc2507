"""What the real `kind` (v0.33) and `docker` CLIs accept, as kind-facts.md gives it, for checking the
stand-ins' call records. Each checker returns the problems of one call (an empty list when it is valid)."""

from __future__ import annotations

import re

# kind subcommand -> (number of positional arguments after the subcommand words, accepted flags)
KIND_COMMANDS = {
    ("version",): ((0, 0), set()),
    ("get", "clusters"): ((0, 0), set()),
    ("create", "cluster"): ((0, 0), {"--name", "--kubeconfig", "--image", "--config", "--wait", "--retain"}),
    ("delete", "cluster"): ((0, 0), {"--name", "--kubeconfig"}),
    ("get", "kubeconfig"): ((0, 0), {"--name", "--internal"}),
    ("export", "kubeconfig"): ((0, 0), {"--name", "--kubeconfig", "--internal"}),
    ("load", "image-archive"): ((1, 1), {"--name", "--nodes"}),
    ("export", "logs"): ((0, 1), {"--name"}),
}
KIND_VALUED = {"--name", "--kubeconfig", "--image", "--config", "--wait", "--nodes"}
DOCKER_COMMANDS = {
    ("info",): ((0, 0), {"--format"}),
    ("run",): ((1, None), {"--detach", "--name", "--network", "--publish", "--env-file", "-e"}),
    ("rm",): ((1, None), {"--force", "--volumes"}),
    ("port",): ((1, 2), set()),
    ("container", "inspect"): ((1, None), {"--format"}),
    ("inspect",): ((1, None), {"--format"}),
    ("logs",): ((1, 1), set()),
    ("pull",): ((1, 1), {"--platform"}),
    ("tag",): ((2, 2), set()),
    ("manifest", "inspect"): ((1, 1), {"--verbose"}),
    ("image", "inspect"): ((1, None), {"--format"}),
    ("image", "save"): ((1, None), {"--platform", "--output"}),
}
DOCKER_VALUED = {"--name", "--network", "--publish", "--env-file", "--format", "--platform", "--output", "-e"}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _split(argv: list[str], valued: set[str]) -> tuple[list[str], dict[str, str | None]]:
    words, flags, pending = [], {}, None
    for arg in argv:
        if pending:
            flags[pending] = arg
            pending = None
        elif arg.startswith("--") or arg in valued:
            name, _, value = arg.partition("=")
            flags[name] = value or None
            if not value and name in valued:
                pending = name
        else:
            words.append(arg)
    return words, flags


def _check(program: str, argv: list[str], commands: dict, valued: set[str]) -> tuple[list[str], dict, list]:
    words, flags = _split(argv, valued)
    problems = []
    for command, ((low, high), accepted) in commands.items():
        if tuple(words[:len(command)]) == command:
            rest = words[len(command):]
            if len(rest) < low or (high is not None and len(rest) > high):
                problems.append(f"{program} {' '.join(argv)}: {len(rest)} arguments, expected {low}..{high}")
            unknown = sorted(set(flags) - accepted)
            if unknown:
                problems.append(f"{program} {' '.join(argv)}: flags {unknown} not accepted by {' '.join(command)}")
            return words, flags, problems
    return words, flags, [f"{program} {' '.join(argv)}: not a command the kind path may call"]


def check_kind(argv: list[str]) -> list[str]:
    words, flags, problems = _check("kind", argv, KIND_COMMANDS, KIND_VALUED)
    if words[:2] == ["create", "cluster"]:
        if not DIGEST.search(flags.get("--image") or ""):
            problems.append(f"kind {' '.join(argv)}: the node image must be pinned by @sha256 digest")
        if not flags.get("--name") or not flags.get("--kubeconfig"):
            problems.append(f"kind {' '.join(argv)}: --name and --kubeconfig are always given")
    if words[:1] in (["delete"], ["load"], ["export"]) and not flags.get("--name"):
        problems.append(f"kind {' '.join(argv)}: without --name it acts on the cluster named `kind`")
    return problems


def check_docker(argv: list[str]) -> list[str]:
    words, flags, problems = _check("docker", argv, DOCKER_COMMANDS, DOCKER_VALUED)
    command = " ".join(argv)
    if words[:1] == ["run"]:
        if flags.get("--network") != "kind":
            problems.append(f"docker {command}: the S3 container must be on the kind network")
        if not (flags.get("--publish") or "").startswith("127.0.0.1:"):
            problems.append(f"docker {command}: publish on the loopback address only")
        if any(re.search(r"(PASSWORD|SECRET|ROOT_USER)=", arg) for arg in argv):
            problems.append(f"docker {command}: a key on the command line (use -e NAME, the value in the env)")
    if words[:2] == ["image", "save"] and not flags.get("--platform"):
        problems.append(f"docker {command}: save needs --platform (kind#3795 workaround)")
    return problems
