//! One module per `cargo xtask` subcommand.

pub mod bench;
pub mod build;
pub mod run;
pub mod test;
