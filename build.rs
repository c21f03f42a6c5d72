//! Embeds the default handler: zips `handler/` byte-stably with the same code the binary
//! uses for a handler folder (`src/package.rs`) and records its `CodeSha256`, so `up` can
//! tell whether the deployed code is this code without a handler folder at run time.

#[path = "src/package.rs"]
#[allow(dead_code)]
mod package;

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=handler");
    // The same package a `handler = "handler"` setting gives at run time (tests/, caches and
    // hidden files left out), so both have one CodeSha256.
    let p = package::from_folder(Path::new("handler"), &package::Exclude::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("handler.zip"), &p.zip).expect("write handler.zip");
    std::fs::write(out.join("handler.sha256"), &p.sha256).expect("write handler.sha256");
}
