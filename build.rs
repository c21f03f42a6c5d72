//! Zips `handler/*.py` into a byte-stable deployment package (sorted entries, fixed
//! timestamps and permissions, no compression) and records base64(sha256(zip)), the form of
//! Lambda's `CodeSha256`, so `up` can tell whether the deployed code is this code.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

fn main() {
    let handler = Path::new("handler");
    println!("cargo:rerun-if-changed=handler");
    let mut files: Vec<PathBuf> = std::fs::read_dir(handler)
        .expect("handler/ is readable")
        .map(|e| e.expect("handler/ entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|p| p.ends_with("index.py")),
        "handler/index.py is missing"
    );

    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        zip.start_file(name, options).expect("zip entry");
        zip.write_all(&std::fs::read(path).expect("handler file is readable"))
            .expect("zip write");
    }
    let bytes = zip.finish().expect("zip finish").into_inner();
    let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("handler.zip"), &bytes).expect("write handler.zip");
    std::fs::write(out.join("handler.sha256"), sha).expect("write handler.sha256");
}
