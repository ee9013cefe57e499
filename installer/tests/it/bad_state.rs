//! Bad local state: files and directories as they are on real machines, not as
//! setup would like them. Each case gets a clear message and an exit code, and no
//! file is left half-written.

use crate::common::TestEnv;
use std::fmt::Write as _;
use std::path::Path;

const CONFIG: &str = "# mine\nmodel = \"o3\"\n";

/// Runs setup, expects it to fail with `code` and a message holding `needle`, and
/// checks that nothing in the Codex home changed (nor was created in it).
#[track_caller]
fn refused(env: &TestEnv, code: i32, needle: &str) {
    let before = env.snapshot();
    let out = env.setup(&["--local-only"]).code(code);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(env.snapshot(), before, "the files stay as they were");
    assert!(!env.codex_home.join("codex-guard").exists());
}

#[cfg(unix)]
#[test]
fn a_read_only_config_toml_is_refused_before_anything_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new().file("config.toml", CONFIG);
    let path = env.codex_home.join("config.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root could write it anyway: the owner's intent is what counts.
    refused(&env, 2, "config.toml is read-only");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
    // Made writable again, the same command goes through.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.setup(&["--local-only"]).success();
    // And uninstall refuses the same way rather than stopping halfway.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let before = env.snapshot();
    let out = env.uninstall(&[]).code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("read-only"));
    assert_eq!(env.snapshot(), before);
}

