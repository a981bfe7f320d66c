//! Building blocks of `cargo xtask package`: ZIP and CRX3 writers, SHA-256
//! for the checksum file, and policy template rendering.

pub mod crx;
pub mod policy;
pub mod sha256;
pub mod zip;
