//! Assembling the loadable unpacked extension in dist/extension/.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// Removes whatever a previous build left, so deleted files do not linger.
pub fn reset(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Copies `from` into `to` recursively; returns the number of files copied.
pub fn copy_tree(from: &Path, to: &Path) -> Result<usize> {
    let entries = fs::read_dir(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    let mut copied = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        let source = entry.path();
        let dest = to.join(entry.file_name());
        if source.is_dir() {
            fs::create_dir_all(&dest).map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
            copied += copy_tree(&source, &dest)?;
        } else {
            fs::copy(&source, &dest)
                .map_err(|e| Error::io(format!("copying {} to {}", source.display(), dest.display()), e))?;
            copied += 1;
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_nested_files_and_resets() {
        let base = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        let (from, to) = (base.join("from"), base.join("to"));
        fs::create_dir_all(from.join("icons")).unwrap();
        fs::write(from.join("manifest.json"), "{}").unwrap();
        fs::write(from.join("icons/a.png"), "x").unwrap();
        fs::create_dir_all(&to).unwrap();
        fs::write(to.join("stale.js"), "old").unwrap();

        reset(&to).unwrap();
        assert_eq!(copy_tree(&from, &to).unwrap(), 2);
        assert!(to.join("icons/a.png").is_file());
        assert!(!to.join("stale.js").exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
