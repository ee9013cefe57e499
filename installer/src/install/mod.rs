//! The install engine: the plans of setup, uninstall, backup and restore (per user,
//! machine-wide, and for every user), and the transaction that applies them.

pub mod all_users;
pub mod backup;
pub mod managed;
pub mod restore;
pub mod setup;
pub mod transaction;
pub mod uninstall;

pub use transaction::Transaction;
