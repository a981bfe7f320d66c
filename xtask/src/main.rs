//! Baton's build tool: `cargo xtask build | run | test | bench | package`.
//! Plain std only, so it compiles in seconds on a fresh machine.

mod apt;
mod binaryen;
mod bindgen;
mod cli;
mod content_js;
mod dist;
mod error;
mod package;
mod process;
mod report;
mod signals;
mod tasks;
mod ui;
mod wasm_sections;
mod wasm_toolchain;
mod workspace;

use std::process::ExitCode;

use apt::Apt;
use cli::Task;
use error::Result;
use workspace::Workspace;

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: impl IntoIterator<Item = String>) -> Result<()> {
    let task = cli::parse(args)?;
    let ws = Workspace::locate()?;
    let mut apt = Apt::default();
    match task {
        Task::Build { release } => {
            let mut report = report::Report::default();
            let built = tasks::build::build(&ws, &mut apt, release, &mut report)?;
            report.print("build");
            println!("host:      {}", built.host.display());
            println!("server:    {}", built.server.display());
            println!("extension: {}", built.extension.display());
            Ok(())
        }
        Task::Run(options) => tasks::run::run(&ws, &mut apt, &options),
        Task::Test => tasks::test::test(&ws, &mut apt),
        Task::Bench => tasks::bench::bench(&ws, &mut apt),
        Task::Package(options) => tasks::package::package(&ws, &mut apt, &options).map(|_| ()),
        Task::Help => {
            println!("{}", cli::USAGE);
            Ok(())
        }
    }
}
