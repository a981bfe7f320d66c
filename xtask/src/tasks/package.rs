//! `cargo xtask package`: a release build, then an installable bundle in
//! `dist/baton-<version>/` (and the same as `dist/baton-<version>.zip`):
//!
//! ```text
//! extension/baton-<version>.zip     the packed extension (Chromium, Firefox)
//! extension/baton-<version>.crx     signed CRX3 (when openssl and the key are available)
//! extension/updates.xml             update manifest for ExtensionInstallForcelist
//! bin/baton-host, bin/baton-server
//! manifests/                        native messaging host manifest templates
//! policies/                         policy templates, filled in
//! windows/baton-host-system.reg     HKLM registration of the host
//! SHA256SUMS                        `sha256sum -c SHA256SUMS`
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt::Apt;
use crate::error::{Error, Result};
use crate::package::policy::{self, Format, PolicyValues};
use crate::package::{crx, sha256, zip};
use crate::process;
use crate::report::Report;
use crate::ui;
use crate::workspace::{relative, Workspace, EXTENSION_ID};

pub const FIREFOX_EXTENSION_ID: &str = "baton@baton.invalid";
/// Environment variable naming the PEM key that signs the CRX.
pub const KEY_ENV: &str = "BATON_EXTENSION_KEY";

#[derive(Debug, Clone, Default)]
pub struct PackageOptions {
    pub server_url: Option<String>,
    /// Base URL where the bundle's `extension/` files will be served.
    pub download_base: Option<String>,
}

pub fn package(ws: &Workspace, apt: &mut Apt, options: &PackageOptions) -> Result<PathBuf> {
    let mut report = Report::default();
    let built = super::build::build(ws, apt, true, &mut report)?;
    let version = extension_version(&ws.extension_static().join("manifest.json"))?;
    let bundle = ws.root.join("dist").join(format!("baton-{version}"));
    let result = report.time("assemble bundle", || assemble(ws, &built, &version, &bundle, options));
    report.print("package");
    result?;
    let archive = archive_path(&bundle);
    println!("bundle:    {}", bundle.display());
    println!("archive:   {}", archive.display());
    println!("checksums: {}", bundle.join("SHA256SUMS").display());
    Ok(bundle)
}

