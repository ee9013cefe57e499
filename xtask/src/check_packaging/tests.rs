//! Each check against a copy of the real tree: the copy passes as it is, and a copy with
//! one file broken fails that check with a message naming the file and the fault.

use super::{check_all, Options, Report, Tree};
use crate::release;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            // fs::copy keeps the permission bits: the scripts stay executable.
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of packaging/, README.md, LICENSE and what packaging/README.md links to
/// (docs/, deploy/) in a temporary repository.
fn copy_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::root();
    for sub in ["packaging", "docs", "deploy"] {
        copy_dir(&repo.join(sub), &dir.path().join(sub));
    }
    for doc in release::DOCS {
        fs::copy(repo.join(doc), dir.path().join(doc)).unwrap();
    }
    dir
}

fn run(repo: &Path, options: &Options) -> Report {
    let mut report = Report::default();
    check_all(&Tree::new(repo.to_path_buf()), options, &mut report).unwrap();
    report
}

fn edit(repo: &Path, file: &str, change: impl FnOnce(String) -> String) {
    let path = repo.join("packaging").join(file);
    let text = fs::read_to_string(&path).unwrap();
    let changed = change(text.clone());
    assert_ne!(changed, text, "the edit of {file} changed nothing");
    fs::write(&path, changed).unwrap();
}

/// The copy, broken by `change`, fails with a message holding every one of `expected`.
fn fails_with(change: impl FnOnce(&Path), expected: &[&str]) {
    let dir = copy_tree();
    change(dir.path());
    let report = run(dir.path(), &Options::default());
    for want in expected {
        assert!(
            report.failures.iter().any(|f| f.contains(want)),
            "no failure says {want:?}; failures: {:#?}",
            report.failures
        );
    }
}

#[test]
fn the_committed_tree_passes() {
    let dir = copy_tree();
    let report = run(dir.path(), &Options::default());
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
}

#[test]
fn a_missing_file_or_man_page_fails() {
    fails_with(
        |repo| {
            fs::remove_file(repo.join("packaging/windows/winget/CodexGuard.CodexGuard.yaml"))
                .unwrap();
            fs::remove_file(repo.join("packaging/man/codex-guard-doctor.1")).unwrap();
        },
        &[
            "packaging/windows/winget/CodexGuard.CodexGuard.yaml is missing",
            "packaging/man/codex-guard-doctor.1 is missing (run `cargo xtask gen`)",
        ],
    );
}

#[test]
fn package_scripts_must_be_executable_posix_and_stop_on_errors() {
    fails_with(
        |repo| {
            let postinst = repo.join("packaging/deb/postinst");
            fs::set_permissions(&postinst, fs::Permissions::from_mode(0o644)).unwrap();
            edit(repo, "rpm/post.sh", |t| {
                t.replacen("#!/bin/sh", "#!/bin/bash", 1)
            });
            edit(repo, "deb/prerm", |t| t.replace("\nset -e", "\n"));
            edit(repo, "deb/postrm", |t| format!("{t}\nif then\n"));
        },
        &[
            "packaging/deb/postinst is not executable",
            "packaging/rpm/post.sh starts with \"#!/bin/bash\", want \"#!/bin/sh\"",
            "packaging/deb/prerm has no 'set -e' line",
            "sh -n packaging/deb/postrm",
        ],
    );
}

#[test]
fn a_system_path_outside_the_root_variable_fails() {
    fails_with(
        |repo| {
            edit(repo, "deb/postrm", |t| {
                format!("{t}rm -f /etc/codex-guard/extra # cleanup\n")
            });
        },
        &[
            "packaging/deb/postrm:",
            "/etc/codex-guard/extra is not below the root variable",
        ],
    );
}

#[test]
fn the_formula_keeps_its_tokens_urls_and_installs() {
    fails_with(
        |repo| {
            edit(repo, "homebrew/codex-guard.rb", |t| {
                t.replace("{{sha256_aarch64-apple-darwin}}", "{{sha256_arm}}")
                    .replace("    man1.install Dir[\"man/*.1\"]\n", "")
                    .replace("x86_64-unknown-linux-gnu.tar.gz", "x86_64-linux.tar.gz")
                    .replace(
                        "zsh_completion.install \"completions/_codex-guard\"",
                        "zsh_completion.install \"completions/_cg\"",
                    )
            });
        },
        &[
            "unknown token {{sha256_arm}}",
            "token {{sha256_aarch64-apple-darwin}} is never used",
            "sha256 for aarch64-apple-darwin is {{sha256_arm}}",
            "url for x86_64-unknown-linux-gnu is",
            "man/codex-guard.1 is not installed by man1.install",
            "zsh_completion.install \"completions/_cg\" is not in the archive",
        ],
    );
}

#[test]
fn the_formula_needs_its_blocks_closed_and_its_test() {
    fails_with(
        |repo| {
            edit(repo, "homebrew/codex-guard.rb", |t| {
                t.replace(
                    "shell_output(\"#{bin}/codex-guard-hook --version\")",
                    "\"\"",
                )
                .replacen("  end\n\n  def install", "\n  def install", 1)
            });
        },
        &[
            "unclosed blocks",
            "the test block does not run codex-guard-hook --version",
        ],
    );
}

