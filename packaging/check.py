#!/usr/bin/env python3
"""Validates the OS packaging in packaging/ against the release archive layout.

    packaging/check.py [--release-dir DIR] [--man-dir DIR] [--completions-dir DIR]
                       [--allow-missing-targets]

Without --release-dir the archive layout is the one the release tool builds from the
committed tree: the two programs, README.md, LICENSE, packaging/man/*.1 and
packaging/completions/. With --release-dir (a release tool's output: the archives and
SHA256SUMS) every check runs against the real archives, and the macOS payload is laid
out from the real Linux archive.

Prints one line per check (ok / FAIL / skip) and exits 1 when any check failed, 2 on bad
usage. Python 3 standard library only; uses shellcheck, ruby and dpkg-deb when present.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

UNIX_TARGETS = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
]
WINDOWS_TARGET = "x86_64-pc-windows-msvc"
TARGETS = UNIX_TARGETS + [WINDOWS_TARGET]
RELEASE_BASE = "https://github.com/codex-guard/codex-guard/releases/download/v{version}/"
BINARIES = ["codex-guard", "codex-guard-hook"]
MAN_PAGES = [
    "codex-guard.1",
    "codex-guard-setup.1",
    "codex-guard-doctor.1",
    "codex-guard-uninstall.1",
    "codex-guard-backup.1",
    "codex-guard-restore.1",
    "codex-guard-events.1",
    "codex-guard-self-update.1",
]
COMPLETIONS = ["codex-guard.bash", "_codex-guard", "codex-guard.fish", "_codex-guard.ps1"]
DOCS = ["README.md", "LICENSE"]

# Tokens the release tool fills in.
HOMEBREW_TOKENS = {"version"} | {f"sha256_{t}" for t in UNIX_TARGETS}
WINGET_TOKENS = {"version", "sha256_windows_x64"}

# The MSI's UpgradeCode must never change: it is what lets a new version replace an old one.
WIX_NS = "http://wixtoolset.org/schemas/v4/wxs"
UPGRADE_CODE = "70185E46-26F8-4AE3-8C58-02249D8E602B"
WIX_VARIABLES = {"Version", "SourceDir"}

WINGET_ID = "CodexGuard.CodexGuard"
WINGET_DIR = HERE / "windows" / "winget"
WINGET_FILES = {
    "version": WINGET_DIR / f"{WINGET_ID}.yaml",
    "installer": WINGET_DIR / f"{WINGET_ID}.installer.yaml",
    "defaultLocale": WINGET_DIR / f"{WINGET_ID}.locale.en-US.yaml",
}

# Package scripts: path -> shell. "sh" ones must be POSIX sh.
SCRIPTS = {
    "deb/postinst": "sh",
    "deb/prerm": "sh",
    "deb/postrm": "sh",
    "rpm/post.sh": "sh",
    "rpm/preun.sh": "sh",
    "macos/scripts/postinstall": "sh",
    "macos/build-pkg.sh": "bash",
    "test-scripts.sh": "bash",
}
# Scripts that run against the installed system: every system path goes below a root variable.
ROOTED_SCRIPTS = [
    "deb/postinst",
    "deb/prerm",
    "deb/postrm",
    "rpm/post.sh",
    "rpm/preun.sh",
    "macos/scripts/postinstall",
]
FILES = [
    "README.md",
    "homebrew/codex-guard.rb",
    "windows/codex-guard.wxs",
    *(str(p.relative_to(HERE)) for p in WINGET_FILES.values()),
    *SCRIPTS,
]

# The macOS payload: archive path (relative to its top directory) -> payload path.
MACOS_PAYLOAD = {
    "codex-guard": "usr/local/bin/codex-guard",
    "codex-guard-hook": "usr/local/bin/codex-guard-hook",
    "completions/codex-guard.bash": "usr/local/share/bash-completion/completions/codex-guard",
    "completions/_codex-guard": "usr/local/share/zsh/site-functions/_codex-guard",
    "completions/codex-guard.fish": "usr/local/share/fish/vendor_completions.d/codex-guard.fish",
    "README.md": "usr/local/share/doc/codex-guard/README.md",
    "LICENSE": "usr/local/share/doc/codex-guard/LICENSE",
}
MACOS_MARKER = "usr/local/share/codex-guard/installed-by-package"
PACKAGE_MARKER = "share/codex-guard/installed-by-package"


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, name: str, detail: str = "") -> None:
        print(f"ok   {name}" + (f": {detail}" if detail else ""))

    def fail(self, name: str, detail: str) -> None:
        self.failures += 1
        print(f"FAIL {name}: {detail}")

    def skip(self, name: str, detail: str) -> None:
        print(f"skip {name}: {detail}")

    def check(self, name: str, problems: list[str], detail: str = "") -> None:
        if problems:
            self.fail(name, "; ".join(problems))
        else:
            self.ok(name, detail)


class Layout:
    """The files of a release archive, relative to its top directory."""

    def __init__(self, description: str, files: set[str], executables: set[str] | None = None):
        self.description = description
        self.files = files
        self.executables = executables

    def exists(self, path: str) -> bool:
        return path in self.files

    def glob(self, pattern: str) -> list[str]:
        return sorted(f for f in self.files if fnmatch.fnmatchcase(f, pattern))

    def man_pages(self) -> list[str]:
        return [Path(f).name for f in self.glob("man/*.1")]


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def fill(text: str, values: dict[str, str]) -> str:
    """`{{name}}` (spaces around the name allowed) replaced as the release tool does."""
    return re.sub(r"\{\{([^{}]*)\}\}", lambda m: values.get(m.group(1).strip(), m.group(0)), text)


def tokens(text: str) -> set[str]:
    return {t.strip() for t in re.findall(r"\{\{([^{}]*)\}\}", text)}


# ---------------------------------------------------------------------------
# release directory


class Release:
    def __init__(self, directory: Path, work: Path):
        self.dir = directory
        self.work = work
        self.version: str | None = None
        self.archives: dict[str, Path] = {}  # target -> file
        self.sums: dict[str, str] = {}  # file name -> sha256
        self.linux_layout: Layout | None = None  # x86_64 Linux preferred
        self.linux_archive: Path | None = None
        self.windows_layout: Layout | None = None


def archive_name(version: str, target: str) -> str:
    ext = "zip" if target == WINDOWS_TARGET else "tar.gz"
    return f"codex-guard-{version}-{target}.{ext}"


def safe_extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise ValueError(f"unsafe member {member.name}")
            if member.issym() or member.islnk():
                raise ValueError(f"link member {member.name}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(dest)


def layout_of_dir(top: Path, description: str) -> Layout:
    files, executables = set(), set()
    for path in top.rglob("*"):
        if path.is_file():
            name = path.relative_to(top).as_posix()
            files.add(name)
            if os.access(path, os.X_OK):
                executables.add(name)
    return Layout(description, files, executables)


def check_release(report: Report, release: Release, allow_missing: bool, man_expected: list[str]) -> None:
    pattern = re.compile(
        r"^codex-guard-(?P<version>.+)-(?P<target>" + "|".join(map(re.escape, TARGETS)) + r")\.(?P<ext>tar\.gz|zip)$"
    )
    versions = set()
    for path in sorted(release.dir.iterdir()):
        m = pattern.match(path.name)
        if m:
            versions.add(m.group("version"))
            release.archives[m.group("target")] = path
    problems = []
    if len(versions) != 1:
        problems.append(f"archives of {len(versions)} versions ({', '.join(sorted(versions)) or 'none'})")
    else:
        release.version = versions.pop()
        for target, path in release.archives.items():
            if path.name != archive_name(release.version, target):
                problems.append(f"{path.name} should be {archive_name(release.version, target)}")
    report.check("release archives", problems, f"version {release.version}: {', '.join(sorted(release.archives))}")

    sums_file = release.dir / "SHA256SUMS"
    problems = []
    if not sums_file.is_file():
        report.fail("SHA256SUMS", f"no SHA256SUMS in {release.dir}")
    else:
        for number, line in enumerate(sums_file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            m = re.match(r"^([0-9a-fA-F]{64}) [ *](.+)$", line)
            if not m:
                problems.append(f"line {number} is not sha256sum format")
                continue
            release.sums[m.group(2)] = m.group(1).lower()
        for name, digest in release.sums.items():
            path = release.dir / name
            if not path.is_file():
                if not allow_missing:
                    problems.append(f"{name} is listed but missing")
                continue
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != digest:
                problems.append(f"{name}: sha256 {actual} != listed {digest}")
        for path in release.archives.values():
            if path.name not in release.sums:
                problems.append(f"{path.name} is not listed")
        report.check("SHA256SUMS", problems, f"{len(release.sums)} entries verified")

    if release.version:
        missing = [t for t in TARGETS if archive_name(release.version, t) not in release.sums]
        if missing and allow_missing:
            report.skip("all five targets released", f"missing (allowed): {', '.join(missing)}")
        else:
            report.check("all five targets released", [f"no {archive_name(release.version, t)} in SHA256SUMS" for t in missing])

    # Every archive's layout.
    for target, path in sorted(release.archives.items()):
        stem = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.name[: -len(".zip")]
        problems = []
        exe = ".exe" if target == WINDOWS_TARGET else ""
        try:
            if target == WINDOWS_TARGET:
                with zipfile.ZipFile(path) as z:
                    names = {n for n in z.namelist() if not n.endswith("/")}
                tops = {n.split("/", 1)[0] for n in names}
                files = {n.split("/", 1)[1] for n in names if "/" in n}
                layout = Layout(path.name, files)
            else:
                dest = release.work / stem
                dest.mkdir()
                safe_extract_tar(path, dest)
                tops = {p.name for p in dest.iterdir()}
                layout = layout_of_dir(dest / stem, path.name)
        except (OSError, ValueError, tarfile.TarError, zipfile.BadZipFile) as e:
            report.fail(f"archive layout {path.name}", f"cannot read it: {e}")
            continue
        if tops != {stem}:
            problems.append(f"top directories {sorted(tops)}, want only {stem}/")
        for name in [b + exe for b in BINARIES] + DOCS + [f"completions/{c}" for c in COMPLETIONS]:
            if not layout.exists(name):
                problems.append(f"no {stem}/{name}")
        for name in [b + exe for b in BINARIES]:
            if layout.executables is not None and layout.exists(name) and name not in layout.executables:
                problems.append(f"{stem}/{name} is not executable")
        for page in man_expected:
            if not layout.exists(f"man/{page}"):
                problems.append(f"no {stem}/man/{page}")
        if not layout.glob("man/*.1"):
            problems.append(f"no man pages in {stem}/man/")
        report.check(f"archive layout {path.name}", problems, f"{len(layout.files)} files")
        if target == WINDOWS_TARGET:
            release.windows_layout = layout
        elif target.endswith("linux-gnu") and (release.linux_layout is None or target.startswith("x86_64")):
            release.linux_layout = layout
            release.linux_archive = path


# ---------------------------------------------------------------------------
# scripts


def check_files(report: Report) -> None:
    missing = [f for f in FILES if not (HERE / f).is_file()]
    report.check("packaging files exist", [f"packaging/{f} is missing" for f in missing], f"{len(FILES)} files")


def check_scripts(report: Report) -> None:
    problems = []
    for name, shell in SCRIPTS.items():
        path = HERE / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        if not os.access(path, os.X_OK):
            problems.append(f"{name} is not executable")
        text = path.read_text()
        first = text.splitlines()[0] if text else ""
        want = "#!/bin/sh" if shell == "sh" else "#!/usr/bin/env bash"
        if first != want:
            problems.append(f"{name} starts with {first!r}, want {want!r}")
        if not re.search(r"^set -e", text, re.M):
            problems.append(f"{name} has no 'set -e'")
        if name.startswith("deb/") and "#DEBHELPER#" in text:
            problems.append(f"{name} holds #DEBHELPER#")
        result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            problems.append(f"{shell} -n {name}: {result.stderr.strip()}")
    report.check("package scripts exist, are executable and parse", problems, f"{len(SCRIPTS)} scripts")

    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        report.skip("shellcheck", "shellcheck is not installed")
    else:
        problems = []
        for name, shell in SCRIPTS.items():
            if not (HERE / name).is_file():
                continue
            args = [shellcheck, "-x"] + (["-s", "sh"] if shell == "sh" else []) + [name]
            result = subprocess.run(args, capture_output=True, text=True, cwd=HERE)
            if result.returncode != 0:
                problems.append(f"{name}:\n{result.stdout.strip()}")
        report.check("shellcheck", problems, "POSIX sh for the package scripts")

    # dpkg, rpm and the macOS Installer run these against a root: no system path without it.
    problems = []
    for name in ROOTED_SCRIPTS:
        path = HERE / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.strip()
            if not code or code.startswith("#"):
                continue
            try:
                words = shlex.split(code, comments=True)
            except ValueError:
                words = code.split()
            for word in words:
                if " " in word:  # a message
                    continue
                if re.match(r"^(\w+=)?[<>]*/(etc|usr|var|opt|Library)(/|$)", word):
                    problems.append(f"{name}:{number}: {word} is not below the root variable")
    report.check("system paths are below ${DPKG_ROOT:-} / ${CODEX_GUARD_PKG_ROOT:-}", problems)


# ---------------------------------------------------------------------------
# committed man pages and completions


def committed_layout(report: Report, man_dir: Path, completions_dir: Path) -> Layout:
    problems = [f"{rel(man_dir / p)} is missing" for p in MAN_PAGES if not (man_dir / p).is_file()]
    report.check("committed man pages", problems, f"{len(MAN_PAGES)} pages in {rel(man_dir)}")
    problems = [f"{rel(completions_dir / c)} is missing" for c in COMPLETIONS if not (completions_dir / c).is_file()]
    report.check("committed completions", problems, f"{len(COMPLETIONS)} files in {rel(completions_dir)}")
    files = set(BINARIES) | set(DOCS)
    if man_dir.is_dir():
        files |= {f"man/{p.name}" for p in man_dir.iterdir() if p.is_file()}
    if completions_dir.is_dir():
        files |= {f"completions/{p.name}" for p in completions_dir.iterdir() if p.is_file()}
    if not (REPO / "LICENSE").is_file():
        report.skip("LICENSE", "no LICENSE at the repository root: the release tool must put one in every archive")
    return Layout("the committed tree (programs, README.md, LICENSE, packaging/man, packaging/completions)", files)


# ---------------------------------------------------------------------------
# Homebrew

FORMULA_BLOCKS = {
    ("on_macos", "on_arm"): "aarch64-apple-darwin",
    ("on_macos", "on_intel"): "x86_64-apple-darwin",
    ("on_linux", "on_arm"): "aarch64-unknown-linux-gnu",
    ("on_linux", "on_intel"): "x86_64-unknown-linux-gnu",
}


def parse_formula(text: str) -> tuple[list[tuple[tuple[str, ...], str, str]], list[str]]:
    """(stack, keyword, argument) for every line, and structural problems."""
    lines, problems, stack = [], [], []
    heredoc = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if heredoc:
            if line == heredoc:
                heredoc = None
            lines.append((tuple(stack), "heredoc", line))
            continue
        if not line or line.startswith("#"):
            continue
        m = re.search(r"<<[~-]?([A-Z_]+)\s*$", line)
        if m:
            heredoc = m.group(1)
        if line == "end":
            if not stack:
                problems.append(f"line {number}: 'end' without a block")
            else:
                stack.pop()
            continue
        block = re.match(r"^(class \w+ < \w+|def \w+|[\w.]+ do)(\s*\|[^|]*\|)?$", line)
        if block:
            word = block.group(1)
            stack.append(word[:-3] if word.endswith(" do") else word)
            continue
        keyword, _, argument = line.partition(" ")
        lines.append((tuple(stack), keyword, argument.strip()))
    if stack:
        problems.append(f"unclosed blocks: {', '.join(stack)}")
    if heredoc:
        problems.append(f"unterminated heredoc {heredoc}")
    return lines, problems


def ruby_strings(argument: str) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', argument)


def check_homebrew(report: Report, layout: Layout, release: Release | None) -> None:
    path = HERE / "homebrew" / "codex-guard.rb"
    if not path.is_file():
        report.fail("homebrew formula", f"{rel(path)} is missing")
        return
    text = path.read_text()
    used = tokens(text)
    problems = [f"unknown token {{{{{t}}}}}" for t in sorted(used - HOMEBREW_TOKENS)]
    problems += [f"token {{{{{t}}}}} is never used" for t in sorted(HOMEBREW_TOKENS - used)]
    report.check("homebrew: tokens are the release tool's", problems, ", ".join(sorted(used)))

    lines, problems = parse_formula(text)
    if not re.search(r"^class CodexGuard < Formula$", text, re.M):
        problems.append("no 'class CodexGuard < Formula'")
    seen: dict[str, tuple[str | None, str | None]] = {}
    for stack, keyword, argument in lines:
        if keyword not in ("url", "sha256"):
            continue
        key = tuple(s for s in stack if s.startswith("on_"))
        target = FORMULA_BLOCKS.get(key)
        if target is None:
            problems.append(f"{keyword} outside an on_macos/on_linux + on_arm/on_intel block")
            continue
        url, sha = seen.get(target, (None, None))
        value = (ruby_strings(argument) or [""])[0]
        if keyword == "url":
            want = RELEASE_BASE.format(version="{{version}}") + archive_name("{{version}}", target)
            if url is not None:
                problems.append(f"two urls for {target}")
            elif value != want:
                problems.append(f"url for {target} is {value}, want {want}")
            url = value
        else:
            if sha is not None:
                problems.append(f"two sha256 for {target}")
            elif value != f"{{{{sha256_{target}}}}}":
                problems.append(f"sha256 for {target} is {value}, want {{{{sha256_{target}}}}}")
            sha = value
        seen[target] = (url, sha)
    for target in UNIX_TARGETS:
        if seen.get(target, (None, None)).count(None):
            problems.append(f"no url and sha256 pair for {target}")
    report.check("homebrew: one url and sha256 per platform block", problems, f"{len(seen)} targets")

    # What `def install` installs must be in the archive.
    problems, installed = [], []
    for stack, keyword, argument in lines:
        if "def install" not in stack:
            continue
        m = re.match(r"^(\w+)\.install$", keyword)
        if not m:
            continue
        dest = m.group(1)
        globs = re.findall(r'Dir\["([^"]+)"\]', argument)
        for pattern in globs:
            matches = layout.glob(pattern)
            if not matches:
                problems.append(f'{dest}.install Dir["{pattern}"] matches nothing')
            installed += [(dest, x) for x in matches]
        plain = re.sub(r'Dir\["[^"]+"\]', "", argument)
        for source in re.findall(r'"([^"]+)"\s*(?:=>\s*"[^"]+")?', plain):
            if not layout.exists(source):
                problems.append(f'{dest}.install "{source}" is not in the archive')
            installed.append((dest, source))
    want = [("bin", b) for b in BINARIES] + [
        ("bash_completion", "completions/codex-guard.bash"),
        ("zsh_completion", "completions/_codex-guard"),
        ("fish_completion", "completions/codex-guard.fish"),
    ] + [("man1", f"man/{p}") for p in layout.man_pages()]
    for item in want:
        if item not in installed:
            problems.append(f"{item[1]} is not installed by {item[0]}.install")
    report.check(
        "homebrew: every installed file is in the archive",
        problems,
        f"{len(installed)} files against {layout.description}",
    )

    problems = []
    test_lines = " ".join(arg for stack, _, arg in lines if "test" in stack)
    for program in BINARIES:
        if not re.search(r"\{bin\}/" + re.escape(program) + r" --version", test_lines):
            problems.append(f"the test block does not run {program} --version")
    caveats = " ".join(arg for stack, _, arg in lines if "def caveats" in stack)
    if "codex-guard setup" not in caveats:
        problems.append("the caveats do not say to run codex-guard setup")
    report.check("homebrew: test block and caveats", problems)

    ruby = shutil.which("ruby")
    if not ruby:
        report.skip("homebrew: ruby -c", "ruby is not installed")
        return
    values = {"version": (release.version if release and release.version else "1.2.3")}
    for target in UNIX_TARGETS:
        name = archive_name(values["version"], target)
        values[f"sha256_{target}"] = (release.sums.get(name) if release else None) or "0" * 64
    with tempfile.NamedTemporaryFile("w", suffix=".rb", delete=False) as f:
        f.write(fill(text, values))
    try:
        result = subprocess.run([ruby, "-c", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    report.check("homebrew: ruby -c", [result.stderr.strip()] if result.returncode else [], "Syntax OK")


# ---------------------------------------------------------------------------
# WiX


def windows_sources(layout: Layout, windows: Layout | None) -> list[tuple[Layout, bool]]:
    """The layouts Windows file names are checked against, and whether a name keeps its
    .exe there: the Linux (or committed) layout with .exe taken off, and the Windows zip
    itself when the release has one."""
    return [(layout, False)] + ([(windows, True)] if windows is not None else [])


def describe(layouts: list[tuple[Layout, bool]]) -> str:
    return " and ".join(l.description + ("" if keep else " (.exe names minus .exe)") for l, keep in layouts)


def check_wix(report: Report, layout: Layout, windows: Layout | None) -> None:
    path = HERE / "windows" / "codex-guard.wxs"
    if not path.is_file():
        report.fail("wix: codex-guard.wxs", f"{rel(path)} is missing")
        return
    text = path.read_text()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        report.fail("wix: codex-guard.wxs parses as XML", str(e))
        return
    report.ok("wix: codex-guard.wxs parses as XML")
    ns = {"w": WIX_NS}
    report.check(
        "wix: WiX v4 namespace",
        [] if root.tag == f"{{{WIX_NS}}}Wix" else [f"root element is {root.tag}, want {{{WIX_NS}}}Wix"],
    )

    problems = []
    variables = set(re.findall(r"\$\(var\.(\w+)\)", text))
    problems += [f"unknown preprocessor variable $(var.{v})" for v in sorted(variables - WIX_VARIABLES)]
    problems += [f"$(var.{v}) is never used" for v in sorted(WIX_VARIABLES - variables)]
    package = root.find("w:Package", ns)
    if package is None:
        problems.append("no Package element")
    else:
        if package.get("Version") != "$(var.Version)":
            problems.append(f"Package Version is {package.get('Version')}, want $(var.Version)")
        if (package.get("UpgradeCode") or "").upper() != UPGRADE_CODE:
            problems.append(f"UpgradeCode is {package.get('UpgradeCode')}, it must stay {UPGRADE_CODE}")
        if package.get("Scope", "perMachine") != "perMachine":
            problems.append(f"Scope is {package.get('Scope')}, want perMachine")
        if package.find("w:MajorUpgrade", ns) is None:
            problems.append("no MajorUpgrade")
    report.check("wix: per-machine package, fixed UpgradeCode, MajorUpgrade, $(var.Version)", problems)

    problems = []
    install_dir = None
    for standard in root.iter(f"{{{WIX_NS}}}StandardDirectory"):
        if standard.get("Id") == "ProgramFiles64Folder":
            for directory in standard.findall("w:Directory", ns):
                if directory.get("Name") == "codex-guard":
                    install_dir = directory
    if install_dir is None:
        problems.append("no Directory Name=codex-guard in StandardDirectory ProgramFiles64Folder")
    else:
        env = [
            e
            for e in install_dir.iter(f"{{{WIX_NS}}}Environment")
            if e.get("Name", "").upper() == "PATH"
        ]
        want = f"[{install_dir.get('Id')}]"
        good = [
            e
            for e in env
            if e.get("System") == "yes" and e.get("Value") == want and e.get("Action", "set") == "set"
            and e.get("Part") in ("last", "first")
        ]
        if not good:
            problems.append(f"no Environment Name=PATH System=yes Part=last Value={want}")
    report.check("wix: installs to [ProgramFiles64Folder]codex-guard\\ and adds it to the system PATH", problems)

    # Components and features.
    problems = []
    components = {c.get("Id") for c in root.iter(f"{{{WIX_NS}}}Component")}
    refs = {r.get("Id") for r in root.iter(f"{{{WIX_NS}}}ComponentRef")}
    problems += [f"component {c} is in no Feature" for c in sorted(components - refs)]
    problems += [f"ComponentRef {r} names no Component" for r in sorted(refs - components)]
    file_ids = [f.get("Id") for f in root.iter(f"{{{WIX_NS}}}File")]
    problems += [f"File Id {i} is used twice" for i in sorted({i for i in file_ids if file_ids.count(i) > 1})]
    report.check("wix: every component is in a feature", problems, f"{len(components)} components")

    # Every Source resolves in the release.
    layouts = windows_sources(layout, windows)
    problems, names = [], []
    for file in root.iter(f"{{{WIX_NS}}}File"):
        source = file.get("Source") or ""
        prefix = "$(var.SourceDir)\\"
        if not source.startswith(prefix):
            problems.append(f"Source {source} is not below $(var.SourceDir)\\")
            continue
        name = source[len(prefix):].replace("\\", "/")
        names.append(name)
        for against, keep_exe in layouts:
            look = name if keep_exe or not name.endswith(".exe") else name[: -len(".exe")]
            if not against.exists(look):
                problems.append(f"{source} -> {look} is not in {against.description}")
    for program in BINARIES:
        if f"{program}.exe" not in names:
            problems.append(f"{program}.exe is not installed")
    report.check("wix: every Source resolves in the release", problems, f"{len(names)} sources against {describe(layouts)}")


# ---------------------------------------------------------------------------
# winget


class YamlError(ValueError):
    pass


def parse_scalar(value: str, number: int) -> str:
    value = value.strip()
    if value.startswith('"'):
        if not value.endswith('"') or len(value) < 2:
            raise YamlError(f"line {number}: unterminated double-quoted string")
        body = value[1:-1]
        if re.search(r'(?<!\\)"', body):
            raise YamlError(f"line {number}: stray quote in string")
        return re.sub(r'\\(["\\/])', r"\1", body)
    if value.startswith("'"):
        if not value.endswith("'") or len(value) < 2:
            raise YamlError(f"line {number}: unterminated single-quoted string")
        body = value[1:-1]
        if re.search(r"(?<!')'(?!')", body):
            raise YamlError(f"line {number}: stray quote in string")
        return body.replace("''", "'")
    if value[:1] in "{[&*!|>%@`":
        raise YamlError(f"line {number}: {value!r} is not a plain scalar (quote it)")
    if re.search(r":\s|\s#", value):
        raise YamlError(f"line {number}: {value!r} needs quotes")
    return value


def parse_yaml(text: str) -> dict:
    """The subset of YAML the winget manifests use: a mapping of scalars, of lists of
    scalars and of lists of flat mappings, with comments and blank lines."""
    result: dict = {}
    current_list = None  # the list being filled
    current_item = None  # the mapping item being filled
    item_indent = None
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw:
            raise YamlError(f"line {number}: tab")
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            m = re.match(r"^([A-Za-z][\w.-]*):(?:\s+(.*))?$", line)
            if not m:
                raise YamlError(f"line {number}: expected 'Key: value'")
            key, value = m.group(1), m.group(2)
            if key in result:
                raise YamlError(f"line {number}: duplicate key {key}")
            if value is None or value == "":
                result[key] = current_list = []
                current_item = None
            else:
                result[key] = parse_scalar(value, number)
                current_list = current_item = None
            continue
        if current_list is None:
            raise YamlError(f"line {number}: unexpected indentation")
        if line.startswith("- ") or line == "-":
            body = line[1:].strip()
            m = re.match(r"^([A-Za-z][\w.-]*):\s+(.*)$", body)
            if m:
                current_item = {m.group(1): parse_scalar(m.group(2), number)}
                item_indent = indent + 2
                current_list.append(current_item)
            else:
                current_item = None
                current_list.append(parse_scalar(body, number))
            continue
        if current_item is None or indent != item_indent:
            raise YamlError(f"line {number}: unexpected indentation")
        m = re.match(r"^([A-Za-z][\w.-]*):\s+(.*)$", line)
        if not m:
            raise YamlError(f"line {number}: expected 'Key: value'")
        if m.group(1) in current_item:
            raise YamlError(f"line {number}: duplicate key {m.group(1)}")
        current_item[m.group(1)] = parse_scalar(m.group(2), number)
    return result


WINGET_REQUIRED = {
    "version": ["PackageIdentifier", "PackageVersion", "DefaultLocale", "ManifestType", "ManifestVersion"],
    "installer": ["PackageIdentifier", "PackageVersion", "InstallerType", "NestedInstallerType",
                  "NestedInstallerFiles", "Installers", "ManifestType", "ManifestVersion"],
    "defaultLocale": ["PackageIdentifier", "PackageVersion", "PackageLocale", "Publisher", "PackageName",
                      "License", "ShortDescription", "ManifestType", "ManifestVersion"],
}


def check_winget(report: Report, layout: Layout, windows: Layout | None, release: Release | None) -> None:
    manifests, problems = {}, []
    for kind, path in WINGET_FILES.items():
        if not path.is_file():
            problems.append(f"{rel(path)} is missing")
            continue
        text = path.read_text()
        unknown = tokens(text) - WINGET_TOKENS
        problems += [f"{path.name}: unknown token {{{{{t}}}}}" for t in sorted(unknown)]
        try:
            manifests[kind] = parse_yaml(text)
        except YamlError as e:
            problems.append(f"{path.name}: {e}")
            continue
        for key in WINGET_REQUIRED[kind]:
            if key not in manifests[kind]:
                problems.append(f"{path.name}: no {key}")
        if manifests[kind].get("ManifestType") != kind:
            problems.append(f"{path.name}: ManifestType {manifests[kind].get('ManifestType')}, want {kind}")
    report.check("winget: manifests parse, with their required keys and known tokens", problems, f"{len(manifests)} files")
    if len(manifests) != len(WINGET_FILES):
        return

    problems = []
    for key, want in (("PackageIdentifier", WINGET_ID), ("PackageVersion", "{{version}}"), ("ManifestVersion", "1.6.0")):
        for kind, m in manifests.items():
            if m.get(key) != want:
                problems.append(f"{WINGET_FILES[kind].name}: {key} is {m.get(key)}, want {want}")
    if manifests["version"].get("DefaultLocale") != manifests["defaultLocale"].get("PackageLocale"):
        problems.append("DefaultLocale of the version manifest is not the locale manifest's PackageLocale")
    locale = manifests["defaultLocale"].get("PackageLocale")
    if WINGET_FILES["defaultLocale"].name != f"{WINGET_ID}.locale.{locale}.yaml":
        problems.append(f"the locale manifest should be named {WINGET_ID}.locale.{locale}.yaml")
    report.check("winget: PackageIdentifier, PackageVersion and ManifestVersion agree", problems, WINGET_ID)

    installer = manifests["installer"]
    problems = []
    version = release.version if release and release.version else "1.2.3"
    stem = f"codex-guard-{{{{version}}}}-{WINDOWS_TARGET}"
    zip_url = RELEASE_BASE.format(version="{{version}}") + archive_name("{{version}}", WINDOWS_TARGET)
    if installer.get("InstallerType") != "zip" or installer.get("NestedInstallerType") != "portable":
        problems.append("InstallerType must be zip with NestedInstallerType portable")
    entries = installer.get("Installers")
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        problems.append("Installers must hold one x64 installer")
    else:
        entry = entries[0]
        if entry.get("Architecture") != "x64":
            problems.append(f"Architecture {entry.get('Architecture')}, want x64")
        if entry.get("InstallerUrl") != zip_url:
            problems.append(f"InstallerUrl {entry.get('InstallerUrl')}, want {zip_url}")
        if entry.get("InstallerSha256") != "{{sha256_windows_x64}}":
            problems.append("InstallerSha256 must be the {{sha256_windows_x64}} token")
        sums = release.sums if release else {}
        name = archive_name(version, WINDOWS_TARGET)
        filled = fill(entry.get("InstallerSha256", ""), {"sha256_windows_x64": sums.get(name, "0" * 64)})
        if not re.fullmatch(r"[0-9a-fA-F]{64}", filled):
            problems.append("InstallerSha256 is not a sha256 once filled")
    layouts = windows_sources(layout, windows)
    nested = installer.get("NestedInstallerFiles")
    aliases = set()
    if not isinstance(nested, list):
        problems.append("NestedInstallerFiles must be a list")
        nested = []
    for item in nested:
        if not isinstance(item, dict):
            problems.append("NestedInstallerFiles items must be mappings")
            continue
        path = item.get("RelativeFilePath", "")
        top, _, name = path.partition("\\")
        if top != stem:
            problems.append(f"{path} is not below the zip's top directory {stem}\\")
        for against, keep_exe in layouts:
            look = name if keep_exe or not name.endswith(".exe") else name[: -len(".exe")]
            if not against.exists(look):
                problems.append(f"{path} -> {look} is not in {against.description}")
        aliases.add(item.get("PortableCommandAlias"))
    for program in BINARIES:
        if not any(isinstance(i, dict) and i.get("RelativeFilePath", "").endswith(f"\\{program}.exe") for i in nested):
            problems.append(f"NestedInstallerFiles lacks {program}.exe")
        if program not in aliases:
            problems.append(f"no PortableCommandAlias {program}")
    report.check(
        "winget: zip/portable installer of both programs, URL and sha256 token",
        problems,
        f"against {describe(layouts)}",
    )


# ---------------------------------------------------------------------------
# macOS payload


def make_archive(report: Report, layout: Layout, man_dir: Path, completions_dir: Path, work: Path) -> Path | None:
    """A stand-in release archive from the committed tree (programs and docs are stubs)."""
    version = "0.0.0"
    stem = f"codex-guard-{version}-x86_64-unknown-linux-gnu"
    top = work / "synthetic" / stem
    (top / "man").mkdir(parents=True)
    (top / "completions").mkdir()
    for program in BINARIES:
        (top / program).write_text(f"#!/bin/sh\necho {program} {version}\n")
        (top / program).chmod(0o755)
    for doc in DOCS:
        source = REPO / doc
        (top / doc).write_bytes(source.read_bytes() if source.is_file() else b"stub\n")
    for name in layout.files:
        if name.startswith("man/"):
            shutil.copy(man_dir / name[4:], top / name)
        elif name.startswith("completions/"):
            shutil.copy(completions_dir / name[12:], top / name)
    archive = work / f"{stem}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=stem)
    return archive


def check_macos(report: Report, layout: Layout, archive: Path | None, work: Path) -> None:
    name = "macos: build-pkg.sh --layout-only payload"
    if archive is None:
        report.fail(name, "no archive to lay out")
        return
    version = re.match(r"^codex-guard-(.+)-(" + "|".join(map(re.escape, UNIX_TARGETS)) + r")\.tar\.gz$", archive.name)
    if not version:
        report.fail(name, f"{archive.name} is not a release archive name")
        return
    out = work / "pkg-out"
    result = subprocess.run(
        ["bash", str(HERE / "macos" / "build-pkg.sh"), "--archive", str(archive), "--version",
         version.group(1), "--out", str(out), "--layout-only"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        report.fail(name, f"exit {result.returncode}: {(result.stderr or result.stdout).strip()}")
        return
    root = out / "pkgroot"
    got = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    want = set(MACOS_PAYLOAD.values()) | {MACOS_MARKER}
    want |= {f"usr/local/share/man/man1/{page}" for page in layout.man_pages()}
    problems = [f"no {p}" for p in sorted(want - got)] + [f"unexpected {p}" for p in sorted(got - want)]
    for program in BINARIES:
        path = root / "usr/local/bin" / program
        if path.is_file() and not os.access(path, os.X_OK):
            problems.append(f"usr/local/bin/{program} is not executable")
    if not any(p.startswith("usr/local/share/man/man1/") for p in got):
        problems.append("no man pages")
    report.check(name, problems, f"{len(got)} files from {archive.name}")


# ---------------------------------------------------------------------------
# packages the release tool built (when present in --release-dir)


def check_deb(report: Report, release: Release) -> None:
    debs = sorted(release.dir.glob("*.deb"))
    if not debs:
        report.skip("deb package", "no .deb in the release directory")
        return
    dpkg_deb = shutil.which("dpkg-deb")
    if not dpkg_deb:
        report.skip("deb package", "dpkg-deb is not installed")
        return
    for deb in debs:
        problems = []
        control = release.work / f"control-{deb.stem}"
        result = subprocess.run([dpkg_deb, "-e", str(deb), str(control)], capture_output=True, text=True)
        if result.returncode != 0:
            report.fail(f"deb package {deb.name}", result.stderr.strip())
            continue
        for script in ("postinst", "prerm", "postrm"):
            packaged = control / script
            if not packaged.is_file():
                problems.append(f"no {script}")
            elif packaged.read_bytes() != (HERE / "deb" / script).read_bytes():
                problems.append(f"{script} differs from packaging/deb/{script}")
        listing = subprocess.run([dpkg_deb, "-c", str(deb)], capture_output=True, text=True).stdout
        paths = {line.split()[-1].lstrip(".") for line in listing.splitlines() if line.split()}
        for path in ["/usr/bin/codex-guard", "/usr/bin/codex-guard-hook", f"/usr/{PACKAGE_MARKER}"]:
            if path not in paths:
                problems.append(f"no {path}")
        report.check(f"deb package {deb.name}", problems, "maintainer scripts and files")


def check_rpm(report: Report, release: Release) -> None:
    rpms = sorted(release.dir.glob("*.rpm"))
    if not rpms:
        report.skip("rpm package", "no .rpm in the release directory")
        return
    rpm = shutil.which("rpm")
    if not rpm:
        report.skip("rpm package", "rpm is not installed")
        return
    for package in rpms:
        problems = []
        scripts = subprocess.run([rpm, "-qp", "--scripts", str(package)], capture_output=True, text=True).stdout
        for ours in ("post.sh", "preun.sh"):
            body = (HERE / "rpm" / ours).read_text().strip()
            # The scriptlet text follows rpm's header line; compare without the shebang.
            if body.split("\n", 1)[1].strip() not in scripts:
                problems.append(f"packaging/rpm/{ours} is not a scriptlet of the package")
        files = set(subprocess.run([rpm, "-qlp", str(package)], capture_output=True, text=True).stdout.split())
        for path in ["/usr/bin/codex-guard", "/usr/bin/codex-guard-hook", f"/usr/{PACKAGE_MARKER}"]:
            if path not in files:
                problems.append(f"no {path}")
        report.check(f"rpm package {package.name}", problems, "scriptlets and files")


def check_filled(report: Report, release: Release, allow_missing: bool) -> None:
    """The formula and manifests the release tool filled in (release_dir/homebrew, /winget)."""
    pairs = [(HERE / "homebrew" / "codex-guard.rb", release.dir / "homebrew" / "codex-guard.rb")]
    pairs += [(path, release.dir / "winget" / path.name) for path in WINGET_FILES.values()]
    if not any(out.exists() for _, out in pairs):
        report.skip("filled formula and manifests", "the release directory has no homebrew/ or winget/")
        return
    if not release.version:
        report.fail("filled formula and manifests", "no release version to check them against")
        return
    values = {"version": release.version}
    for target in TARGETS:
        digest = release.sums.get(archive_name(release.version, target))
        if digest:
            values[f"sha256_{target}"] = digest
            if target == WINDOWS_TARGET:
                values["sha256_windows_x64"] = digest
    problems = []
    for template, out in pairs:
        if not out.is_file():
            problems.append(f"no {out.relative_to(release.dir)}")
            continue
        text = out.read_text()
        if text != fill(template.read_text(), values):
            problems.append(f"{out.relative_to(release.dir)} is not {rel(template)} filled from SHA256SUMS")
        left = tokens(text)
        if left and not allow_missing:
            problems.append(f"{out.relative_to(release.dir)} leaves {', '.join(sorted(left))} unfilled")
        if out.suffix == ".yaml":
            try:
                parse_yaml(text)
            except YamlError as e:
                problems.append(f"{out.relative_to(release.dir)}: {e}")
    report.check("filled formula and manifests match the templates and SHA256SUMS", problems, f"version {release.version}")
    ruby = shutil.which("ruby")
    formula = release.dir / "homebrew" / "codex-guard.rb"
    if ruby and formula.is_file():
        result = subprocess.run([ruby, "-c", str(formula)], capture_output=True, text=True)
        report.check("filled formula: ruby -c", [result.stderr.strip()] if result.returncode else [])


# ---------------------------------------------------------------------------


def check_readme(report: Report) -> None:
    path = HERE / "README.md"
    if not path.is_file():
        report.fail("README links", "packaging/README.md is missing")
        return
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (HERE / target.split("#", 1)[0]).exists():
            problems.append(f"{target} does not exist")
    report.check("packaging/README.md links resolve", problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release-dir", type=Path, help="a release tool's output: archives and SHA256SUMS")
    parser.add_argument("--man-dir", type=Path, default=HERE / "man", help="default: packaging/man")
    parser.add_argument("--completions-dir", type=Path, default=HERE / "completions",
                        help="default: packaging/completions")
    parser.add_argument("--allow-missing-targets", action="store_true",
                        help="with --release-dir: a release that lacks some targets is not a failure")
    args = parser.parse_args()
    if args.release_dir and not args.release_dir.is_dir():
        parser.error(f"--release-dir {args.release_dir} is not a directory")

    report = Report()
    with tempfile.TemporaryDirectory(prefix="codex-guard-check.") as tmp:
        work = Path(tmp)
        check_files(report)
        check_scripts(report)
        committed = committed_layout(report, args.man_dir.resolve(), args.completions_dir.resolve())

        release = None
        layout, windows, archive = committed, None, None
        if args.release_dir:
            release = Release(args.release_dir.resolve(), work)
            check_release(report, release, args.allow_missing_targets, MAN_PAGES)
            if release.linux_layout is not None:
                layout, archive = release.linux_layout, release.linux_archive
            else:
                report.fail("release: Linux archive", "no Linux archive to check the layout against")
            windows = release.windows_layout
        else:
            archive = make_archive(report, committed, args.man_dir.resolve(), args.completions_dir.resolve(), work)

        check_homebrew(report, layout, release)
        check_wix(report, layout, windows)
        check_winget(report, layout, windows, release)
        check_macos(report, layout, archive, work)
        if release:
            check_filled(report, release, args.allow_missing_targets)
            check_deb(report, release)
            check_rpm(report, release)
        check_readme(report)

    if report.failures:
        print(f"\n{report.failures} check(s) failed")
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
