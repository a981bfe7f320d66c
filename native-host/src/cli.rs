//! The command line a person uses: `install`, `uninstall`, `doctor`,
//! `join-org`. Anything else on the command line is a browser launching the
//! host.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::doctor::{self, DoctorOptions};
use crate::install::{self, InstallError, Uninstalled};
use crate::manifests::{self, Browser, Scope, UserDirs};
use crate::paths::HostPaths;

const COMMANDS: [&str; 10] =
    ["install", "uninstall", "doctor", "join-org", "registry-file", "help", "--help", "-h", "--version", "-V"];

/// Exit status for usage errors, as clap uses.
const USAGE_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "baton-host",
    version,
    about = "Baton's native messaging host.",
    long_about = "Baton's native messaging host. The browser starts it for the Baton extension; \
                  run it yourself to install, remove or check that registration.",
    after_help = "The browser starts baton-host as `baton-host chrome-extension://ID/` \
                  (Firefox: `baton-host MANIFEST ID`); there is nothing to run by hand for that."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register this program with a browser (writes its native messaging host manifest).
    /// With --system and no --browser: every supported browser's system location.
    Install {
        /// Browser(s) to register with; may be repeated.
        #[arg(long, value_enum, required_unless_present = "system")]
        browser: Vec<Browser>,
        #[command(flatten)]
        target: Target,
        /// Baton server to use, saved to config.json (http:// or https://).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Remove the registration written by `install` (--system without --browser: every browser).
    Uninstall {
        #[arg(long, value_enum, required_unless_present = "system")]
        browser: Vec<Browser>,
        #[command(flatten)]
        target: Target,
    },
    /// Check the registration, the data directory, the configuration and the server.
    Doctor {
        /// Browser(s) to check; default: every browser installed here.
        #[arg(long, value_enum)]
        browser: Vec<Browser>,
        /// Check the manifest in this Chromium-family profile directory only.
        #[arg(long, value_name = "DIR")]
        user_data_dir: Option<PathBuf>,
    },
    /// Join an organisation: this device's account accepts the invitation
    /// code the organisation's admin gave (its co-browsing sessions then
    /// follow the organisation's rules, and its admins see their audit log).
    JoinOrg {
        /// The invitation code.
        code: String,
    },
    /// Print the Windows .reg file that registers the host with every browser.
    RegistryFile {
        /// HKEY_LOCAL_MACHINE (every user) instead of HKEY_CURRENT_USER.
        #[arg(long)]
        system: bool,
        /// Full Windows path of the Chromium-family manifest.
        #[arg(long, value_name = "PATH", default_value = r"C:\Program Files\Baton\org.baton.host.json")]
        manifest: String,
        /// Full Windows path of the Firefox manifest.
        #[arg(long, value_name = "PATH", default_value = r"C:\Program Files\Baton\org.baton.host.firefox.json")]
        firefox_manifest: String,
    },
}

#[derive(Debug, Args)]
struct Target {
    /// Chromium-family profile directory (as passed to the browser's --user-data-dir).
    #[arg(long, value_name = "DIR", conflicts_with = "system")]
    user_data_dir: Option<PathBuf>,
    /// Install for every user of this machine (needs root).
    #[arg(long)]
    system: bool,
}

impl Target {
    fn scope(&self) -> Scope {
        match (&self.user_data_dir, self.system) {
            (Some(dir), _) => Scope::UserDataDir(dir.clone()),
            (None, true) => Scope::System,
            (None, false) => Scope::User,
        }
    }
}

/// True when `args` are a person's command line rather than a browser launch.
pub fn is_command_line(args: &[String]) -> bool {
    match args.get(1) {
        None => true,
        Some(first) => COMMANDS.contains(&first.as_str()),
    }
}