fn assemble(
    ws: &Workspace,
    built: &super::build::Built,
    version: &str,
    bundle: &Path,
    options: &PackageOptions,
) -> Result<()> {
    ui::step(format!("assembling {}", relative(ws, bundle)));
    crate::dist::reset(bundle)?;
    let base = options.download_base.clone().unwrap_or_else(|| "https://baton.example.org/extension".to_owned());
    let base = base.trim_end_matches('/');
    let values = PolicyValues {
        extension_id: EXTENSION_ID.to_owned(),
        firefox_extension_id: FIREFOX_EXTENSION_ID.to_owned(),
        update_url: format!("{base}/updates.xml"),
        firefox_install_url: format!("{base}/baton-{version}.zip"),
        server_url: options.server_url.clone().unwrap_or_else(|| "https://baton.example.org".to_owned()),
    };

    // The extension.
    let ext_dir = bundle.join("extension");
    let entries = zip::collect(&built.extension)?;
    let packed = zip::write(&entries, |_| false)?;
    write(&ext_dir.join(format!("baton-{version}.zip")), &packed)?;
    let key = std::env::var_os(KEY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.root.join("manifest").join("keys").join("dev-extension-key.pem"));
    let scratch = ws.target.join("package");
    std::fs::create_dir_all(&scratch).map_err(|e| Error::io(format!("creating {}", scratch.display()), e))?;
    match crx::pack(&packed, &key, &scratch) {
        Ok((crx_bytes, id)) => {
            if id != EXTENSION_ID {
                ui::warn(format!("{} signs as {id}, not {EXTENSION_ID}; policies name {EXTENSION_ID}", key.display()));
            }
            write(&ext_dir.join(format!("baton-{version}.crx")), &crx_bytes)?;
            let crx_url = format!("{base}/baton-{version}.crx");
            write(&ext_dir.join("updates.xml"), policy::update_manifest(&id, version, &crx_url).as_bytes())?;
            if key.ends_with("dev-extension-key.pem") {
                ui::warn(format!("signed with the development key; set {KEY_ENV} to your own key for production"));
            }
        }
        Err(e) => ui::warn(format!("no .crx (needs `openssl` and the key {}): {e}", key.display())),
    }

    // Programs and host manifest templates.
    for program in [&built.host, &built.server] {
        let name = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        copy(program, &bundle.join("bin").join(&name))?;
        set_executable(&bundle.join("bin").join(&name))?;
    }
    let manifests = ws.root.join("manifest");
    for name in ["chromium.json.in", "firefox.json.in", "README.md"] {
        copy(&manifests.join(name), &bundle.join("manifests").join(name))?;
    }

    // Policies, filled in.
    let policies = manifests.join("policies");
    for (template, out) in [
        ("chromium/baton.json.in", "chromium/baton.json"),
        ("firefox/policies.json.in", "firefox/policies.json"),
        ("macos/baton.mobileconfig.in", "macos/baton.mobileconfig"),
        ("windows/baton.admx.in", "windows/baton.admx"),
    ] {
        let path = policies.join(template);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let rendered = policy::render(&text, Format::of(template), &values)
            .map_err(|e| Error::Setup(format!("{}: unknown placeholder @{}@", path.display(), e.0)))?;
        write(&bundle.join("policies").join(out), rendered.as_bytes())?;
    }
    copy(&policies.join("windows/en-US/baton.adml"), &bundle.join("policies/windows/en-US/baton.adml"))?;

    // The Windows registration, from the host itself.
    let reg = process::capture(Command::new(&built.host).args(["registry-file", "--system"]))?;
    write(&bundle.join("windows").join("baton-host-system.reg"), reg.as_bytes())?;

    // Checksums of everything, then the archive of the whole bundle.
    let files = zip::collect(bundle)?;
    let sums: String =
        files.iter().map(|(name, bytes)| format!("{}  {name}\n", sha256::hex(&sha256::digest(bytes)))).collect();
    write(&bundle.join("SHA256SUMS"), sums.as_bytes())?;
    let top = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let all: Vec<(String, Vec<u8>)> =
        zip::collect(bundle)?.into_iter().map(|(name, bytes)| (format!("{top}/{name}"), bytes)).collect();
    let archive = zip::write(&all, |name| name.contains("/bin/"))?;
    write(&archive_path(bundle), &archive)?;
    ui::note(format!("{} files, {} bytes archived", files.len() + 1, archive.len()));
    Ok(())
}

/// `dist/baton-1.2.3.zip` next to `dist/baton-1.2.3/` (not `with_extension`,
/// which would take `.3` for an extension).
fn archive_path(bundle: &Path) -> PathBuf {
    let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    bundle.with_file_name(format!("{name}.zip"))
}

/// `"version": "…"` from the extension's manifest.json.
fn extension_version(manifest: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| Error::io(format!("reading {}", manifest.display()), e))?;
    parse_version(&text).ok_or_else(|| Error::Setup(format!("{} has no \"version\"", manifest.display())))
}

fn parse_version(manifest_json: &str) -> Option<String> {
    let after = &manifest_json[manifest_json.find("\"version\"")? + "\"version\"".len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let version = &after[..after.find('"')?];
    (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.')).then(|| version.to_owned())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    write(to, &bytes)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_keeps_the_whole_version() {
        assert_eq!(archive_path(Path::new("/d/dist/baton-0.1.0")), Path::new("/d/dist/baton-0.1.0.zip"));
    }

    #[test]
    fn version_from_manifest() {
        assert_eq!(parse_version("{\n \"name\": \"x\",\n \"version\" : \"0.1.0\",\n}").as_deref(), Some("0.1.0"));
        assert_eq!(parse_version("{\"version\": \"1.0-beta\"}"), None);
        assert_eq!(parse_version("{}"), None);
    }
}
