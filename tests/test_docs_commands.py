"""The docs keep up with the code: every `seatrial ...` command shown in README.md and docs/*.md (code blocks and
inline code) parses with seatrial's own parsers, every `make` target and variable exists in the Makefile, every
`--seatrial-*` pytest option is one the plugin registers, every relative link points at a file (and heading) that
exists, and the README stays a front door."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import itertools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seatrial.runbook import cli

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "Makefile"
README_MAX_LINES = 170
# `make rehearse` runs this recipe; the check below reads make's variables into it.
REHEARSE_RECIPE = ("$(BIN)/seatrial rehearse --env $(ENV) $(if $(DIR),--dir $(DIR)) "
                   "$(if $(VOLUME_DATA),--volume-data $(VOLUME_DATA)) $(KIND_OPTS)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")  # NAME, STEP, D: a value the reader fills in
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title")
FENCE = re.compile(r"^\s*(```|~~~)")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Shown:
    """A command as a doc shows it: where, and its words."""

    path: Path
    line: int
    text: str
    inline: bool  # inline code may name a command (`seatrial upgrade-plan`) without all it requires

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.line}"


# -- reading the docs ------------------------------------------------------------------------------
def prose_and_code(text: str) -> Iterator[tuple[int, str, bool]]:
    """(first line number, text, inside a fenced code block): each code line (one ending in `\\` joined with the
    next ones, as a shell reads it), and each block of prose: a paragraph or list item (its lines joined by newlines,
    as inline code may run over a line break), a heading, a table row."""
    in_code = False
    pending: tuple[int, str] | None = None
    block: list[str] = []
    start = 0
    for number, line in enumerate([*text.splitlines(), ""], 1):
        starts_alone = re.match(r"\s*(#{1,6} |\||[-*] |\d+\. )", line)
        if block and (FENCE.match(line) or in_code or not line.strip() or starts_alone):
            yield start, "\n".join(block), False
            block = []
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            if pending is not None:
                line = pending[1] + " " + line.strip()
                number = pending[0]
                pending = None
            if line.rstrip().endswith("\\"):
                pending = (number, line.rstrip()[:-1])
                continue
            yield number, line, True
        elif line.strip():
            start = number if not block else start
            block.append(line)
            if line.lstrip().startswith(("#", "|")):  # a heading or a table row stands alone
                yield start, "\n".join(block), False
                block = []


def inline_code(block: str) -> list[tuple[int, str]]:
    """(line offset in the block, code) of each code span; a span over a line break reads as one line."""
    return [(block[:m.start()].count("\n"), m.group(1).replace("\n", " ")) for m in re.finditer(r"`([^`]+)`", block)]


def shown_commands(path: Path, program: str) -> list[Shown]:
    """Every command line of `program` (seatrial, make, pytest) in the doc: a code block's lines, and inline code."""
    found = []
    for number, text, in_code in prose_and_code(path.read_text()):
        spans = [(0, text.strip().removeprefix("$ "))] if in_code else inline_code(text)
        for offset, candidate in spans:
            words = _words(candidate)
            while words and ENV_ASSIGNMENT.match(words[0]):
                words = words[1:]  # KUBECONFIG=... seatrial ...
            if words and (words[0] == program or words[0].endswith(f"/bin/{program}")):
                found.append(Shown(path, number + offset, " ".join(shlex.quote(w) for w in words), not in_code))
    return found


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote: prose, not a command
        return []


def variants(words: list[str]) -> Iterator[list[str]]:
    """A shown command in the docs' notation, as the argument lists it stands for: `[--x V]` is written out,
    `up|status|down` is each of them, `...` goes."""
    cleaned = [w.strip("[]") for w in words if w.strip("[]") not in ("", "...")]
    choices = [w.split("|") if "|" in w and not w.startswith(("{", "'", '"')) else [w] for w in cleaned]
    for combination in itertools.product(*choices):
        yield list(combination)


# -- judging a command -----------------------------------------------------------------------------
class Refused(Exception):
    pass


def parse(parser: argparse.ArgumentParser, argv: list[str], *, known: bool = False):
    """What the parser makes of argv (None after --help); Refused with argparse's message when it refuses it."""
    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        try:
            return parser.parse_known_args(argv) if known else (parser.parse_args(argv), [])
        except SystemExit as exc:
            if exc.code in (0, None):  # --help, --version
                return None
            said = errors.getvalue().strip().splitlines()
            raise Refused(said[-1] if said else f"exit {exc.code}") from None
        except cli._UsageError as exc:  # seatrial's own parser raises instead of exiting
            raise Refused(str(exc)) from None


def environment_parser(module: str) -> argparse.ArgumentParser:
    """The argparse parser of an environment program (`python -m MODULE`): its build_parser()."""
    spec = importlib.util.find_spec(module)
    program = f"{module}.__main__" if spec is not None and spec.submodule_search_locations else module
    return importlib.import_module(program).build_parser()