pub fn run(args: &[String]) -> ExitCode {
    if args.len() <= 1 {
        let mut cmd = Cli::command();
        // Printing help can only fail on a closed stdout; the exit code still says why.
        let _ = cmd.print_help();
        eprintln!("\nbaton-host: no command given. The browser starts this program itself; run `baton-host install --browser …` to register it.");
        return ExitCode::from(USAGE_ERROR);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(USAGE_ERROR));
        }
    };
    let result = match cli.command {
        Command::Install { browser, target, server } => {
            run_install(&browsers(browser, &target), &target.scope(), server.as_deref())
        }
        Command::Uninstall { browser, target } => run_uninstall(&browsers(browser, &target), &target.scope()),
        Command::RegistryFile { system, manifest, firefox_manifest } => {
            print!("{}", manifests::registry_file(system, &manifest, &firefox_manifest));
            return ExitCode::SUCCESS;
        }
        Command::Doctor { browser, user_data_dir } => {
            return run_doctor(&DoctorOptions { browsers: browser, user_data_dir });
        }
        Command::JoinOrg { code } => return run_join_org(&code),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-host: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The browsers named, or with `--system` and none named, every one.
fn browsers(named: Vec<Browser>, target: &Target) -> Vec<Browser> {
    if named.is_empty() && target.system {
        Browser::ALL.to_vec()
    } else {
        named
    }
}

fn run_install(browsers: &[Browser], scope: &Scope, server: Option<&str>) -> Result<(), InstallError> {
    let user = UserDirs::from_env()?;
    let host_paths = HostPaths::from_env()?;
    let host_path = install::current_host_path()?;
    let mut written = Vec::new();
    for (i, &browser) in browsers.iter().enumerate() {
        // The server URL is saved once, with the first manifest.
        let server = if i == 0 { server } else { None };
        let done = install::install(browser, scope, server, &host_path, &user, &host_paths.config_file())?;
        if written.contains(&done.manifest) {
            println!("{browser} reads {} too", done.manifest.display());
            continue;
        }
        println!("wrote {} ({browser}, {})", done.manifest.display(), scope.describe());
        println!("  host path:  {}", done.host_path.display());
        println!("  {}: {}", browser.allow_list_field(), browser.allowed_entry());
        if let Some((url, config)) = &done.server_url {
            println!("saved server_url {url} to {}", config.display());
        }
        written.push(done.manifest);
    }
    Ok(())
}

fn run_uninstall(browsers: &[Browser], scope: &Scope) -> Result<(), InstallError> {
    let user = UserDirs::from_env()?;
    for &browser in browsers {
        match install::uninstall(browser, scope, &user)? {
            Uninstalled::Removed(path) => println!("removed {}", path.display()),
            Uninstalled::NothingToRemove(path) => println!("nothing to remove: {} does not exist", path.display()),
        }
    }
    Ok(())
}

fn run_join_org(code: &str) -> ExitCode {
    match crate::org::join(code) {
        Ok((server, joined)) => {
            println!(
                "this device's account joined organisation {} on {server} as {}",
                joined.org_id,
                joined.role.as_str()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("baton-host: cannot join the organisation: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_doctor(options: &DoctorOptions) -> ExitCode {
    let results = doctor::run_checks(options);
    let mut out = std::io::stdout().lock();
    if let Err(e) = doctor::print(&results, &mut out) {
        eprintln!("baton-host: cannot print the report: {e}");
        return ExitCode::FAILURE;
    }
    if doctor::all_ok(&results) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn browser_launches_are_not_commands() {
        assert!(is_command_line(&args(&["baton-host"])));
        assert!(is_command_line(&args(&["baton-host", "doctor"])));
        assert!(is_command_line(&args(&["baton-host", "-V"])));
        assert!(!is_command_line(&args(&["baton-host", "chrome-extension://abc/"])));
        assert!(!is_command_line(&args(&["baton-host", "/x/org.baton.host.json", "baton@baton.invalid"])));
    }

    #[test]
    fn parses_commands() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(args(&["baton-host", "install", "--browser", "edge", "--system"])).unwrap();
        assert!(matches!(cli.command, Command::Install { ref browser, ref target, .. }
            if browser == &[Browser::Edge] && target.scope() == Scope::System));
        let all = Cli::try_parse_from(args(&["baton-host", "install", "--system"])).unwrap();
        let Command::Install { browser, target, .. } = all.command else { panic!("not install") };
        assert_eq!(browsers(browser, &target), Browser::ALL.to_vec());
        assert!(Cli::try_parse_from(args(&["baton-host", "install"])).is_err(), "--browser or --system");
        assert!(Cli::try_parse_from(args(&["baton-host", "registry-file", "--system"])).is_ok());
        let both = ["baton-host", "install", "--browser", "edge", "--system", "--user-data-dir", "/p"];
        assert!(Cli::try_parse_from(args(&both)).is_err());
        assert!(Cli::try_parse_from(args(&["baton-host", "install", "--browser", "opera"])).is_err());
    }
}
