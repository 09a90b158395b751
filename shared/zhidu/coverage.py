"""The rules-coverage table: every rule, where it lives, and what proves it.

``docs/rules-coverage.yaml`` is kept by hand: one entry per rule of the spec's
``rules.md`` and per further rule the team took on, each with its seed section,
the files (and YAML keys or Python names) that carry it, the tests that prove
it and a status. ``zhidu docs`` renders it into ``docs/rules-coverage.md``;
``tests/test_rules_coverage.py`` checks that every rule of ``rules.md`` has
its entry and that every file, key, name and test the table cites exists.

Rule ids. ``rules.md`` is cut into units the same way every time: a paragraph,
a list item (a nested item is a unit of its own, apart from its parent) or a
table row (not the header). A paragraph that only lists sources (``Sources:``)
is no rule and is skipped. A unit's id is ``<section>.<n>``: the number of its
``## N.`` heading (0 before the first) and its place among that section's
units. Its fingerprint is the first 12 hex digits of the SHA-256 of its text
with whitespace collapsed, so an edit to a rule's wording is caught even when
its place stays the same.
"""
from __future__ import annotations

import ast
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TABLE = "docs/rules-coverage.yaml"
PAGE = "docs/rules-coverage.md"
STATUSES = ("implemented", "partial", "missing")


def rules_md() -> Path:
    """The spec beside the repository, or where ``ZHIDU_RULES_MD`` points."""
    return Path(os.environ.get("ZHIDU_RULES_MD") or REPO.parent / "shared/spec/rules.md")


# -- cutting rules.md into units ------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    id: str
    text: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text)


def fingerprint(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:12]


HEADING = re.compile(r"^(#+)\s+(?:(\d+)\.\s)?")
ITEM = re.compile(r"^(\s*)[-*]\s+(.*)$")
TABLE_RULE = re.compile(r"^\|[\s:|-]+\|$")


def units(text: str) -> list[Unit]:
    found: list[Unit] = []
    section, count = 0, 0
    current: list[str] = []
    in_table = False

    def flush():
        nonlocal current, count
        body = " ".join(" ".join(current).split())
        current = []
        if body and not body.startswith("Sources:"):
            count += 1
            found.append(Unit(f"{section}.{count}", body))

    for line in text.splitlines():
        stripped = line.strip()
        heading = HEADING.match(line)
        if heading:
            flush()
            in_table = False
            if heading.group(2) is not None:
                section, count = int(heading.group(2)), 0
            continue
        if not stripped:
            flush()
            in_table = False
            continue
        if stripped.startswith("|"):
            flush()
            if not in_table:                # the header row
                in_table = True
            elif not TABLE_RULE.match(stripped):
                current = [stripped]
                flush()
            continue
        in_table = False
        item = ITEM.match(line)
        if item:
            flush()
            current = [item.group(2)]
        else:
            current.append(stripped)
    flush()
    return found


# -- the table ------------------------------------------------------------------------

