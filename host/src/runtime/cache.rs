//! The compiled-component cache: compiling a plugin takes a hundred
//! milliseconds or more, loading a compiled one well under one.
//!
//! Entries are named by the SHA-256 of the `.wasm` and a digest of the
//! engine's settings (an artifact compiled with other settings is refused by
//! wasmtime anyway). Each entry starts with the SHA-256 of the rest, so a
//! truncated or corrupted file is noticed, thrown away and rebuilt rather
//! than handed to the deserializer.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        Self { dir, engine_key }
    }

    fn entry(&self, wasm_digest: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_digest}-{}.cwasm", self.engine_key))
    }

    /// The cached component for `wasm_digest`, if a sound entry exists.
    pub fn get(&self, engine: &Engine, wasm_digest: &str) -> Option<Component> {
        let path = self.entry(wasm_digest);
        let bytes = std::fs::read(&path).ok()?;
        let Some(artifact) = verified(&bytes) else {
            tracing::warn!(entry = %path.display(), "corrupt cache entry; recompiling");
            remove(&path);
            return None;
        };
        match deserialize(engine, artifact) {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(entry = %path.display(), error = %err, "stale cache entry; recompiling");
                remove(&path);
                None
            }
        }
    }

    /// Stores `component`. Failing to cache only costs time later, so
    /// errors are logged, not returned.
    pub fn put(&self, wasm_digest: &str, component: &Component) {
        if let Err(err) = self.try_put(wasm_digest, component) {
            tracing::warn!(dir = %self.dir.display(), error = %err, "cannot cache a compiled plugin");
        }
    }

    fn try_put(&self, wasm_digest: &str, component: &Component) -> anyhow::Result<()> {
        let artifact = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut bytes = Sha256::digest(&artifact).to_vec();
        bytes.extend_from_slice(&artifact);
        std::fs::create_dir_all(&self.dir)?;
        // Write then rename, so a reader never sees half an entry.
        let path = self.entry(wasm_digest);
        let partial = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, &path)?;
        Ok(())
    }
}

/// The artifact after its checksum, when the checksum matches.
fn verified(bytes: &[u8]) -> Option<&[u8]> {
    let (checksum, artifact) = bytes.split_at_checked(32)?;
    (Sha256::digest(artifact).as_slice() == checksum).then_some(artifact)
}

#[expect(
    unsafe_code,
    reason = "wasmtime can only load compiled code through an unsafe call"
)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: the bytes are an artifact this host serialized itself with an
    // engine of the same configuration (the file name says so), read back
    // from the host's own cache folder, and their checksum matched, so they
    // are not truncated or corrupted. wasmtime still checks the version and
    // settings recorded in the artifact.
    unsafe { Component::deserialize(engine, artifact) }
}

fn remove(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        tracing::warn!(entry = %path.display(), error = %err, "cannot remove a bad cache entry");
    }
}

/// Feeds `Hash` output into SHA-256, so the engine key is the same in every
/// run of this binary.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is read from the inner state.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_guards_every_entry() {
        let artifact = b"compiled code".to_vec();
        let mut entry = Sha256::digest(&artifact).to_vec();
        entry.extend_from_slice(&artifact);
        assert_eq!(verified(&entry), Some(&artifact[..]));

        let mut flipped = entry.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(verified(&flipped), None);
        assert_eq!(verified(&entry[..entry.len() - 1]), None);
        assert_eq!(verified(&entry[..10]), None);
    }
}
