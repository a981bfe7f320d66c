//! The vault seals secrets at rest with AES-256-GCM (ring). Its key lives in
//! a 0600 file under the config dir, created on first use.
//!
//! Sealed format: 12-byte random nonce || ciphertext || 16-byte tag. The
//! caller's `context` is bound as associated data, so a sealed value moved to
//! another row does not open.

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read or create the vault key {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("vault key {path} is damaged (expected {KEY_LEN} bytes); remove it to start over (this device will need to register again)")]
    BadKey { path: String },
    #[error("vault key {path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")]
    KeyPermissions { path: String, mode: u32 },
    #[error("the system random generator failed")]
    Random,
    #[error("a sealed secret does not open with this vault key (damaged, or sealed for another context)")]
    Open,
}

pub struct Vault {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Vault {
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        let rng = SystemRandom::new();
        let io_err = |source| VaultError::KeyFile { path: path.display().to_string(), source };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => {
                check_permissions(path)?;
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path, &rng).map_err(|e| match e {
                CreateError::Io(source) => io_err(source),
                CreateError::Random => VaultError::Random,
            })?,
            Err(source) => return Err(io_err(source)),
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| VaultError::BadKey { path: path.display().to_string() })?;
        Ok(Self { key: LessSafeKey::new(key), rng })
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut out)
            .map_err(|_| VaultError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Open)?;
        let mut buf = body.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(context), &mut buf).map_err(|_| VaultError::Open)?;
        Ok(plain.to_vec())
    }
}

enum CreateError {
    Io(std::io::Error),
    Random,
}

/// Writes a fresh key with mode 0600 from the start (never world-readable,
/// not even briefly) to a temp file of its own, then links it into place
/// unless another host starting at the same time got there first: then its
/// key is the one, and ours is dropped.
fn create_key(path: &Path, rng: &SystemRandom) -> Result<Vec<u8>, CreateError> {
    let mut key = vec![0u8; KEY_LEN];
    rng.fill(&mut key).map_err(|_| CreateError::Random)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(CreateError::Io)?;
    }
    let tmp = temp_path(path, rng)?;
    let written = write_new(&tmp, &key);
    // A hard link, unlike a rename, fails when the name exists.
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path).map_err(CreateError::Io),
        Err(e) => Err(CreateError::Io(e)),
    }
}

/// A temp name no other process or thread uses (a shared one would let a
/// concurrent start truncate the key being linked into place).
fn temp_path(path: &Path, rng: &SystemRandom) -> Result<PathBuf, CreateError> {
    let mut nonce = [0u8; 8];
    rng.fill(&mut nonce).map_err(|_| CreateError::Random)?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Ok(path.with_extension(format!("key.{}-{nonce}.tmp", std::process::id())))
}

/// Creates `tmp` (never opening an existing file) holding `key`, on disk.
fn write_new(tmp: &Path, key: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    file.write_all(key)?;
    file.sync_all()
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|source| VaultError::KeyFile { path: path.display().to_string(), source })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::KeyPermissions { path: path.display().to_string(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_context_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/vault.key");
        let v = Vault::load_or_create(&path).unwrap();
        let sealed = v.seal(b"secret-token", b"device:1").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(v.open(&sealed, b"device:1").unwrap(), b"secret-token");
        assert!(matches!(v.open(&sealed, b"device:2"), Err(VaultError::Open)));
        assert!(matches!(v.open(&sealed[..5], b"device:1"), Err(VaultError::Open)));
        // Reloading uses the same key.
        let again = Vault::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed, b"device:1").unwrap(), b"secret-token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn hosts_starting_at_once_end_up_with_one_key() {
        const HOSTS: usize = 8;
        for _ in 0..25 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cfg/vault.key");
            let start = std::sync::Barrier::new(HOSTS);
            let vaults: Vec<Vault> = std::thread::scope(|s| {
                let starting: Vec<_> = (0..HOSTS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            Vault::load_or_create(&path).unwrap()
                        })
                    })
                    .collect();
                starting.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let sealed: Vec<Vec<u8>> = vaults.iter().map(|v| v.seal(b"device-token", b"ctx").unwrap()).collect();
            for v in vaults.iter().chain([&Vault::load_or_create(&path).unwrap()]) {
                for s in &sealed {
                    assert_eq!(v.open(s, b"ctx").unwrap(), b"device-token");
                }
            }
            let left: Vec<_> =
                std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
            assert_eq!(left, [std::ffi::OsString::from("vault.key")], "temp files are cleaned up");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_loose_permissions_and_damaged_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        std::fs::write(&path, [7u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(Vault::load_or_create(&path), Err(VaultError::KeyPermissions { .. })));
        std::fs::write(&path, [7u8; 5]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(Vault::load_or_create(&path), Err(VaultError::BadKey { .. })));
    }
}