#[test]
fn the_wix_source_keeps_its_upgrade_code_and_sources() {
    fails_with(
        |repo| {
            edit(repo, "windows/codex-guard.wxs", |t| {
                t.replace(
                    "70185E46-26F8-4AE3-8C58-02249D8E602B",
                    "00000000-0000-0000-0000-000000000000",
                )
                .replace(
                    "$(var.SourceDir)\\codex-guard-hook.exe",
                    "$(var.SourceDir)\\hook.exe",
                )
                .replace(
                    "Value=\"[INSTALLFOLDER]\"",
                    "Value=\"[ProgramFiles64Folder]\"",
                )
            });
        },
        &[
            "it must stay 70185E46-26F8-4AE3-8C58-02249D8E602B",
            "$(var.SourceDir)\\hook.exe -> hook is not in the committed tree",
            "codex-guard-hook.exe is not installed",
            "no Environment Name=PATH System=yes Part=last Value=[INSTALLFOLDER]",
        ],
    );
}

#[test]
fn broken_xml_fails_with_its_position() {
    fails_with(
        |repo| {
            edit(repo, "windows/codex-guard.wxs", |t| {
                t.replacen("</Wix>", "</Wx>", 1)
            });
        },
        &["wix: codex-guard.wxs parses as XML: packaging/windows/codex-guard.wxs:"],
    );
}

#[test]
fn winget_manifests_must_parse_and_name_the_release() {
    let installer = "windows/winget/CodexGuard.CodexGuard.installer.yaml";
    fails_with(
        |repo| {
            edit(repo, installer, |t| {
                t.replace("/download/v{{version}}/", "/download/{{version}}/")
                    .replace("PortableCommandAlias: codex-guard-hook", "PortableCommandAlias: hook")
                    .replace("InstallerSha256: \"{{sha256_windows_x64}}\"", "InstallerSha256: \"{{sha256_win}}\"")
            });
            edit(repo, "windows/winget/CodexGuard.CodexGuard.yaml", |t| t.replace("DefaultLocale: en-US", "DefaultLocale: en-GB"));
        },
        &[
            "InstallerUrl Some(\"https://github.com/codex-guard/codex-guard/releases/download/{{version}}/",
            "no PortableCommandAlias codex-guard-hook",
            "packaging/windows/winget/CodexGuard.CodexGuard.installer.yaml: unknown token {{sha256_win}}",
            "InstallerSha256 must be the {{sha256_windows_x64}} token",
            "DefaultLocale of the version manifest is not the locale manifest's PackageLocale",
        ],
    );
}

#[test]
fn invalid_yaml_and_duplicate_keys_fail_to_parse() {
    let locale = "windows/winget/CodexGuard.CodexGuard.locale.en-US.yaml";
    fails_with(
        |repo| {
            edit(repo, locale, |t| {
                t.replace("PackageName: codex-guard", "PackageName: [codex-guard")
            });
        },
        &["packaging/windows/winget/CodexGuard.CodexGuard.locale.en-US.yaml:"],
    );
    assert!(super::windows::parse_manifest("A: 1\nA: 2\n").is_err());
}

#[test]
fn the_macos_payload_must_hold_every_file() {
    fails_with(
        |repo| {
            edit(repo, "macos/build-pkg.sh", |t| {
                t.replace("fish/vendor_completions.d", "fish/completions")
            });
        },
        &["no usr/local/share/fish/vendor_completions.d/codex-guard.fish in the payload"],
    );
}

#[test]
fn a_broken_readme_link_fails() {
    fails_with(
        |repo| {
            edit(repo, "README.md", |t| {
                format!("{t}\nSee [the notes](notes/missing.md).\n")
            });
        },
        &["packaging/README.md links to notes/missing.md, which does not exist"],
    );
}

/// A release directory of the Linux archive `dist` would write from the tree, its
/// SHA256SUMS, and the formula and manifests filled from it.
fn release_dir(repo: &Path, out: &Path) {
    let tree = Tree::new(repo.to_path_buf());
    let mut report = Report::default();
    let man = repo.join("packaging/man");
    let completions = repo.join("packaging/completions");
    let layout = super::committed_layout(&tree, &man, &completions, &mut report).unwrap();
    let archive = super::macos::synthetic_archive(&tree, &layout, &man, &completions, out).unwrap();
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let digest = crate::dist::sha256_file(&archive).unwrap();
    fs::write(out.join("SHA256SUMS"), format!("{digest}  {name}\n")).unwrap();
}

#[test]
fn a_release_directory_is_checked_against_its_sums() {
    let dir = copy_tree();
    let out = tempfile::tempdir().unwrap();
    release_dir(dir.path(), out.path());
    let options = Options {
        release_dir: Some(out.path().to_path_buf()),
        allow_missing_targets: true,
        ..Options::default()
    };
    let report = run(dir.path(), &options);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report
        .skipped
        .iter()
        .any(|s| s.contains("missing (allowed)")));

    let strict = Options {
        release_dir: Some(out.path().to_path_buf()),
        ..Options::default()
    };
    let report = run(dir.path(), &strict);
    assert!(
        report.failures.iter().any(|f| f.contains(
            "codex-guard-0.0.0-x86_64-apple-darwin.tar.gz in SHA256SUMS: build that target"
        )),
        "{:#?}",
        report.failures
    );

    let sums = out.path().join("SHA256SUMS");
    let text = fs::read_to_string(&sums).unwrap();
    fs::write(&sums, format!("{}{}", "0".repeat(64), &text[64..])).unwrap();
    let report = run(dir.path(), &options);
    assert!(
        report.failures.iter().any(|f| f
            .contains("codex-guard-0.0.0-x86_64-unknown-linux-gnu.tar.gz: sha256")
            && f.contains("the file changed after SHA256SUMS was written")),
        "{:#?}",
        report.failures
    );
}
