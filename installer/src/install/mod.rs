//! The install engine: how a plan of file changes (setup, uninstall, restore; per user
//! or machine-wide) is applied.

pub mod transaction;

pub use transaction::Transaction;
