//! The commands that only read or replace codex-guard itself: `events` sums up the
//! audit log, `self-update` replaces the programs. (setup, uninstall, backup and
//! restore are plans over the install engine in `install`; doctor has its own module.)

pub mod events;
pub mod update;
