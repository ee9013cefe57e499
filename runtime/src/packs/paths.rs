//! What a path is to the packs: the root, a system directory, a home, everything
//! in one of those, a credential, a disk; worked out on the analysis's values,
//! whose holes (unknown text) are judged on the side of danger.

use crate::shell::{Part, Value};

/// Top-level directories (and a few below) whose loss breaks the machine.
const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/root",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/var",
    "/home",
    "/Users",
    "/System",
    "/Library",
    "/Applications",
    "/private",
    "/snap",
    "/mnt",
    "/media",
    "/nix",
    "/run",
    "/cores",
    "/Volumes",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/local",
    "/usr/share",
    "/usr/include",
    "/usr/local/bin",
    "/var/lib",
    "/var/log",
    "/etc/ssl",
    "/private/etc",
    "/private/var",
];

/// Where homes are: the account's own, and every other account's.
fn home_of<'a>(path: &'a str, home: Option<&str>) -> Option<(&'a str, &'a str)> {
    if let Some(h) = home.filter(|h| h.len() > 1) {
        let h = h.trim_end_matches('/');
        if path == h {
            return Some((path, ""));
        }
        if let Some(rest) = path.strip_prefix(h).and_then(|r| r.strip_prefix('/')) {
            return Some((&path[..h.len()], rest));
        }
    }
    for root in ["/root", "/var/root"] {
        if path == root {
            return Some((path, ""));
        }
        if let Some(rest) = path.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
            return Some((&path[..root.len()], rest));
        }
    }
    for parent in ["/home/", "/Users/"] {
        if let Some(rest) = path.strip_prefix(parent) {
            let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
            if !name.is_empty() {
                let end = parent.len() + name.len();
                return Some((&path[..end], rest));
            }
        }
    }
    None
}

/// `/`, a system directory or a home: what a recursive change must never reach.
pub fn critical(path: &str, home: Option<&str>) -> Option<String> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if path == "/" || path.is_empty() {
        return Some("/ (the whole machine)".into());
    }
    if SYSTEM_DIRS.contains(&path) {
        return Some(format!("the system directory {path}"));
    }
    match home_of(path, home) {
        Some((_, "")) => Some(format!("the home directory {path}")),
        _ => None,
    }
}

/// How bad a target of a recursive change is.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Critical(String),
    /// It cannot be known before the command runs and may be one of the above
    /// (the value as written, holes as `*`).
    Unknown(String),
    Fine,
}

/// Judges a target (absolute, or starting with a hole).
pub fn target(value: &Value, home: Option<&str>) -> Target {
    if let Some(path) = value.literal() {
        return match critical(&path, home) {
            Some(what) => Target::Critical(what),
            None => Target::Fine,
        };
    }
    // Everything below a critical directory: `/*`, `~/.*`, `/home/*`.
    if let Some(Part::Text(first)) = value.0.first() {
        if let Some(cut) = first.rfind('/') {
            let dir = if cut == 0 { "/" } else { &first[..cut] };
            let leaf_known = &first[cut + 1..];
            let rest_known: String = value.0[1..]
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.trim_end_matches('/'),
                    Part::Any => "",
                })
                .collect();
            let everything = leaf_known.chars().all(|c| c == '.')
                && rest_known.chars().all(|c| c == '.' || c == '*');
            if everything {
                if let Some(what) = critical(dir, home) {
                    return Target::Critical(format!("everything in {what}"));
                }
            }
        }
    }
    // `$X`, `"$X/"`, `"$DIR"/*`: if the variable is empty or `/`, this is `/`.
    let known: String = value
        .0
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Any => "",
        })
        .collect();
    if known.chars().all(|c| matches!(c, '/' | '.' | '*')) {
        return Target::Unknown(value.display());
    }
    // `/ho*`, `/u?r`: a glob that names a system directory or a home.
    if value.0.len() <= 8 {
        let mut candidates: Vec<&str> = SYSTEM_DIRS.to_vec();
        candidates.extend(home);
        if let Some(hit) = candidates
            .iter()
            .find(|c| crate::shell::glob_match(value, c))
        {
            return Target::Critical(format!("{} (which names {hit})", value.display()));
        }
    }
    Target::Fine
}

