//! One module per `cargo xtask` subcommand.

pub mod bench;
pub mod build;
pub mod package;
pub mod run;
pub mod test;
