//! Finds a static OpenBLAS for the linear layers' matmuls, or falls back to the `gemm` crate
//! with a warning. It must be a threaded build (pthreads or OpenMP): the engine calls it from
//! several threads at once, one OpenBLAS thread each, and Debian's serial build shares its
//! buffers between concurrent calls. `CITADEL_OPENBLAS_LIB_DIR` names the folder holding
//! `libopenblas.a`; `CITADEL_OPENBLAS=off` skips the search. On Debian/Ubuntu:
//! `apt-get install libopenblas-pthread-dev`.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(citadel_openblas)");
    println!("cargo::rerun-if-env-changed=CITADEL_OPENBLAS_LIB_DIR");
    println!("cargo::rerun-if-env-changed=CITADEL_OPENBLAS");
    if std::env::var("CITADEL_OPENBLAS").is_ok_and(|v| v == "off") {
        return;
    }
    let candidates: Vec<PathBuf> = match std::env::var_os("CITADEL_OPENBLAS_LIB_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => debian_dirs(),
    };
    for dir in &candidates {
        let lib = dir.join("libopenblas.a");
        println!("cargo::rerun-if-changed={}", lib.display());
        if lib.is_file() {
            println!("cargo::rustc-link-search=native={}", dir.display());
            println!("cargo::rustc-link-lib=static=openblas");
            println!("cargo::rustc-cfg=citadel_openblas");
            return;
        }
    }
    println!(
        "cargo::warning=OpenBLAS (pthreads) not found in {candidates:?}: training will use the slower \
         gemm crate. Install libopenblas-pthread-dev or set CITADEL_OPENBLAS_LIB_DIR."
    );
}

/// Where Debian's `libopenblas-pthread-dev` puts the library for the target.
fn debian_dirs() -> Vec<PathBuf> {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return Vec::new();
    }
    vec![PathBuf::from(format!(
        "/usr/lib/{arch}-linux-gnu/openblas-pthread"
    ))]
}
