//! Disks: formatting, partitioning, wiping or writing over a disk, a partition or a
//! volume (`mkfs`, `wipefs -a`, `sgdisk --zap-all`, `dd of=/dev/sda`, `> /dev/nvme0n1`).

use super::{code, paths, Finding, Pack, Subject};
use crate::shell::Invocation;

/// Programs that destroy what is on every device they are given.
const FORMATTERS: &[&str] = &[
    "mke2fs",
    "mkswap",
    "blkdiscard",
    "mkdosfs",
    "mkntfs",
    "mkexfatfs",
    "mkfs",
    "newfs",
    "newfs_msdos",
    "newfs_apfs",
    "newfs_hfs",
    "mformat",
    "zerofree",
    "cfdisk",
    "gdisk",
    "cgdisk",
    "fdformat",
    "badblocks",
    "pvcreate",
    "shred",
    "scrub",
];

pub fn check(s: &Subject) -> Option<Finding> {
    let analysis = s.analysis;
    for inv in s.invocations() {
        if let Some(f) = invocation(inv).or_else(|| diskutil(inv)) {
            return Some(f);
        }
    }
    if let Some(a) = analysis {
        // A write of any kind onto a disk: `cp x /dev/sda`, `> /dev/sda`, `tee`, `dd of=`.
        for change in &a.changes {
            // Disk tools are judged by what they are told to do, above.
            if DISK_TOOLS.contains(&change.program.as_str()) || change.program.starts_with("mkfs") {
                continue;
            }
            if let Some(dev) = paths::maybe_block_device(&change.target) {
                return Some(Finding::new(
                    Pack::Disks,
                    "overwrite-disk",
                    format!("{} writes onto the disk device {dev}", change.program),
                ));
            }
        }
        for script in &a.scripts {
            if let Some(dev) = code::device(script) {
                return Some(Finding::new(
                    Pack::Disks,
                    "overwrite-disk",
                    format!("{} code opens the disk device {dev}", script.interpreter),
                ));
            }
        }
    }
    // A patch or an MCP file tool writing to a device.
    if s.input.is_patch_tool() || s.input.is_mcp_tool() {
        if let Some(dev) = s.file_paths().into_iter().find(|p| paths::block_device(p)) {
            return Some(Finding::new(
                Pack::Disks,
                "overwrite-disk",
                format!(
                    "{} names the disk device {dev}",
                    s.input.tool_name().unwrap_or("the tool")
                ),
            ));
        }
    }
    None
}

/// Programs that take a disk as an operand to read or manage it; they destroy
/// data only with the verbs and flags [`invocation`] looks for.
const DISK_TOOLS: &[&str] = &[
    "fdisk",
    "sfdisk",
    "gdisk",
    "cgdisk",
    "cfdisk",
    "parted",
    "sgdisk",
    "wipefs",
    "blkid",
    "lsblk",
    "smartctl",
    "hdparm",
    "nvme",
    "mdadm",
    "udevadm",
    "partx",
    "kpartx",
    "losetup",
    "cryptsetup",
    "dumpe2fs",
    "tune2fs",
    "e2fsck",
    "fsck",
    "xfs_info",
    "mount",
    "umount",
    "findmnt",
    "blockdev",
    "file",
    "badblocks",
    "zpool",
    "zfs",
    "lvs",
    "vgs",
    "pvs",
    "lvdisplay",
    "vgdisplay",
    "pvdisplay",
    "dmsetup",
    "diskutil",
    "mke2fs",
    "mkswap",
    "blkdiscard",
    "dd",
    "eject",
    "sg_inq",
    "isoinfo",
    "ntfsinfo",
    "debugfs",
];

fn devices(inv: &Invocation) -> Vec<String> {
    inv.argv[1..]
        .iter()
        .flatten()
        .filter_map(|v| {
            // `of=/dev/sda`, `--device=/dev/sda`: the value after `=` too.
            let mut v = v.clone();
            // `dd if=/dev/sda of=disk.img` reads the disk: only where it writes counts.
            if v.literal().is_some_and(|l| l.starts_with("if=")) {
                return None;
            }
            if let Some(crate::shell::Part::Text(t)) = v.0.first_mut() {
                if let Some((_, rest)) = t.split_once('=').filter(|(k, _)| !k.contains('/')) {
                    *t = rest.to_string();
                }
            }
            paths::maybe_block_device(&v)
        })
        .collect()
}

fn finding(inv: &Invocation, what: &str, dev: &str) -> Finding {
    let name = inv.name.as_deref().unwrap_or("a program");
    Finding::new(Pack::Disks, "format-disk", format!("{name} {what} {dev}"))
}

fn invocation(inv: &Invocation) -> Option<Finding> {
    let name = inv.name.as_deref()?;
    let lits = inv.literals();
    if let Some(found) = destroyed_volume(name, &lits) {
        return Some(found);
    }
    let devs = devices(inv);
    let dev = devs.first()?;
    let words: Vec<&str> = lits.iter().flatten().map(String::as_str).collect();
    destroys_device(name, &words).then(|| finding(inv, "destroys what is on", dev))
}