/// Files in a home that hold secrets (`dir/` entries: everything inside).
const HOME_SECRETS: &[&str] = &[
    ".aws/",
    ".config/gcloud/",
    ".azure/",
    ".kube/config",
    ".docker/config.json",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".config/gh/hosts.yml",
    ".gnupg/",
    ".vault-token",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".terraform.d/credentials.tfrc.json",
    ".config/hub",
    ".gem/credentials",
    ".password-store/",
    ".local/share/keyrings/",
    ".pgpass",
    ".my.cnf",
    ".boto",
    ".s3cfg",
    ".config/rclone/rclone.conf",
    ".config/op/",
    ".m2/settings-security.xml",
];

/// Directories that hold secrets: copying or archiving one takes them all.
const SECRET_DIRS: &[&str] = &[
    ".ssh",
    ".aws",
    ".config/gcloud",
    ".azure",
    ".kube",
    ".docker",
    ".gnupg",
    ".config/gh",
    ".password-store",
];

const SYSTEM_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/master.passwd",
    "/etc/sudoers",
];

/// A public key's name: ends in `.pub`. Case-sensitive on purpose: a secret key
/// renamed `key.PUB` is not exempt.
fn public_key_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| ext == "pub")
}

/// Files of `~/.ssh` that are not secret.
fn public_ssh_file(name: &str) -> bool {
    name == "config"
        || public_key_name(name)
        || name.starts_with("known_hosts")
        || name.starts_with("authorized_keys")
        || name.starts_with("config.d")
}

/// What secret a literal path is, if it is one.
pub fn secret(path: &str, home: Option<&str>) -> Option<String> {
    let path = path.trim_end_matches('/');
    if SYSTEM_SECRETS.contains(&path) {
        return Some(path.to_string());
    }
    if let Some(key) = path.strip_prefix("/etc/ssh/") {
        if key.starts_with("ssh_host_") && key.ends_with("_key") {
            return Some(path.to_string());
        }
    }
    let (_, rel) = home_of(path, home)?;
    // Region, output format and SSO settings; the keys live in `credentials`.
    if rel == ".aws/config" {
        return None;
    }
    if let Some(name) = rel.strip_prefix(".ssh/") {
        return (!name.is_empty() && !public_ssh_file(name.split('/').next().unwrap_or(name)))
            .then(|| format!("the SSH key {path}"));
    }
    if SECRET_DIRS.contains(&rel) {
        return Some(format!("the credentials directory {path}"));
    }
    HOME_SECRETS
        .iter()
        .any(|s| match s.strip_suffix('/') {
            Some(dir) => rel == dir || rel.starts_with(s),
            None => rel == *s,
        })
        .then(|| format!("the credentials in {path}"))
}

/// The same for a value with holes: `~/.ssh/*` may be a key, `~/.ssh/*.pub` is not,
/// `/home/*/.ssh/id_*` is someone's key.
pub fn secret_value(value: &Value, home: Option<&str>) -> Option<String> {
    if let Some(path) = value.literal() {
        return secret(&path, home);
    }
    // Each hole as a plain name: what the glob or variable most plainly stands for.
    let plain: String = value
        .0
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Any => "x",
        })
        .collect();
    if plain.starts_with('/') {
        if let Some(what) = secret(&plain, home) {
            return Some(format!("{what} ({})", value.display()));
        }
    }
    let Some(Part::Text(first)) = value.0.first() else {
        return None;
    };
    let dir = first.rsplit_once('/').map_or("", |(d, _)| d);
    let last_known = match value.0.last() {
        Some(Part::Text(t)) => t.as_str(),
        _ => "",
    };
    if public_key_name(last_known) {
        return None;
    }
    // The directory before the first hole is (or is inside) a secret directory.
    let (_, rel) = home_of(dir, home)?;
    let inside = SECRET_DIRS
        .iter()
        .any(|d| rel == *d || rel.starts_with(&format!("{d}/")));
    inside.then(|| format!("the credentials under {dir} ({})", value.display()))
}

/// A disk, a partition or a volume: a write to one destroys a file system.
pub fn block_device(path: &str) -> bool {
    static DISK: std::sync::OnceLock<Option<regex_lite::Regex>> = std::sync::OnceLock::new();
    if !path.starts_with("/dev/") || path == "/dev/mapper/control" {
        return false;
    }
    DISK.get_or_init(|| {
        regex_lite::Regex::new(
            r"^/dev/((sd|hd|vd|xvd|ubd)[a-z]+[0-9]*|nvme[0-9]+(n[0-9]+(p[0-9]+)?)?|mmcblk[0-9]+(p[0-9]+)?|md[0-9]+(p[0-9]+)?|md/.+|dm-[0-9]+|mapper/.+|disk/.+|r?disk[0-9]+(s[0-9]+)*|sr[0-9]+|nbd[0-9]+(p[0-9]+)?|zd[0-9]+|bcache[0-9]+|rbd[0-9]+|zvol/.+|root)$",
        )
        .ok()
    })
    .as_ref()
    .is_some_and(|re| re.is_match(path))
}

