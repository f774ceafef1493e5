//! The shared library's SONAME: `libedge.so.MAJOR`, so programs linked against it keep
//! loading the same ABI after a minor update.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".to_string());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libedge.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