def refusal(argv: list[str]) -> str | None:
    """Why seatrial would refuse this command line, or None when it parses. A placeholder (`step NAME`) given where
    the parser wants one of its choices stands for any of them: the first is tried in its place."""
    for _ in range(len(argv) + 1):
        why = _refusal(argv)
        invalid = re.search(r"invalid choice: '([^']*)' \(choose from '([^']*)'", why or "")
        if not invalid or not PLACEHOLDER.match(invalid.group(1)) or invalid.group(1) not in argv:
            return why
        argv = [invalid.group(2) if word == invalid.group(1) else word for word in argv]
    return why


def _refusal(argv: list[str]) -> str | None:
    """Why seatrial would refuse this command line, or None when it parses (as cli.main parses it)."""
    try:
        parsed = parse(cli.build_parser(), argv, known=True)
        if parsed is None:
            return None
        args, unknown = parsed
        if args.command not in cli.ENVIRONMENT_COMMANDS:
            if unknown:
                raise Refused(f"unrecognized arguments: {' '.join(unknown)}")
            return None
        rest = [*unknown, *args.arguments]
        module = cli.ENVIRONMENT_COMMANDS[args.command][0]
        if args.command != "rehearse":
            parse(environment_parser(module), rest)
            return None
        parsed = parse(environment_parser(module), rest, known=True)
        if parsed is None:
            return None
        options, extra = parsed
        if extra and options.env == "kind":
            parse(environment_parser("seatrial.fixtures.kind.rehearse"), extra)
        elif extra:
            raise Refused(f"unrecognized arguments: {' '.join(extra)}")
    except Refused as exc:
        return str(exc)
    return None


def seatrial_refusals(path: Path) -> list[str]:
    problems = []
    for shown in shown_commands(path, "seatrial"):
        for argv in variants(shlex.split(shown.text)):
            why = refusal(argv[1:])
            if why and not (shown.inline and "the following arguments are required" in why):
                problems.append(f"{shown.where()}: `{' '.join(argv)}`: {why}")
    return problems


def make_targets_and_variables() -> tuple[set[str], set[str]]:
    text = MAKEFILE.read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))
    variables = set(re.findall(r"\$\(([A-Z_]+)\)", text)) | set(re.findall(r"\$\(if \$\(([A-Z_]+)\)", text))
    return targets, variables


def make_refusals(path: Path) -> list[str]:
    targets, variables = make_targets_and_variables()
    problems = []
    for shown in shown_commands(path, "make"):
        for words in variants(shlex.split(shown.text)):
            assigned = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            named = [w for w in words[1:] if "=" not in w]
            for target in named:
                if target not in targets:
                    problems.append(f"{shown.where()}: `{shown.text}`: no target {target!r} in the Makefile")
            for variable in assigned:
                if variable not in variables:
                    problems.append(f"{shown.where()}: `{shown.text}`: the Makefile reads no {variable}")
            if named == ["rehearse"]:
                argv = ["rehearse", "--env", assigned.get("ENV", "sandbox")]
                argv += ["--dir", assigned["DIR"]] if assigned.get("DIR") else []
                argv += ["--volume-data", assigned["VOLUME_DATA"]] if assigned.get("VOLUME_DATA") else []
                why = refusal(argv + shlex.split(assigned.get("KIND_OPTS", "")))
                if why:
                    problems.append(f"{shown.where()}: `{shown.text}` runs `seatrial {' '.join(argv)} ...`: {why}")
    return problems


def registered_pytest_options() -> set[str]:
    sources = "\n".join(p.read_text() for p in (ROOT / "seatrial").rglob("*.py"))
    return set(re.findall(r"addoption\(\s*\"(--seatrial-[a-z-]+)\"", sources))


def pytest_refusals(path: Path) -> list[str]:
    known = registered_pytest_options()
    problems = []
    for shown in shown_commands(path, "pytest"):
        for word in shlex.split(shown.text):
            option = word.split("=", 1)[0]
            if option.startswith("--seatrial-") and option not in known:
                problems.append(f"{shown.where()}: `{shown.text}`: pytest has no option {option} "
                                f"(seatrial registers {sorted(known)})")
    return problems


# -- links -----------------------------------------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    return {slug(text.lstrip("#")) for _, text, in_code in prose_and_code(path.read_text())
            if not in_code and re.match(r"#{1,6} ", text)}


def link_problems(path: Path) -> list[str]:
    problems = []
    for start, text, in_code in prose_and_code(path.read_text()):
        if in_code:
            continue
        prose = re.sub(r"`[^`]*`", lambda span: "\n" * span.group(0).count("\n"), text)
        for link in LINK.finditer(prose):
            target, number = link.group(1), start + prose[:link.start()].count("\n")
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}"
            if not linked.exists():
                problems.append(f"{where}: link {target!r}: {linked} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in anchors_of(linked):
                problems.append(f"{where}: link {target!r}: {linked.name} has no heading with anchor #{anchor}")
    return problems


REPOSITORY_PATH = re.compile(r"^(seatrial|tests|benchmarks|examples|docs)/[\w./-]*$")


def path_problems(path: Path) -> list[str]:
    """A path of this repository in inline code (`seatrial/runbook/clients/helm.py`) that does not exist."""
    problems = []
    for start, text, in_code in prose_and_code(path.read_text()):
        for offset, code in ([] if in_code else inline_code(text)):
            if REPOSITORY_PATH.match(code) and not (ROOT / code).exists():
                problems.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{start + offset}: "
                                f"`{code}` does not exist in the repository")
    return problems


