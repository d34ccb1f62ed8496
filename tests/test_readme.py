"""The README's Python blocks run as written, and print what the README shows.

Each ```python block runs in a fresh interpreter from the repository root, as a user
pasting it would run it; a block after ``<!-- readme-test: continue -->`` runs in the
same interpreter as the block before it, and one after ``<!-- readme-test: gpu -->``
needs a GPU.  A ```text block right after a Python block (a short line such as
"prints" may stand between them) is its output, compared line by line.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from targets import gpu_available

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DIRECTIVE = re.compile(r"<!-- readme-test: ([a-z, ]+) -->")
#: What NEURON prints on import on a machine without a display.
NOISE = ("Warning: no DISPLAY environment variable.", "--No graphics will be displayed.")
MARK = "----- ionc readme block {} -----"


@dataclass
class Block:
    line: int                          # where the code starts in README.md
    code: str
    flags: set = field(default_factory=set)
    output: str | None = None


def readme_blocks(text: str) -> list[Block]:
    """The Python blocks of ``text``, their directives and the output shown after each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```python":
            i += 1
            continue
        flags: set = set()
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0 and DIRECTIVE.fullmatch(lines[k].strip()):
            flags = {f.strip() for f in DIRECTIVE.fullmatch(lines[k].strip()).group(1).split(",")}
        end = lines.index("```", i + 1)
        block = Block(i + 2, "\n".join(lines[i + 1:end]) + "\n", flags)
        k = end + 1
        between = []
        while k < len(lines) and not lines[k].startswith("```") and len(between) < 3:
            between.append(lines[k])
            k += 1
        if k < len(lines) and lines[k].strip() == "```text" \
                and sum(bool(b.strip()) for b in between) <= 1:
            stop = lines.index("```", k + 1)
            block.output = "\n".join(lines[k + 1:stop])
        blocks.append(block)
        i = end + 1
    return blocks


def sessions(blocks: list[Block]) -> list[list[Block]]:
    """Blocks grouped by interpreter: a ``continue`` block joins the one before it."""
    out: list[list[Block]] = []
    for b in blocks:
        if "continue" in b.flags and out:
            out[-1].append(b)
        else:
            out.append([b])
    return out


SESSIONS = sessions(readme_blocks(README.read_text()))


def _printed(session: list[Block]) -> list[str]:
    """Run a session's blocks in one interpreter; what each printed."""
    script = "".join(f"print({MARK.format(j)!r}, flush=True)\n{b.code}"
                     for j, b in enumerate(session))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, (f"README.md block at line {session[0].line} failed:\n"
                               f"{r.stderr[-3000:]}")
    lines = [ln for ln in r.stdout.splitlines() if ln.strip() not in NOISE]
    starts = [lines.index(MARK.format(j)) for j in range(len(session))] + [len(lines)]
    return ["\n".join(lines[a + 1:b]) for a, b in zip(starts, starts[1:])]


def _param(session: list[Block]):
    marks = ([pytest.mark.gpu, pytest.mark.skipif(not gpu_available(),
                                                  reason="needs CuPy and a CUDA GPU")]
             if any("gpu" in b.flags for b in session) else [])
    return pytest.param(session, id=f"line{session[0].line}", marks=marks)


@pytest.mark.parametrize("session", [_param(s) for s in SESSIONS])
def test_readme_block_runs_and_prints_what_the_readme_shows(session):
    for block, printed in zip(session, _printed(session)):
        if block.output is not None:
            want = [ln.rstrip() for ln in block.output.splitlines()]
            got = [ln.rstrip() for ln in printed.splitlines()]
            assert got == want, f"README.md line {block.line}: the output differs"


def test_the_readme_parser_finds_directives_and_outputs():
    text = ("```python\nprint(1)\n```\nprints\n\n```text\n1\n```\n\n"
            "<!-- readme-test: continue -->\n```python\nx = 2\n```\n\n"
            "Some prose.\n\nMore prose.\n\n```text\nnot an output\n```\n")
    first, second = readme_blocks(text)
    assert first.output == "1" and first.code == "print(1)\n" and not first.flags
    assert second.flags == {"continue"} and second.output is None
    assert sessions([first, second]) == [[first, second]]
    assert len(SESSIONS) >= 10 and sum(b.output is not None for s in SESSIONS for b in s) >= 3
