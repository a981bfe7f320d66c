//! The command line: `cargo xtask <command> [options]`.

use crate::error::{Error, Result};
use crate::tasks::package::PackageOptions;
use crate::tasks::run::RunOptions;

pub const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build [--release]      build baton-host, baton-server and the extension (dist/extension/)
  run [--listen ADDR]    release build, start baton-server, register the host, open Chromium
  test                   install what the tests need, build, run all tests
  bench                  run benchmarks
  package [--server URL] [--download-base URL]
                         release build, then an installable bundle in dist/baton-VERSION/
                         (packed extension, binaries, manifests, policies, SHA256SUMS)

environment:
  BATON_WASM_ROUTE=a|b   force rustup's wasm32 target (a) or Debian's rustc-web (b)
  BATON_EXTENSION_KEY    PEM key that signs the .crx (default: the development key)";

pub enum Task {
    Build { release: bool },
    Run(RunOptions),
    Test,
    Bench,
    Package(PackageOptions),
    Help,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Task> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else { return Ok(Task::Help) };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "build" => match rest.as_slice() {
            [] => Ok(Task::Build { release: false }),
            [flag] if flag == "--release" => Ok(Task::Build { release: true }),
            _ => Err(unexpected(&command, &rest)),
        },
        "run" => match rest.as_slice() {
            [] => Ok(Task::Run(RunOptions { listen: None })),
            [flag, addr] if flag == "--listen" => Ok(Task::Run(RunOptions { listen: Some(addr.clone()) })),
            _ => Err(unexpected(&command, &rest)),
        },
        "package" => parse_package(&rest).map(Task::Package).ok_or_else(|| unexpected(&command, &rest)),
        "test" if rest.is_empty() => Ok(Task::Test),
        "bench" if rest.is_empty() => Ok(Task::Bench),
        "help" | "-h" | "--help" => Ok(Task::Help),
        "test" | "bench" => Err(unexpected(&command, &rest)),
        other => Err(Error::Usage(format!("unknown command `{other}`"))),
    }
}

fn parse_package(rest: &[String]) -> Option<PackageOptions> {
    let mut options = PackageOptions::default();
    let mut args = rest.iter();
    while let Some(flag) = args.next() {
        let value = args.next()?.clone();
        match flag.as_str() {
            "--server" => options.server_url = Some(value),
            "--download-base" => options.download_base = Some(value),
            _ => return None,
        }
    }
    Some(options)
}

fn unexpected(command: &str, rest: &[String]) -> Error {
    Error::Usage(format!("unexpected arguments for `{command}`: {}", rest.join(" ")))
}
