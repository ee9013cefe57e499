//! The Windows packaging: the `WiX` source of the MSI (read with roxmltree) and the winget
//! manifests (read with yaml-rust2), each checked against the release archives.

use super::release_dir::Release;
use super::{scripts, Layout, Report, Tree};
use crate::release::{self, PROGRAMS, WINDOWS_TARGET, WINGET_ID};
use roxmltree::{Document, Node};
use std::collections::{BTreeMap, BTreeSet};
use yaml_rust2::{Yaml, YamlLoader};

const WIX_NS: &str = "http://wixtoolset.org/schemas/v4/wxs";
/// The MSI's `UpgradeCode` must never change: it is what lets a new version replace an old one.
const UPGRADE_CODE: &str = "70185E46-26F8-4AE3-8C58-02249D8E602B";
const WIX_VARIABLES: [&str; 2] = ["Version", "SourceDir"];
const SOURCE_PREFIX: &str = "$(var.SourceDir)\\";
const MANIFEST_VERSION: &str = "1.6.0";

/// The layouts Windows file names are checked against, and whether a name keeps its
/// `.exe` there: the Linux (or committed) layout with `.exe` taken off, and the Windows
/// zip itself when the release has one.
fn sources<'a>(layout: &'a Layout, windows: Option<&'a Layout>) -> Vec<(&'a Layout, bool)> {
    std::iter::once((layout, false))
        .chain(windows.map(|w| (w, true)))
        .collect()
}

