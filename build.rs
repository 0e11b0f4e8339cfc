//! Computes `PORTAL_SOURCE_HASH`: SHA-256 over the server's source files, reported by admin health;
//! and `web_assets.rs`: every file under `web/` as an `include_bytes!` entry with a content hash for
//! its `ETag`, so the front is embedded in the binary and a new file needs no Rust change.

use std::fmt::Write as _;
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

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn source_hash() {
    let mut files = Vec::new();
    for dir in ["src", "migrations", "web"] {
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
    println!("cargo:rustc-env=PORTAL_SOURCE_HASH={}", hex(&hasher.finalize()));
}

/// `$OUT_DIR/web_assets.rs`: a slice expression of `WebAsset` (defined in `src/http/web.rs`), one
/// per file under `web/`, keyed by its path relative to `web/` with `/` separators. Hidden files
/// (editor droppings) are left out.
fn web_assets() {
    let root = Path::new("web");
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        let relative = file.strip_prefix(root).expect("under web/");
        let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts.iter().any(|p| p.starts_with('.')) {
            continue;
        }
        let bytes = std::fs::read(file).expect("a readable web file");
        let etag = &hex(&Sha256::digest(&bytes))[..32];
        let absolute = std::fs::canonicalize(file).expect("a web file's absolute path");
        writeln!(
            table,
            "    WebAsset {{ path: {:?}, bytes: include_bytes!({:?}), etag: \"\\\"{etag}\\\"\" }},",
            parts.join("/"),
            absolute.to_string_lossy(),
        )
        .expect("writing to a string");
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("web_assets.rs");
    std::fs::write(out, table).expect("writing web_assets.rs");
}

fn main() {
    source_hash();
    web_assets();
}
