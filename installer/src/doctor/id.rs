//! The stable name of every check. The `--json` output, `--fix`, the fleet scripts
//! and the tests all name checks by these strings, so they are spelled here once.

/// One check doctor runs, in either scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckId {
    CodexCli,
    HooksFeature,
    ManagedPolicy,
    HooksJsonValid,
    HooksJsonHandlers,
    HooksTrust,
    HooksList,
    ManagedReceipt,
    ManagedRequirements,
    RuntimeBinary,
    RuntimeVersion,
    RuntimeChecksum,
    RuntimePermissions,
    ConfigValid,
    ConfigPermissions,
    RulesValid,
    RulesPacks,
    RulesTamper,
    ServiceReachable,
    MachineId,
    LogsWritable,
    SpoolBacklog,
    Receipt,
    ShellStartupEnv,
    EnvironmentOverrides,
}

/// What `--fix` may do about a check that did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixKind {
    /// Re-running setup with the install's own settings.
    Setup,
    /// Tightening the mode of files below codex-guard's own directory.
    Chmod,
}

impl CheckId {
    pub const ALL: [CheckId; 25] = [
        CheckId::CodexCli,
        CheckId::HooksFeature,
        CheckId::ManagedPolicy,
        CheckId::HooksJsonValid,
        CheckId::HooksJsonHandlers,
        CheckId::HooksTrust,
        CheckId::HooksList,
        CheckId::ManagedReceipt,
        CheckId::ManagedRequirements,
        CheckId::RuntimeBinary,
        CheckId::RuntimeVersion,
        CheckId::RuntimeChecksum,
        CheckId::RuntimePermissions,
        CheckId::ConfigValid,
        CheckId::ConfigPermissions,
        CheckId::RulesValid,
        CheckId::RulesPacks,
        CheckId::RulesTamper,
        CheckId::ServiceReachable,
        CheckId::MachineId,
        CheckId::LogsWritable,
        CheckId::SpoolBacklog,
        CheckId::Receipt,
        CheckId::ShellStartupEnv,
        CheckId::EnvironmentOverrides,
    ];

    /// The checks of a per-user install, in the order they are reported.
    pub const USER: [CheckId; 23] = [
        CheckId::CodexCli,
        CheckId::HooksFeature,
        CheckId::ManagedPolicy,
        CheckId::HooksJsonValid,
        CheckId::HooksJsonHandlers,
        CheckId::HooksTrust,
        CheckId::HooksList,
        CheckId::RuntimeBinary,
        CheckId::RuntimeVersion,
        CheckId::RuntimeChecksum,
        CheckId::RuntimePermissions,
        CheckId::ConfigValid,
        CheckId::ConfigPermissions,
        CheckId::RulesValid,
        CheckId::RulesPacks,
        CheckId::RulesTamper,
        CheckId::ServiceReachable,
        CheckId::MachineId,
        CheckId::LogsWritable,
        CheckId::SpoolBacklog,
        CheckId::Receipt,
        CheckId::ShellStartupEnv,
        CheckId::EnvironmentOverrides,
    ];

    /// The checks of a machine-wide install, in the order they are reported.
    pub const MACHINE: [CheckId; 14] = [
        CheckId::CodexCli,
        CheckId::ManagedReceipt,
        CheckId::ManagedRequirements,
        CheckId::RuntimeBinary,
        CheckId::RuntimeVersion,
        CheckId::RuntimeChecksum,
        CheckId::RuntimePermissions,
        CheckId::ConfigValid,
        CheckId::RulesValid,
        CheckId::RulesPacks,
        CheckId::RulesTamper,
        CheckId::ServiceReachable,
        CheckId::MachineId,
        CheckId::ShellStartupEnv,
    ];

