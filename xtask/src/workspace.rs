//! Where things are in the repository, and what Cargo.lock says.

use std::env;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const HOST_PACKAGE: &str = "baton-host";
pub const SERVER_PACKAGE: &str = "baton-server";
pub const EXTENSION_PACKAGE: &str = "baton-extension";
/// File stem of the extension's Wasm and of the wasm-bindgen output.
pub const EXTENSION_ARTIFACT: &str = "baton_extension";
pub const EXTENSION_ID: &str = "iclfinohpipjahhnkmeiddmpdphogdem";

pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Workspace {
    pub fn locate() -> Result<Self> {
        // `cargo run` sets CARGO_MANIFEST_DIR for the running binary; the
        // compile-time value is the fallback when started some other way.
        let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .filter(|root| root.join("Cargo.toml").is_file())
            .ok_or_else(|| {
                Error::Setup(format!(
                    "cannot find the workspace root above {}; run this through `cargo xtask` from the repository",
                    manifest_dir.display()
                ))
            })?
            .to_path_buf();
        let target = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    env::current_dir().map_err(|e| Error::io("reading the current directory", e))?.join(dir)
                }
            }
            None => root.join("target"),
        };
        Ok(Workspace { root, target })
    }

    pub fn bin(&self, release: bool, name: &str) -> PathBuf {
        self.target.join(if release { "release" } else { "debug" }).join(name)
    }

    pub fn dist_extension(&self) -> PathBuf {
        self.root.join("dist").join("extension")
    }

    pub fn extension_static(&self) -> PathBuf {
        self.root.join("extension").join("static")
    }

    /// Downloaded tools and the dev browser profile; gitignored.
    pub fn tools(&self) -> PathBuf {
        self.root.join(".tools")
    }

    pub fn lockfile(&self) -> PathBuf {
        self.root.join("Cargo.lock")
    }

    pub fn read_lock(&self) -> Result<Lock> {
        let path = self.lockfile();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Ok(Lock::parse(&text))
    }
}

/// The few facts we need from Cargo.lock; a line parser is enough for its
/// fixed layout and keeps the build tool free of a TOML dependency.
#[derive(Debug, Default)]
pub struct Lock {
    packages: Vec<LockPackage>,
}

#[derive(Debug, Default, Clone)]
struct LockPackage {
    name: String,
    version: String,
    /// Entries as written: `name` or `name version` when ambiguous.
    dependencies: Vec<String>,
}

impl Lock {
    pub fn parse(text: &str) -> Self {
        let mut packages = Vec::new();
        let mut current: Option<LockPackage> = None;
        let mut in_deps = false;
        for line in text.lines() {
            let line = line.trim();
            if line == "[[package]]" {
                packages.extend(current.take());
                current = Some(LockPackage::default());
                in_deps = false;
                continue;
            }
            let Some(pkg) = current.as_mut() else { continue };
            if in_deps {
                if line.starts_with(']') {
                    in_deps = false;
                } else if let Some(dep) = quoted(line) {
                    pkg.dependencies.push(dep.to_string());
                }
            } else if let Some(value) = line.strip_prefix("name = ") {
                pkg.name = quoted(value).unwrap_or_default().to_string();
            } else if let Some(value) = line.strip_prefix("version = ") {
                pkg.version = quoted(value).unwrap_or_default().to_string();
            } else if line.starts_with("dependencies = [") {
                // Either inline (`[]`) or one entry per following line.
                in_deps = !line.ends_with(']');
            }
        }
        packages.extend(current);
        Lock { packages }
    }

    /// The version of `dep` that `package` resolves to, if it depends on it.
    pub fn dependency_version(&self, package: &str, dep: &str) -> Option<String> {
        let pkg = self.packages.iter().find(|p| p.name == package)?;
        let entry = pkg.dependencies.iter().find(|d| d.split(' ').next() == Some(dep))?;
        if let Some(version) = entry.split(' ').nth(1) {
            return Some(version.to_string());
        }
        self.packages.iter().find(|p| p.name == dep).map(|p| p.version.clone())
    }
}

fn quoted(text: &str) -> Option<&str> {
    let text = text.trim().trim_end_matches(',');
    text.strip_prefix('"')?.strip_suffix('"')
}

/// Repository-relative path for messages.
pub fn relative<'a>(ws: &Workspace, path: &'a Path) -> std::borrow::Cow<'a, str> {
    match path.strip_prefix(&ws.root) {
        Ok(rel) => rel.to_string_lossy(),
        Err(_) => path.to_string_lossy(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "baton-extension"
version = "0.1.0"
dependencies = [
 "js-sys",
 "wasm-bindgen 0.2.100",
]

[[package]]
name = "baton-shared"
version = "0.1.0"
dependencies = []

[[package]]
name = "wasm-bindgen"
version = "0.2.100"

[[package]]
name = "wasm-bindgen"
version = "0.2.99"
"#;

    #[test]
    fn finds_pinned_dependency_version() {
        let lock = Lock::parse(LOCK);
        assert_eq!(lock.dependency_version("baton-extension", "wasm-bindgen").as_deref(), Some("0.2.100"));
    }

    #[test]
    fn finds_unambiguous_dependency_version() {
        let lock = Lock::parse(&LOCK.replace("\"wasm-bindgen 0.2.100\"", "\"wasm-bindgen\""));
        assert_eq!(lock.dependency_version("baton-extension", "wasm-bindgen").as_deref(), Some("0.2.100"));
    }

    #[test]
    fn absent_dependency_is_none() {
        let lock = Lock::parse(LOCK);
        assert_eq!(lock.dependency_version("baton-shared", "wasm-bindgen"), None);
        assert_eq!(lock.dependency_version("missing", "wasm-bindgen"), None);
    }
}