def load(root: Path = REPO) -> dict:
    with open(root / TABLE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _where(entry) -> list[tuple[str, list[str]]]:
    """``where`` items: ``path`` or ``{path: key-or-name | [keys-or-names]}``."""
    out = []
    for item in entry.get("where") or []:
        if isinstance(item, str):
            out.append((item, []))
        else:
            for path, keys in item.items():
                out.append((path, [keys] if isinstance(keys, str) else list(keys or [])))
    return out


def _cell(text) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _row(entry) -> str:
    where = "<br>".join(
        f"`{path}`" + (": " + ", ".join(f"`{k}`" for k in keys) if keys else "")
        for path, keys in _where(entry)) or "—"
    tests = "<br>".join(f"`{t}`" for t in entry.get("tests") or []) or "missing"
    status = entry["status"] + (f": {_cell(entry['note'])}" if entry.get("note") else "")
    return (f"| {entry['id']} | {_cell(entry['rule'])} | {_cell(entry.get('seed')) or '—'} "
            f"| {where} | {tests} | {status} |")


def _counts(entries) -> str:
    return ", ".join(f"{sum(e['status'] == s for e in entries)} {s}" for s in STATUSES)


def render(data: dict) -> str:
    head = ["| id | rule | seed | where (file: YAML key or Python name) | tests | status |",
            "|---|---|---|---|---|---|"]
    lines = [
        "# Rules coverage",
        "",
        f"Generated by `zhidu docs` from `{TABLE}`; do not edit. Every rule of the",
        "spec's `rules.md` (ids as `zhidu.coverage` cuts it: section and place) and every",
        "further rule the team took on, with its seed section, where it lives and the",
        "tests that prove it. `tests/test_rules_coverage.py` fails when a file, key,",
        "name or test cited here does not exist and, where the spec sits beside the",
        "repository, when a rule of `rules.md` has no entry or its text changed.",
        "",
        f"Made against `rules.md` with SHA-256 `{data['rules_md_sha256']}`.",
        "",
    ]
    parts = data["parts"]
    everything = [e for part in parts for e in part["rules"]]
    lines += [f"**{len(everything)} rules: {_counts(everything)}.**", ""]
    for part in parts:
        lines += [f"## {part['title']}", ""]
        if part.get("intro"):
            lines += [" ".join(part["intro"].split()), ""]
        lines += [f"{len(part['rules'])} rules: {_counts(part['rules'])}.", ""]
        groups: dict[str, list] = {}
        for entry in part["rules"]:
            key = entry["id"].split(".")[0] if part.get("sections") else ""
            groups.setdefault(key, []).append(entry)
        for key, entries in groups.items():
            if key:
                lines += [f"### {part['sections'][int(key)]}", ""]
            lines += [*head, *map(_row, entries), ""]
    return "\n".join(lines)


def build(root: Path = REPO) -> dict[str, str]:
    """The generated page, when the table is there to render (not in an image)."""
    if not (root / TABLE).exists():
        return {}
    return {PAGE: render(load(root))}


# -- checks ---------------------------------------------------------------------------

KEY_PART = re.compile(r"\.?([^.\[\]]+)|\[([^\]]+)\]")


def _key_exists(doc, key: str) -> bool:
    """A dotted path. In brackets: ``[3]`` the fourth item of a list,
    ``[field=value]`` the list item whose field has that value, ``[a.b]`` a
    mapping key that itself holds dots (an event name)."""
    parts = list(KEY_PART.finditer(key))
    if not parts or "".join(p.group(0) for p in parts) != key or key.startswith("."):
        return False
    node = doc
    for part in parts:
        name, bracket = part.groups()
        if name is not None or isinstance(node, dict):
            name = name if name is not None else bracket
            if not isinstance(node, dict) or name not in node:
                return False
            node = node[name]
        elif isinstance(node, list) and bracket.isdigit():
            if int(bracket) >= len(node):
                return False
            node = node[int(bracket)]
        elif isinstance(node, list) and "=" in bracket:
            field, _, value = bracket.partition("=")
            hits = [item for item in node
                    if isinstance(item, dict) and str(item.get(field)) == value]
            if not hits:
                return False
            node = hits[0]
        else:
            return False
    return True


def python_names(path: Path) -> set[str]:
    """Top-level functions, classes and assignments, and ``Class.method``."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names.update(f"{node.name}.{item.name}" for item in node.body
                             if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef))
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def collected_tests(path: Path) -> set[str]:
    """What pytest would collect by name: ``test_*`` functions and the
    ``test_*`` methods of ``Test*`` classes, read without importing."""
    nodes = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                and node.name.startswith("test"):
            nodes.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            nodes.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                         and item.name.startswith("test"))
    return nodes


def problems(data: dict, root: Path = REPO) -> list[str]:
    """Everything the table cites that is not there, and entries not well formed."""
    found, seen = [], set()
    yamls: dict[str, object] = {}
    names: dict[str, set[str]] = {}
    nodes: dict[str, set[str]] = {}
    for number, part in enumerate(data["parts"]):
        for entry in part["rules"]:
            rid = entry.get("id")
            where = f"rule {rid}"
            if rid in seen:
                found.append(f"{where}: id used twice")
            seen.add(rid)
            # Part one is rules.md, each entry tied to its unit's text.
            fingerprinted = re.fullmatch(r"[0-9a-f]{12}", str(entry.get("fingerprint", "")))
            if number == 0 and not fingerprinted:
                found.append(f"{where}: no fingerprint of 12 hex digits")
            if number > 0 and "fingerprint" in entry:
                found.append(f"{where}: only rules of rules.md carry a fingerprint")
            for field in ("rule", "seed", "status"):
                if not entry.get(field):
                    found.append(f"{where}: no {field}")
            status = entry.get("status")
            if status not in STATUSES:
                found.append(f"{where}: status {status!r} is not one of {STATUSES}")
            if status == "implemented" and not entry.get("tests"):
                found.append(f"{where}: implemented, but no test proves it")
            if status in ("partial", "missing") and not entry.get("note"):
                found.append(f"{where}: {status} needs a note saying what is lacking")
            if status != "missing" and not _where(entry):
                found.append(f"{where}: {status}, but nowhere it lives")
            for path, keys in _where(entry):
                file = root / path
                if not file.is_file():
                    found.append(f"{where}: no file {path}")
                    continue
                if path.endswith((".yaml", ".yml")):
                    if path not in yamls:
                        yamls[path] = yaml.safe_load(file.read_text(encoding="utf-8"))
                    found += [f"{where}: no key {key} in {path}" for key in keys
                              if not _key_exists(yamls[path], key)]
                elif path.endswith(".py"):
                    if path not in names:
                        names[path] = python_names(file)
                    found += [f"{where}: no name {key} in {path}" for key in keys
                              if key not in names[path]]
                elif keys:
                    found.append(f"{where}: {path} is neither YAML nor Python; "
                                 "it cannot carry keys")
            for test in entry.get("tests") or []:
                path, _, name = test.partition("::")
                file = root / path
                if not name or not file.is_file():
                    found.append(f"{where}: no test file for {test}")
                    continue
                if path not in nodes:
                    nodes[path] = collected_tests(file)
                if name not in nodes[path]:
                    found.append(f"{where}: no test {test}")
    return found


def spec_problems(data: dict, text: str) -> list[str]:
    """Where the table and ``rules.md`` disagree: a unit without an entry, an
    entry for no unit, a unit whose text changed since its entry was made."""
    found = []
    spec = {unit.id: unit for unit in units(text)}
    listed = {e["id"]: e for e in data["parts"][0]["rules"]}
    for rid, unit in spec.items():
        entry = listed.get(rid)
        if entry is None:
            found.append(f"rule {rid} of rules.md has no entry "
                         f"(fingerprint {unit.fingerprint}): {unit.text[:100]}")
        elif entry.get("fingerprint") != unit.fingerprint:
            found.append(f"rule {rid} of rules.md changed or moved: review its entry and "
                         f"set fingerprint {unit.fingerprint}; it now reads: {unit.text[:100]}")
    found += [f"entry {rid} names no rule of rules.md" for rid in listed if rid not in spec]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if not found and data.get("rules_md_sha256") != digest:
        found.append(f"rules.md changed outside its rules: set rules_md_sha256 to {digest}")
    return found


def main() -> int:
    """``python -m zhidu.coverage``: rules.md's units, with id and fingerprint,
    and what the table lacks."""
    text = rules_md().read_text(encoding="utf-8")
    for unit in units(text):
        print(f"{unit.id}\t{unit.fingerprint}\t{unit.text}")
    trouble = spec_problems(load(), text) + problems(load())
    if trouble:
        print(*trouble, sep="\n", file=sys.stderr)
    return 1 if trouble else 0


if __name__ == "__main__":
    sys.exit(main())