#[cfg(unix)]
#[test]
fn symlinked_files_are_edited_through_the_link_and_the_link_stays() {
    let env = TestEnv::new();
    let dotfiles = env.root.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::write(dotfiles.join("codex.toml"), CONFIG).unwrap();
    let hooks = "{\"hooks\": {}}\n";
    std::fs::write(dotfiles.join("hooks.json"), hooks).unwrap();
    std::os::unix::fs::symlink(
        "../../dotfiles/codex.toml",
        env.codex_home.join("config.toml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        dotfiles.join("hooks.json"),
        env.codex_home.join("hooks.json"),
    )
    .unwrap();
    let is_link = |name: &str| {
        std::fs::symlink_metadata(env.codex_home.join(name))
            .unwrap()
            .file_type()
            .is_symlink()
    };

    env.setup(&["--local-only"]).success();
    assert!(is_link("config.toml") && is_link("hooks.json"));
    let config = std::fs::read_to_string(dotfiles.join("codex.toml")).unwrap();
    assert!(
        config.starts_with(CONFIG) && config.contains("hooks = true"),
        "{config}"
    );
    assert!(std::fs::read_to_string(dotfiles.join("hooks.json"))
        .unwrap()
        .contains("codex-guard-hook"));
    // The trust records name the path Codex loads, through the link.
    assert!(config.contains(&format!("{}:", env.codex_home.join("hooks.json").display())));

    env.uninstall(&[]).success();
    assert!(is_link("config.toml") && is_link("hooks.json"));
    assert_eq!(
        std::fs::read_to_string(dotfiles.join("codex.toml")).unwrap(),
        CONFIG
    );
    assert_eq!(
        std::fs::read_to_string(dotfiles.join("hooks.json")).unwrap(),
        hooks
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_to_nothing_is_refused() {
    let env = TestEnv::new();
    std::os::unix::fs::symlink(
        "/nonexistent/codex.toml",
        env.codex_home.join("config.toml"),
    )
    .unwrap();
    refused(&env, 2, "symlink to a file that does not exist");
}

#[test]
fn non_utf8_files_are_refused() {
    let env = TestEnv::new().file("config.toml", CONFIG);
    env.write("config.toml", b"model = \"o3\xff\"\n");
    refused(&env, 2, "config.toml is not UTF-8 text");

    let env = TestEnv::new().file("config.toml", CONFIG);
    env.write("hooks.json", b"{\"hooks\": {}} \xfe\xff");
    refused(&env, 2, "hooks.json is not UTF-8 text");
}

#[test]
fn config_shapes_setup_cannot_edit_without_losing_data_are_refused() {
    for (config, needle) in [
        ("features = 3\n", "`features` in"),
        ("[features]\nhooks.on = true\n", "`features.hooks` in"),
        (
            "[features.codex_hooks]\non = true\n",
            "`features.codex_hooks` in",
        ),
        ("[[hooks]]\nname = \"x\"\n", "`hooks` in"),
        (
            "model_providers.x.name = \"x\"\nmodel = \"o3\"\nmodel_providers.x.base_url = \"u\"\n",
            "without rewriting line 2 and the lines after it: keys of one table are spread",
        ),
        (
            "model = \"o3\"\r\n[features]\nweb_search = true\r\n",
            "without rewriting line 1 and the lines after it: the file mixes",
        ),
    ] {
        let env = TestEnv::new().file("config.toml", config);
        refused(&env, 2, needle);
    }
}

#[test]
fn a_hooks_json_codex_cannot_read_is_refused() {
    // Codex itself ignores a hooks.json with a byte order mark, hooks and all.
    let env = TestEnv::new().file("config.toml", CONFIG);
    env.write("hooks.json", "\u{feff}{\"hooks\": {}}\n");
    refused(&env, 2, "byte order mark");

    let env = TestEnv::new().file("config.toml", CONFIG);
    env.write(
        "hooks.json",
        "{\n  \"hooks\": {\n    \"Stop\": [],\n  }\n}\n",
    );
    refused(
        &env,
        2,
        "hooks.json is not valid JSON (line 4, column 3: trailing comma",
    );
}

#[test]
fn a_ten_megabyte_config_is_edited_and_given_back_byte_for_byte() {
    let mut config = String::from("# a long-lived config\nmodel = \"o3\"\n");
    let mut n = 0;
    while config.len() < 10 * 1024 * 1024 {
        _ = write!(
config,
            "\n# project {n}: {}\n[projects.\"/home/dev/src/project-{n}\"]\ntrust_level = \"trusted\"\n",
            "notes ".repeat(20)
);
        n += 1;
    }
    let env = TestEnv::new().file("config.toml", &config);
    env.setup(&["--local-only"]).success();
    let after = env.read("config.toml");
    assert!(
        after.starts_with(&config),
        "the user's 10 MB stay as they were"
    );
    assert!(after.contains("hooks = true"));
    env.uninstall(&[]).success();
    assert!(
        env.read("config.toml") == config,
        "uninstall gives back every byte"
    );
}

#[test]
fn a_missing_home_directory_is_reported_not_created() {
    let env = TestEnv::new();
    let missing = env.root.join("no such home");
    let out = env
        .cmd()
        .env("HOME", &missing)
        .args(["setup", "--silent", "--local-only", "--runtime"])
        .arg(&env.runtime)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!missing.exists(), "setup never creates a home directory");

    let out = env
        .cmd()
        .env_remove("HOME")
        .args(["setup", "--silent", "--local-only"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("HOME is not set"));

    // A Codex home that does not exist yet under an existing directory is created.
    let fresh = env.root.join("fresh").join(".codex");
    std::fs::create_dir_all(fresh.parent().unwrap()).unwrap();
    env.cmd()
        .args(["setup", "--silent", "--local-only", "--codex-home"])
        .arg(&fresh)
        .arg("--runtime")
        .arg(&env.runtime)
        .assert()
        .success();
    assert!(fresh.join("hooks.json").is_file());
}

/// A full disk, simulated with a small tmpfs in a private mount namespace (nothing
/// outside the test can see it). The test runs itself again inside `unshare`; the
/// inner run fills the filesystem to several levels and runs setup at each.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_setup_cleanly_and_puts_back_what_it_wrote() {
    const INNER: &str = "CODEX_GUARD_TEST_TMPFS";
    if let Some(mount) = std::env::var_os(INNER) {
        full_disk_inside(Path::new(&mount));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small-disk");
    std::fs::create_dir(&mount).unwrap();
    codex_guard_e2e::namespace::run_test_inside(
        "bad_state::a_full_disk_fails_setup_cleanly_and_puts_back_what_it_wrote",
        &[],
        "mount -t tmpfs -o size=4m tmpfs \"$0\"",
        &mount,
        (INNER, mount.as_os_str()),
        "a private mount namespace for its tmpfs",
    );
}

#[cfg(target_os = "linux")]
fn full_disk_inside(mount: &Path) {
    let mut outcomes = Vec::new();
    let mut rolled_back = 0;
    // Free space left for setup, from none to enough for everything.
    for free_kib in [0u64, 4, 16, 64, 256, 1024, 1536, 2048, 3072] {
        let env = TestEnv::in_dir(mount);
        env.write("config.toml", CONFIG);
        env.write("hooks.json", "{\"hooks\": {}}\n");
        big_runtime(&env);
        let before = env.snapshot();

        let filler_path = fill_leaving(mount, free_kib);

        let out = env.setup(&["--local-only"]);
        let output = out.get_output();
        let code = output.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if code == 0 {
            assert!(env.read("hooks.json").contains("codex-guard-hook"));
            assert!(env.read("config.toml").contains("hooks = true"));
        } else {
            assert_eq!(code, 1, "{stderr}");
            assert!(
                stderr.contains("No space left on device"),
                "the message names the cause: {stderr}"
            );
            let now: Vec<_> = env
                .snapshot_without_backups()
                .into_iter()
                .filter(|(p, _)| !p.ends_with(".lock"))
                .collect();
            assert_eq!(now, before, "free {free_kib} KiB: {stderr}");
            if stderr.contains("every file setup had written was put back") {
                rolled_back += 1;
            }
            // With the space back, the same command finishes the job.
            std::fs::remove_file(&filler_path).unwrap();
            env.setup(&["--local-only"]).success();
        }
        let temps: Vec<_> = env
            .snapshot()
            .into_iter()
            .filter(|(p, _)| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
        outcomes.push(format!("{free_kib} KiB free: exit {code}"));
        let _ = std::fs::remove_file(&filler_path);
        drop(env);
    }
    eprintln!(
        "full disk: {}; {rolled_back} failed mid-install and were rolled back",
        outcomes.join("; ")
    );
    assert!(
        rolled_back > 0,
        "no level stopped setup between two of its writes"
    );
    assert!(outcomes.iter().any(|o| o.ends_with("exit 1")));
    assert!(outcomes.iter().any(|o| o.ends_with("exit 0")));
    managed_full_disk_inside(mount);
}

/// A runtime big enough that copying it is one of the writes that can fail.
#[cfg(target_os = "linux")]
fn big_runtime(env: &TestEnv) {
    let runtime: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    std::fs::write(&env.runtime, &runtime).unwrap();
}

/// Fills the filesystem at `mount` but for `free_kib`; returns the filler file.
#[cfg(target_os = "linux")]
fn fill_leaving(mount: &Path, free_kib: u64) -> std::path::PathBuf {
    use std::io::Write;
    let path = mount.join("filler");
    let mut filler = std::fs::File::create(&path).unwrap();
    let block = vec![0x5a; 4096];
    while filler.write_all(&block).is_ok() {}
    let full = filler.metadata().unwrap().len();
    filler
        .set_len(full.saturating_sub(free_kib * 1024))
        .unwrap();
    path
}

/// The files under `dir`, but for backups and the lock: what a failed run must leave
/// exactly as it found it.
#[cfg(target_os = "linux")]
fn files_below(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "backups" || name == ".lock" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// `setup --managed` on the full disk: a write that fails puts back the machine-wide
/// files written before it.
#[cfg(target_os = "linux")]
fn managed_full_disk_inside(mount: &Path) {
    let mut outcomes = Vec::new();
    let mut rolled_back = 0;
    for free_kib in [0u64, 4, 16, 64, 256, 1024, 1536, 2048, 3072] {
        let env = TestEnv::in_dir(mount);
        let system = env.root.join("system");
        std::fs::create_dir_all(system.join("etc/codex")).unwrap();
        std::fs::write(
            system.join("etc/codex/requirements.toml"),
            "# set by IT\n[features]\nweb_search = false\n",
        )
        .unwrap();
        big_runtime(&env);
        let before = files_below(&system);

        let filler_path = fill_leaving(mount, free_kib);

        let managed = |env: &TestEnv| {
            env.cmd()
                .args(["setup", "--managed", "--silent", "--json", "--local-only"])
                .arg("--runtime")
                .arg(&env.runtime)
                .arg("--system-root")
                .arg(env.root.join("system"))
                .assert()
        };
        let out = managed(&env);
        let output = out.get_output();
        let code = output.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if code == 0 {
            let requirements =
                std::fs::read_to_string(system.join("etc/codex/requirements.toml")).unwrap();
            assert!(requirements.contains("codex-guard-hook"), "{requirements}");
        } else {
            assert_eq!(code, 1, "{stderr}");
            assert!(
                stderr.contains("No space left on device"),
                "the message names the cause: {stderr}"
            );
            assert_eq!(
                files_below(&system),
                before,
                "free {free_kib} KiB: {stderr}"
            );
            if stderr.contains("every file setup had written was put back") {
                rolled_back += 1;
            }
            std::fs::remove_file(&filler_path).unwrap();
            managed(&env).success();
        }
        outcomes.push(format!("{free_kib} KiB free: exit {code}"));
        let _ = std::fs::remove_file(&filler_path);
        drop(env);
    }
    eprintln!(
        "full disk, setup --managed: {}; {rolled_back} failed mid-install and were rolled back",
        outcomes.join("; ")
    );
    assert!(
        rolled_back > 0,
        "no level stopped setup --managed between two of its writes"
    );
}
