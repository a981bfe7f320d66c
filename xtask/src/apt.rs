//! Debian packages: what is installed, and installing more (as root).

use std::process::Command;

use crate::error::{Error, Result};
use crate::process;
use crate::signals;
use crate::ui;

/// Installs packages, refreshing the package lists once per run.
#[derive(Default)]
pub struct Apt {
    updated: bool,
}

impl Apt {
    /// `why` completes "installing … needs root to …" in the error shown to non-root users.
    pub fn install(&mut self, packages: &[&str], why: &str) -> Result<()> {
        if !signals::is_root() {
            return Err(Error::Setup(format!(
                "{why} needs these Debian packages: {list}.\n\
                 Installing them needs root. Run `sudo apt-get install -y --no-install-recommends {list}`, \
                 or run this command as root.",
                list = packages.join(" ")
            )));
        }
        if !process::on_path("apt-get") {
            return Err(Error::Setup(format!(
                "{why} needs the Debian packages {}, but this machine has no apt-get",
                packages.join(" ")
            )));
        }
        if !self.updated {
            ui::step("refreshing Debian package lists (apt-get update)");
            process::run(apt_get().arg("update"))?;
            self.updated = true;
        }
        ui::step(format!("installing {}", packages.join(" ")));
        process::run(apt_get().args(["install", "-y", "--no-install-recommends"]).args(packages))
    }
}

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    // CI runs without a terminal or stdin: never ask questions.
    cmd.env("DEBIAN_FRONTEND", "noninteractive").stdin(std::process::Stdio::null());
    cmd
}

/// Installed version of each package (None when not installed), in the order asked.
pub fn installed_versions(packages: &[&str]) -> Vec<Option<String>> {
    if !process::on_path("dpkg-query") {
        return vec![None; packages.len()];
    }
    let listing = process::capture_any(
        Command::new("dpkg-query").arg("-W").arg("-f=${Package}\t${Status}\t${Version}\n").args(packages),
    )
    .unwrap_or_default();
    packages
        .iter()
        .map(|name| {
            listing.lines().find_map(|line| {
                let mut fields = line.split('\t');
                let (pkg, status, version) = (fields.next()?, fields.next()?, fields.next()?);
                let pkg = pkg.split(':').next().unwrap_or(pkg); // strip ":amd64"
                (pkg == *name && status.ends_with(" installed")).then(|| version.to_string())
            })
        })
        .collect()
}