fn describe(layouts: &[(&Layout, bool)]) -> String {
    layouts
        .iter()
        .map(|(l, keep)| {
            format!(
                "{}{}",
                l.description,
                if *keep {
                    ""
                } else {
                    " (.exe names minus .exe)"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `name` (relative to an archive's top directory) is missing from one of `layouts`.
fn missing_from(name: &str, shown: &str, layouts: &[(&Layout, bool)]) -> Vec<String> {
    layouts
        .iter()
        .filter_map(|(against, keep_exe)| {
            let look = if *keep_exe {
                name
            } else {
                name.strip_suffix(".exe").unwrap_or(name)
            };
            (!against.exists(look))
                .then(|| format!("{shown} -> {look} is not in {}", against.description))
        })
        .collect()
}

fn wix<'a, 'input>(
    root: Node<'a, 'input>,
    tag: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    root.descendants()
        .filter(move |n| n.has_tag_name((WIX_NS, tag)))
}

pub fn check_wix(tree: &Tree, layout: &Layout, windows: Option<&Layout>, report: &mut Report) {
    let Ok(text) = tree.read(scripts::WIX_SOURCE) else {
        report.fail(
            "wix: codex-guard.wxs",
            &format!("packaging/{} is missing", scripts::WIX_SOURCE),
        );
        return;
    };
    let document = match Document::parse(&text) {
        Ok(document) => document,
        Err(e) => {
            report.fail(
                "wix: codex-guard.wxs parses as XML",
                &format!("packaging/{}: {e}", scripts::WIX_SOURCE),
            );
            return;
        }
    };
    report.ok("wix: codex-guard.wxs parses as XML", "");
    let root = document.root_element();
    let problems = if root.has_tag_name((WIX_NS, "Wix")) {
        Vec::new()
    } else {
        vec![format!(
            "root element is {:?}, want Wix in the namespace {WIX_NS}",
            root.tag_name()
        )]
    };
    report.check("wix: WiX v4 namespace", &problems, "");
    check_wix_package(&text, root, report);
    check_wix_directory(root, report);
    check_wix_components(root, report);
    check_wix_sources(root, &sources(layout, windows), report);
}

fn check_wix_package(text: &str, root: Node, report: &mut Report) {
    let variable = regex_lite::Regex::new(r"\$\(var\.(\w+)\)").expect("a valid pattern");
    let used: BTreeSet<&str> = variable
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect();
    let known: BTreeSet<&str> = WIX_VARIABLES.into_iter().collect();
    let mut problems: Vec<String> = used.difference(&known).map(|v| format!("unknown preprocessor variable $(var.{v}): `wix build` is given only -d Version and -d SourceDir")).collect();
    problems.extend(
        known
            .difference(&used)
            .map(|v| format!("$(var.{v}) is never used")),
    );
    match root
        .children()
        .find(|n| n.has_tag_name((WIX_NS, "Package")))
    {
        None => problems.push("no Package element".into()),
        Some(package) => {
            let attr = |name| package.attribute(name);
            if attr("Version") != Some("$(var.Version)") {
                problems.push(format!(
                    "Package Version is {:?}, want $(var.Version)",
                    attr("Version")
                ));
            }
            if !attr("UpgradeCode").is_some_and(|c| c.eq_ignore_ascii_case(UPGRADE_CODE)) {
                problems.push(format!(
                    "UpgradeCode is {:?}, it must stay {UPGRADE_CODE}",
                    attr("UpgradeCode")
                ));
            }
            if attr("Scope").unwrap_or("perMachine") != "perMachine" {
                problems.push(format!("Scope is {:?}, want perMachine", attr("Scope")));
            }
            if !package
                .children()
                .any(|n| n.has_tag_name((WIX_NS, "MajorUpgrade")))
            {
                problems.push("no MajorUpgrade".into());
            }
        }
    }
    report.check(
        "wix: per-machine package, fixed UpgradeCode, MajorUpgrade, $(var.Version)",
        &problems,
        "",
    );
}

fn check_wix_directory(root: Node, report: &mut Report) {
    let install_dir = wix(root, "StandardDirectory")
        .filter(|s| s.attribute("Id") == Some("ProgramFiles64Folder"))
        .flat_map(|s| {
            s.children()
                .filter(|n| n.has_tag_name((WIX_NS, "Directory")))
        })
        .filter(|d| d.attribute("Name") == Some("codex-guard"))
        .last();
    let mut problems = Vec::new();
    match install_dir {
        None => problems.push(
            "no Directory Name=codex-guard in StandardDirectory ProgramFiles64Folder".to_string(),
        ),
        Some(dir) => {
            let want = format!("[{}]", dir.attribute("Id").unwrap_or_default());
            let good = wix(dir, "Environment").any(|e| {
                e.attribute("Name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("PATH"))
                    && e.attribute("System") == Some("yes")
                    && e.attribute("Value") == Some(want.as_str())
                    && e.attribute("Action").unwrap_or("set") == "set"
                    && matches!(e.attribute("Part"), Some("last" | "first"))
            });
            if !good {
                problems.push(format!("no Environment Name=PATH System=yes Part=last Value={want} in the codex-guard Directory"));
            }
        }
    }
    report.check(
        "wix: installs to [ProgramFiles64Folder]codex-guard\\ and adds it to the system PATH",
        &problems,
        "",
    );
}

fn check_wix_components(root: Node, report: &mut Report) {
    let ids = |tag| {
        wix(root, tag)
            .filter_map(|n| n.attribute("Id"))
            .collect::<BTreeSet<_>>()
    };
    let (components, refs) = (ids("Component"), ids("ComponentRef"));
    let mut problems: Vec<String> = components
        .difference(&refs)
        .map(|c| format!("component {c} is in no Feature: add a ComponentRef"))
        .collect();
    problems.extend(
        refs.difference(&components)
            .map(|r| format!("ComponentRef {r} names no Component")),
    );
    let mut seen = BTreeSet::new();
    for id in wix(root, "File").filter_map(|f| f.attribute("Id")) {
        if !seen.insert(id) {
            problems.push(format!("File Id {id} is used twice"));
        }
    }
    report.check(
        "wix: every component is in a feature",
        &problems,
        &format!("{} components", components.len()),
    );
}

fn check_wix_sources(root: Node, layouts: &[(&Layout, bool)], report: &mut Report) {
    let (mut problems, mut names) = (Vec::new(), Vec::new());
    for file in wix(root, "File") {
        let source = file.attribute("Source").unwrap_or_default();
        let Some(name) = source.strip_prefix(SOURCE_PREFIX) else {
            problems.push(format!("Source {source} is not below {SOURCE_PREFIX}"));
            continue;
        };
        let name = name.replace('\\', "/");
        problems.extend(missing_from(&name, source, layouts));
        names.push(name);
    }
    for program in PROGRAMS {
        if !names.contains(&format!("{program}.exe")) {
            problems.push(format!("{program}.exe is not installed: add a File for it"));
        }
    }
    let detail = format!("{} sources against {}", names.len(), describe(layouts));
    report.check(
        "wix: every Source resolves in the release",
        &problems,
        &detail,
    );
}

fn required_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "version" => &[
            "PackageIdentifier",
            "PackageVersion",
            "DefaultLocale",
            "ManifestType",
            "ManifestVersion",
        ],
        "installer" => &[
            "PackageIdentifier",
            "PackageVersion",
            "InstallerType",
            "NestedInstallerType",
            "NestedInstallerFiles",
            "Installers",
            "ManifestType",
            "ManifestVersion",
        ],
        _ => &[
            "PackageIdentifier",
            "PackageVersion",
            "PackageLocale",
            "Publisher",
            "PackageName",
            "License",
            "ShortDescription",
            "ManifestType",
            "ManifestVersion",
        ],
    }
}

/// One YAML document, a mapping: the winget manifest format.
pub fn parse_manifest(text: &str) -> Result<Yaml, String> {
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.len() {
        1 if docs[0].as_hash().is_some() => Ok(docs.remove(0)),
        n => Err(format!(
            "want one YAML mapping, found {n} document(s) of another shape"
        )),
    }
}

fn str_of<'a>(yaml: &'a Yaml, key: &str) -> Option<&'a str> {
    yaml[key].as_str()
}

pub fn check_winget(
    tree: &Tree,
    layout: &Layout,
    windows: Option<&Layout>,
    release: Option<&Release>,
    report: &mut Report,
) {
    let mut manifests = BTreeMap::new();
    let mut problems = Vec::new();
    let files = scripts::winget_files();
    for (kind, file) in &files {
        let Ok(text) = tree.read(file) else {
            problems.push(format!("packaging/{file} is missing"));
            continue;
        };
        let known = release::winget_tokens();
        problems.extend(
            release::tokens(&text)
                .difference(&known)
                .map(|t| format!("packaging/{file}: unknown token {}", release::token(t))),
        );
        let manifest = match parse_manifest(&text) {
            Ok(manifest) => manifest,
            Err(e) => {
                problems.push(format!("packaging/{file}: {e}"));
                continue;
            }
        };
        for key in required_keys(kind)
            .iter()
            .filter(|k| manifest[**k].is_badvalue())
        {
            problems.push(format!("packaging/{file}: no {key}"));
        }
        if str_of(&manifest, "ManifestType") != Some(kind) {
            problems.push(format!(
                "packaging/{file}: ManifestType {:?}, want {kind}",
                str_of(&manifest, "ManifestType")
            ));
        }
        manifests.insert(*kind, manifest);
    }
    report.check(
        "winget: manifests parse, with their required keys and known tokens",
        &problems,
        &format!("{} files", manifests.len()),
    );
    if manifests.len() != files.len() {
        return;
    }
    check_winget_identity(&files, &manifests, report);
    check_winget_installer(
        &manifests["installer"],
        &sources(layout, windows),
        release,
        report,
    );
}

fn check_winget_identity(
    files: &[(&str, String)],
    manifests: &BTreeMap<&str, Yaml>,
    report: &mut Report,
) {
    let mut problems = Vec::new();
    let version = release::token(release::VERSION_TOKEN);
    for (key, want) in [
        ("PackageIdentifier", WINGET_ID),
        ("PackageVersion", version.as_str()),
        ("ManifestVersion", MANIFEST_VERSION),
    ] {
        for (kind, file) in files {
            let got = str_of(&manifests[kind], key);
            if got != Some(want) {
                problems.push(format!("packaging/{file}: {key} is {got:?}, want {want}"));
            }
        }
    }
    let locale = str_of(&manifests["defaultLocale"], "PackageLocale").unwrap_or_default();
    if str_of(&manifests["version"], "DefaultLocale") != Some(locale) {
        problems.push(
            "DefaultLocale of the version manifest is not the locale manifest's PackageLocale"
                .into(),
        );
    }
    let locale_file = &files
        .iter()
        .find(|(k, _)| *k == "defaultLocale")
        .expect("listed")
        .1;
    if !locale_file.ends_with(&format!("/{WINGET_ID}.locale.{locale}.yaml")) {
        problems.push(format!("packaging/{locale_file}: the locale manifest should be named {WINGET_ID}.locale.{locale}.yaml"));
    }
    report.check(
        "winget: PackageIdentifier, PackageVersion and ManifestVersion agree",
        &problems,
        WINGET_ID,
    );
}

fn check_winget_installer(
    installer: &Yaml,
    layouts: &[(&Layout, bool)],
    release: Option<&Release>,
    report: &mut Report,
) {
    let mut problems = Vec::new();
    let version = release::token(release::VERSION_TOKEN);
    if str_of(installer, "InstallerType") != Some("zip")
        || str_of(installer, "NestedInstallerType") != Some("portable")
    {
        problems.push("InstallerType must be zip with NestedInstallerType portable".into());
    }
    match installer["Installers"].as_vec().map(Vec::as_slice) {
        Some([entry]) if entry.as_hash().is_some() => {
            problems.extend(installer_entry_problems(entry, &version, release));
        }
        _ => problems.push("Installers must hold one x64 installer".into()),
    }
    let stem = release::archive_stem(&version, WINDOWS_TARGET);
    let empty = Vec::new();
    let nested = installer["NestedInstallerFiles"]
        .as_vec()
        .unwrap_or_else(|| {
            problems.push("NestedInstallerFiles must be a list".into());
            &empty
        });
    let mut aliases = BTreeSet::new();
    let mut paths = Vec::new();
    for item in nested {
        if item.as_hash().is_none() {
            problems.push("NestedInstallerFiles items must be mappings".into());
            continue;
        }
        let path = str_of(item, "RelativeFilePath").unwrap_or_default();
        let (top, name) = path.split_once('\\').unwrap_or((path, ""));
        if top != stem {
            problems.push(format!(
                "{path} is not below the zip's top directory {stem}\\"
            ));
        }
        problems.extend(missing_from(name, path, layouts));
        paths.push(path);
        aliases.extend(str_of(item, "PortableCommandAlias"));
    }
    for program in PROGRAMS {
        if !paths
            .iter()
            .any(|p| p.ends_with(&format!("\\{program}.exe")))
        {
            problems.push(format!("NestedInstallerFiles lacks {program}.exe"));
        }
        if !aliases.contains(program) {
            problems.push(format!("no PortableCommandAlias {program}"));
        }
    }
    let detail = format!("against {}", describe(layouts));
    report.check(
        "winget: zip/portable installer of both programs, URL and sha256 token",
        &problems,
        &detail,
    );
}

fn installer_entry_problems(entry: &Yaml, version: &str, release: Option<&Release>) -> Vec<String> {
    let mut problems = Vec::new();
    if str_of(entry, "Architecture") != Some("x64") {
        problems.push(format!(
            "Architecture {:?}, want x64",
            str_of(entry, "Architecture")
        ));
    }
    let url = release::download_url(version, WINDOWS_TARGET);
    if str_of(entry, "InstallerUrl") != Some(url.as_str()) {
        problems.push(format!(
            "InstallerUrl {:?}, want {url}",
            str_of(entry, "InstallerUrl")
        ));
    }
    let sha_token = release::token(release::WINGET_SHA256);
    let sha = str_of(entry, "InstallerSha256").unwrap_or_default();
    if sha != sha_token {
        problems.push(format!("InstallerSha256 must be the {sha_token} token"));
    }
    let real_version = release
        .and_then(|r| r.version.as_deref())
        .unwrap_or("1.2.3");
    let mut values = release
        .map(|r| release::fill_values(real_version, &r.sums))
        .unwrap_or_default();
    values
        .entry(release::WINGET_SHA256.into())
        .or_insert_with(|| "0".repeat(64));
    let filled = release::fill(sha, &values).0;
    if filled.len() != 64 || !filled.bytes().all(|b| b.is_ascii_hexdigit()) {
        problems.push("InstallerSha256 is not a sha256 once filled".into());
    }
    problems
}