/// A device value with holes: `/dev/sd*`, `/dev/$DISK` may be a disk.
pub fn maybe_block_device(value: &Value) -> Option<String> {
    if let Some(path) = value.literal() {
        return block_device(&path).then_some(path);
    }
    match value.0.first() {
        Some(Part::Text(t)) if t.starts_with("/dev/") => {
            let known = &t["/dev/".len()..];
            let harmless = [
                "null", "zero", "stdout", "stderr", "stdin", "tty", "fd/", "pts/", "shm/",
            ]
            .iter()
            .any(|h| known.starts_with(h));
            (!harmless).then(|| value.display())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(parts: &[&str]) -> Value {
        Value(
            parts
                .iter()
                .map(|p| {
                    if *p == "*" {
                        Part::Any
                    } else {
                        Part::Text(p.to_string())
                    }
                })
                .collect(),
        )
    }

    #[test]
    fn roots_homes_and_everything_in_them_are_critical_named_leaves_are_not() {
        let home = Some("/home/dev");
        for crit in [
            v(&["/"]),
            v(&["/home/dev"]),
            v(&["/home/bob/"]),
            v(&["/Users/x"]),
            v(&["/root"]),
            v(&["/usr"]),
        ] {
            assert!(
                matches!(target(&crit, home), Target::Critical(_)),
                "{crit:?}"
            );
        }
        for all in [
            v(&["/", "*"]),
            v(&["/home/dev/", "*"]),
            v(&["/home/dev/.", "*"]),
            v(&["/home/", "*"]),
        ] {
            assert!(matches!(target(&all, home), Target::Critical(_)), "{all:?}");
        }
        for unknown in [v(&["*"]), v(&["*", "/"]), v(&["*", "/", "*"])] {
            assert!(
                matches!(target(&unknown, home), Target::Unknown(_)),
                "{unknown:?}"
            );
        }
        for fine in [
            v(&["/home/dev/project/target"]),
            v(&["/tmp/x"]),
            v(&["*", "/build"]),
            v(&["/home/dev/", "*", "/node_modules"]),
            v(&["/home/dev/.cache", "*"]),
        ] {
            assert_eq!(target(&fine, home), Target::Fine, "{fine:?}");
        }
    }

    #[test]
    fn secrets_are_named_in_any_home_and_public_files_are_not() {
        let home = Some("/home/dev");
        for s in [
            "/home/dev/.ssh/id_ed25519",
            "/home/dev/.ssh/deploy_key",
            "/root/.aws/credentials",
            "/Users/a/.kube/config",
            "/home/dev/.ssh",
            "/etc/shadow",
            "/home/dev/.config/gcloud/legacy_credentials/x/adc.json",
        ] {
            assert!(secret(s, home).is_some(), "{s}");
        }
        for p in [
            "/home/dev/.ssh/id_ed25519.pub",
            "/home/dev/.ssh/config",
            "/home/dev/.ssh/known_hosts",
            "/home/dev/project/.npmrc",
            "/home/dev/.kube/cache",
        ] {
            assert!(secret(p, home).is_none(), "{p}");
        }
        assert!(secret_value(&v(&["/home/dev/.ssh/", "*"]), home).is_some());
        assert!(secret_value(&v(&["/home/dev/.ssh/", "*", ".pub"]), home).is_none());
    }

    #[test]
    fn disks_are_told_from_other_devices() {
        for d in [
            "/dev/sda",
            "/dev/sdb1",
            "/dev/nvme0n1",
            "/dev/nvme0n1p2",
            "/dev/mmcblk0",
            "/dev/md0",
            "/dev/dm-0",
            "/dev/mapper/vg-root",
            "/dev/disk2",
            "/dev/rdisk3",
            "/dev/xvda",
            "/dev/vdb",
            "/dev/disk/by-id/ata-x",
        ] {
            assert!(block_device(d), "{d}");
        }
        for n in [
            "/dev/null",
            "/dev/zero",
            "/dev/tty",
            "/dev/stdout",
            "/dev/urandom",
            "/dev/shm/x",
            "/dev/mapper/control",
            // Loop devices are backed by image files, which image tools format.
            "/dev/loop0p1",
        ] {
            assert!(!block_device(n), "{n}");
        }
    }
}
