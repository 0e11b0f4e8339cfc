//! Computes `PORTAL_SOURCE_HASH`: SHA-256 over the server's source files, reported by admin health.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let mut files = Vec::new();
    for dir in ["src", "migrations"] {
        collect(Path::new(dir), &mut files);
        println!("cargo:rerun-if-changed={dir}");
    }
    files.push(PathBuf::from("Cargo.toml"));
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        if let Ok(bytes) = std::fs::read(file) {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update(&bytes);
        }
    }
    let hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=PORTAL_SOURCE_HASH={hash}");
}