/// Volume managers name pools and volumes, not devices.
fn destroyed_volume(name: &str, lits: &[Option<String>]) -> Option<Finding> {
    let volume_verb = match name {
        "zpool" => lits
            .first()
            .cloned()
            .flatten()
            .filter(|v| ["destroy", "labelclear"].contains(&v.as_str())),
        "zfs" => lits.first().cloned().flatten().filter(|v| v == "destroy"),
        "lvremove" | "vgremove" | "pvremove" | "lvreduce" => Some(name.to_string()),
        _ => None,
    };
    if let Some(verb) = volume_verb {
        let target = lits
            .iter()
            .skip(1)
            .flatten()
            .find(|a| !a.starts_with('-'))
            .or_else(|| lits.iter().flatten().find(|a| !a.starts_with('-')));
        return Some(Finding::new(
            Pack::Disks,
            "format-disk",
            format!(
                "{name} {verb} destroys the volume {}",
                target.map_or("named", String::as_str)
            ),
        ));
    }
    None
}

/// Whether the program `name`, given `words`, writes over the device it names.
fn destroys_device(name: &str, words: &[&str]) -> bool {
    let has = |w: &[&str]| words.iter().any(|a| w.contains(a));
    let short = |c: char| {
        words
            .iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
    };
    let base = name.split('.').next().unwrap_or(name);
    match base {
        _ if FORMATTERS.contains(&name) || FORMATTERS.contains(&base) => true,
        "wipefs" => {
            short('a')
                || short('o')
                || has(&["--all", "--offset"])
                || words
                    .iter()
                    .any(|a| a.starts_with("--all") || a.starts_with("--off"))
        }
        "sgdisk" => words.iter().any(|a| {
            a.starts_with("--zap")
                || a.starts_with("--clear")
                || a.starts_with("--new")
                || a.starts_with("--delete")
                || a.starts_with("--largest-new")
                || a.starts_with("--load-backup")
                || a.starts_with("--mbrtogpt")
                || (a.starts_with('-')
                    && !a.starts_with("--")
                    && a[1..].chars().any(|c| "ZzonNdglm".contains(c)))
        }),
        "sfdisk" => {
            !(short('l')
                || short('d')
                || short('s')
                || short('V')
                || short('g')
                || short('J')
                || words.iter().any(|a| {
                    [
                        "--list",
                        "--dump",
                        "--show-size",
                        "--verify",
                        "--show-geometry",
                        "--json",
                        "--backup-pt-sectors",
                        "--help",
                        "--version",
                    ]
                    .iter()
                    .any(|o| a.starts_with(o))
                }))
        }
        "parted" => words.iter().any(|a| {
            [
                "mklabel",
                "mktable",
                "rm",
                "mkpart",
                "mkpartfs",
                "resizepart",
                "resize",
                "rescue",
                "mkfs",
            ]
            .contains(a)
        }),
        "fdisk" => !(short('l') || has(&["--list", "--help", "-V", "--version"])),
        "hdparm" => words.iter().any(|a| {
            a.starts_with("--security-erase")
                || a.starts_with("--trim-sector")
                || a.starts_with("--write-sector")
                || a.starts_with("--make-bad-sector")
                || a.starts_with("--fwdownload")
                || a == &"--security-set-pass"
        }),
        "nvme" => has(&["format", "sanitize", "delete-ns", "detach-ns"]),
        "cryptsetup" => has(&["luksFormat", "erase", "luksErase", "reencrypt"]),
        "mdadm" => words
            .iter()
            .any(|a| a.starts_with("--zero") || a.starts_with("--create") || *a == "-C"),
        "dd" => words.iter().any(|a| a.starts_with("of=")),
        // Copies onto a device are judged as the writes they are (`check`); the
        // volume managers by name, above.
        "zpool" => has(&["create"]),
        "dmsetup" => has(&["remove", "remove_all", "wipe_table"]),
        _ => false,
    }
}

/// `diskutil eraseDisk … disk2` names the disk without `/dev/`.
fn diskutil(inv: &Invocation) -> Option<Finding> {
    if inv.name.as_deref() != Some("diskutil") {
        return None;
    }
    let lits = inv.literals();
    let verb = lits.first().cloned().flatten()?.to_ascii_lowercase();
    let erases = [
        "erasedisk",
        "erasevolume",
        "partitiondisk",
        "zerodisk",
        "randomdisk",
        "secureerase",
        "reformat",
        "splitpartition",
        "mergepartitions",
        "deletecontainer",
        "deletevolume",
    ];
    let apfs = verb == "apfs"
        && lits.get(1).cloned().flatten().is_some_and(|v| {
            [
                "deletecontainer",
                "deletevolume",
                "erasevolume",
                "eraseVolume",
            ]
            .contains(&v.to_ascii_lowercase().as_str())
        });
    (erases.contains(&verb.as_str()) || apfs).then(|| {
        Finding::new(
            Pack::Disks,
            "format-disk",
            format!("diskutil {verb} erases a disk or a volume"),
        )
    })
}