# -- the tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_every_seatrial_command_shown_parses(path: Path):
    problems = seatrial_refusals(path)
    assert not problems, "commands the docs show that seatrial refuses:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_every_make_target_and_pytest_option_shown_exists(path: Path):
    problems = make_refusals(path) + pytest_refusals(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_every_relative_link_and_repository_path_points_at_something(path: Path):
    problems = link_problems(path) + path_problems(path)
    assert not problems, "\n".join(problems)


def test_the_docs_show_the_main_commands():
    """The extraction finds what the docs are for (a reader that found nothing would pass everything)."""
    shown = {" ".join(shlex.split(s.text)[:3]) for doc in documents() for s in shown_commands(doc, "seatrial")}
    for expected in ("seatrial rehearse", "seatrial -c seatrial.yaml", "seatrial sandbox up", "seatrial kind up",
                     "seatrial upgrade-plan --chart"):
        assert any(command.startswith(expected) for command in shown), (expected, sorted(shown))
    assert any(s.text.startswith("make rehearse") for s in shown_commands(ROOT / "README.md", "make"))


def test_make_rehearse_still_runs_seatrial_rehearse():
    assert REHEARSE_RECIPE in MAKEFILE.read_text(), "make rehearse changed: update make_refusals' reading of it"


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    for guide in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{guide.name}" in "\n".join(lines), f"README.md does not point at docs/{guide.name}"


# -- the checker itself fails where it should --------------------------------------------------------
WRONG_DOC = """\
# A guide with mistakes

Run `seatrial run --bogus` first; `seatrial upgrade-plan` names a command.

```
seatrial upgrade-plan --chart harbor
seatrial -c seatrial.yaml status -o json       # fine
seatrial sandbox up --dir D --nope
seatrial rehearse --env kind --dir D --uploader floppy
seatrial upgrade-plan --chart harbor --release r --namespace n \\
    --from-chart harbor --no-such-thing
make rehearse ENV=kind KIND_OPTS="--keep --nah"
make deploy
pytest --seatrial-confg seatrial.yaml
```

See [the guide](missing.md) and [a heading](#no-such-heading) and [this one](#a-guide-with-mistakes).

The code is in `seatrial/runbook/clients/helm.py`, not in `runbook/helm.py` nor `seatrial/runbook/helm.py`.

A span may run over a line break: `seatrial sandbox up --dir D
--bogus-two`, and a link [too](
missing-too.md).
"""


def test_a_doc_naming_an_option_that_does_not_exist_fails(tmp_path: Path):
    doc = tmp_path / "wrong.md"
    doc.write_text(WRONG_DOC)
    seatrial = seatrial_refusals(doc)
    lines = [f"{doc}:{n}" for n in (3, 6, 8, 9, 10, 21)]
    assert [p.split(": `")[0] for p in seatrial] == lines, seatrial
    assert "unrecognized arguments: --bogus" in seatrial[0]
    assert "required: --release" in seatrial[1]  # a code block shows a whole command line
    assert "unrecognized arguments: --nope" in seatrial[2]
    assert "invalid choice: 'floppy'" in seatrial[3]
    assert "--no-such-thing" in seatrial[4]
    assert "--bogus-two" in seatrial[5]
    make = make_refusals(doc)
    assert any(":12:" in p and "--nah" in p for p in make), make
    assert any(":13:" in p and "no target 'deploy'" in p for p in make), make
    assert [p for p in pytest_refusals(doc) if "--seatrial-confg" in p and ":14:" in p]
    links = link_problems(doc)
    assert len(links) == 3 and "missing.md" in links[0] and "#no-such-heading" in links[1], links
    assert links[2].startswith(f"{doc}:22: link 'missing-too.md'"), links
    assert path_problems(doc) == [f"{doc}:19: `seatrial/runbook/helm.py` does not exist in the repository"]


def test_the_notation_stands_for_each_command_it_shows():
    assert list(variants(["seatrial", "sandbox", "up|status|down", "--dir", "D"])) == [
        ["seatrial", "sandbox", "up", "--dir", "D"], ["seatrial", "sandbox", "status", "--dir", "D"],
        ["seatrial", "sandbox", "down", "--dir", "D"]]
    assert refusal(["step", "NAME"]) is None  # a placeholder for a choice
    assert "--bogus" in refusal(["step", "NAME", "--bogus"])  # and the rest of the line is still judged
    assert refusal(["step", "backpu"]) is not None
    assert refusal(["run", "--from", "backup", "--dry-run"]) is None
    assert refusal(["kind", "up", "--dir", "D", "--keep"]) is None
    assert refusal(["kind", "status", "--dir", "D", "--keep"]) is not None  # --keep is up's alone
    assert refusal(["rehearse", "--uploader", "restic"]) is not None  # a kind option without --env kind
