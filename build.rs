//! Embeds the default handler: zips `handler/*.py` byte-stably with the same code the binary
//! uses for a handler folder (`src/package.rs`) and records its `CodeSha256`, so `up` can
//! tell whether the deployed code is this code without a handler folder at run time.

#[path = "src/package.rs"]
#[allow(dead_code)]
mod package;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn main() {
    let handler = Path::new("handler");
    println!("cargo:rerun-if-changed=handler");
    let mut entries = BTreeMap::new();
    for entry in std::fs::read_dir(handler).expect("handler/ is readable") {
        let path = entry.expect("handler/ entry").path();
        if !(path.is_file() && path.extension().is_some_and(|e| e == "py")) {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name")
            .to_string();
        entries.insert(
            name,
            std::fs::read(&path).expect("handler file is readable"),
        );
    }
    assert!(
        entries.contains_key(package::ENTRY_FILE),
        "handler/index.py is missing"
    );
    let p = package::Package::new(&entries).expect("zip the handler");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("handler.zip"), &p.zip).expect("write handler.zip");
    std::fs::write(out.join("handler.sha256"), &p.sha256).expect("write handler.sha256");
}