    /// The id in the `--json` output and the human report.
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckId::CodexCli => "codex.cli",
            CheckId::HooksFeature => "codex.hooks_feature",
            CheckId::ManagedPolicy => "codex.managed_policy",
            CheckId::HooksJsonValid => "hooks_json.valid",
            CheckId::HooksJsonHandlers => "hooks_json.handlers",
            CheckId::HooksTrust => "hooks.trust",
            CheckId::HooksList => "codex.hooks_list",
            CheckId::ManagedReceipt => "managed.receipt",
            CheckId::ManagedRequirements => "managed.requirements",
            CheckId::RuntimeBinary => "runtime.binary",
            CheckId::RuntimeVersion => "runtime.version",
            CheckId::RuntimeChecksum => "runtime.checksum",
            CheckId::RuntimePermissions => "runtime.permissions",
            CheckId::ConfigValid => "config.valid",
            CheckId::ConfigPermissions => "config.permissions",
            CheckId::RulesValid => "rules.valid",
            CheckId::RulesPacks => "rules.packs",
            CheckId::RulesTamper => "rules.tamper",
            CheckId::ServiceReachable => "service.reachable",
            CheckId::MachineId => "machine_id",
            CheckId::LogsWritable => "logs.writable",
            CheckId::SpoolBacklog => "spool.backlog",
            CheckId::Receipt => "receipt",
            CheckId::ShellStartupEnv => "shell.startup_env",
            CheckId::EnvironmentOverrides => "environment.overrides",
        }
    }

    /// A failure of this check means Codex cannot run our hooks at all
    /// ("unprotected"), not only that they run with less than they should ("degraded").
    pub const fn protects(self) -> bool {
        matches!(
            self,
            CheckId::HooksFeature
                | CheckId::ManagedPolicy
                | CheckId::HooksJsonValid
                | CheckId::HooksJsonHandlers
                | CheckId::HooksTrust
                | CheckId::HooksList
                | CheckId::RuntimeBinary
                | CheckId::ManagedRequirements
        )
    }

    /// What `--fix` can do when this check fails (of a per-user install; a
    /// machine-wide one is repaired by `setup --managed`). A check result that asks
    /// for anything else is not acted on.
    pub const fn fixes(self) -> &'static [FixKind] {
        match self {
            CheckId::HooksFeature
            | CheckId::HooksJsonValid
            | CheckId::HooksJsonHandlers
            | CheckId::HooksTrust
            | CheckId::HooksList
            | CheckId::RuntimeVersion
            | CheckId::RuntimeChecksum
            | CheckId::MachineId => &[FixKind::Setup],
            CheckId::RuntimeBinary => &[FixKind::Setup, FixKind::Chmod],
            CheckId::RuntimePermissions | CheckId::ConfigPermissions => &[FixKind::Chmod],
            CheckId::CodexCli
            | CheckId::ManagedPolicy
            | CheckId::ManagedReceipt
            | CheckId::ManagedRequirements
            | CheckId::ConfigValid
            | CheckId::RulesValid
            | CheckId::RulesPacks
            | CheckId::RulesTamper
            | CheckId::ServiceReachable
            | CheckId::LogsWritable
            | CheckId::SpoolBacklog
            | CheckId::Receipt
            | CheckId::ShellStartupEnv
            | CheckId::EnvironmentOverrides => &[],
        }
    }

    pub fn from_id(id: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == id)
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_check_has_its_own_id() {
        let ids: HashSet<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ids.len(), CheckId::ALL.len());
        let variants: HashSet<CheckId> = CheckId::ALL.into_iter().collect();
        assert_eq!(variants.len(), CheckId::ALL.len());
        for id in CheckId::ALL {
            assert_eq!(CheckId::from_id(id.as_str()), Some(id));
        }
    }

    #[test]
    fn every_check_runs_in_some_scope_once() {
        for scope in [&CheckId::USER[..], &CheckId::MACHINE[..]] {
            let unique: HashSet<CheckId> = scope.iter().copied().collect();
            assert_eq!(unique.len(), scope.len(), "{scope:?}");
        }
        for id in CheckId::ALL {
            assert!(
                CheckId::USER.contains(&id) || CheckId::MACHINE.contains(&id),
                "{id} runs nowhere"
            );
        }
    }

    /// The ids fleet scripts, docs and users read: renaming one breaks them.
    #[test]
    fn ids_stay_as_published() {
        let published: Vec<&str> = CheckId::USER.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            published,
            [
                "codex.cli",
                "codex.hooks_feature",
                "codex.managed_policy",
                "hooks_json.valid",
                "hooks_json.handlers",
                "hooks.trust",
                "codex.hooks_list",
                "runtime.binary",
                "runtime.version",
                "runtime.checksum",
                "runtime.permissions",
                "config.valid",
                "config.permissions",
                "rules.valid",
                "rules.packs",
                "rules.tamper",
                "service.reachable",
                "machine_id",
                "logs.writable",
                "spool.backlog",
                "receipt",
                "shell.startup_env",
                "environment.overrides",
            ]
        );
        assert_eq!(CheckId::ManagedReceipt.as_str(), "managed.receipt");
        assert_eq!(
            CheckId::ManagedRequirements.as_str(),
            "managed.requirements"
        );
    }

    /// docs/doctor.md's table says, for every check, the scopes it runs in, whether
    /// it protects and what `--fix` does: exactly what the code says.
    #[test]
    fn the_documented_table_is_what_the_checks_do() {
        let doc = include_str!("../../../docs/doctor.md");
        let rows: Vec<Vec<&str>> = doc
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
        let documented: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
        let all: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            documented, all,
            "docs/doctor.md lists the checks in CheckId::ALL order"
        );
        for (row, id) in rows.iter().zip(CheckId::ALL) {
            let scope = match (CheckId::USER.contains(&id), CheckId::MACHINE.contains(&id)) {
                (true, true) => "both",
                (true, false) => "user",
                (false, true) => "managed",
                (false, false) => unreachable!("{id} runs nowhere"),
            };
            assert_eq!(row[1], scope, "{id}");
            assert_eq!(row[2], if id.protects() { "yes" } else { "" }, "{id}");
            let fixes: Vec<&str> = id
                .fixes()
                .iter()
                .map(|k| match k {
                    FixKind::Setup => "setup",
                    FixKind::Chmod => "chmod",
                })
                .collect();
            assert_eq!(row[4], fixes.join(", "), "{id}");
        }
    }
}
