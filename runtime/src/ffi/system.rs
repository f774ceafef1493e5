//! The library's version and what it runs on.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::status::boundary;
use crate::Isa;

/// The major version: a change here breaks the ABI (and the SONAME `libedge.so.MAJOR`).
#[allow(dead_code)] // for C: include/edge.h
pub const EDGE_VERSION_MAJOR: u32 = 0;
/// The minor version: additions only.
#[allow(dead_code)] // for C: include/edge.h
pub const EDGE_VERSION_MINOR: u32 = 1;
/// The patch version: fixes only.
#[allow(dead_code)] // for C: include/edge.h
pub const EDGE_VERSION_PATCH: u32 = 0;

/// The library's version, "MAJOR.MINOR.PATCH" (a static string). Compare it with the
/// `EDGE_VERSION_*` macros of the header you compiled against.
#[no_mangle]
pub extern "C" fn edge_version() -> *const c_char {
    boundary("edge_version", c"".as_ptr(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// One line: the kernels sessions use by default and every set this CPU runs, e.g.
/// "isa: avx2 (available: scalar avx2)". A static string, never NULL.
#[no_mangle]
pub extern "C" fn edge_system_info() -> *const c_char {
    static INFO: OnceLock<CString> = OnceLock::new();
    boundary("edge_system_info", c"".as_ptr(), || {
        INFO.get_or_init(|| {
            let default = match Isa::detect() {
                Ok(isa) => isa.name().to_string(),
                Err(e) => format!("none ({e})"),
            };
            let available: Vec<_> = Isa::available().map(|i| i.name()).collect();
            let line = format!("isa: {default} (available: {})", available.join(" "));
            CString::new(line.replace('\0', " ")).unwrap_or_default()
        })
        .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_macros_follow_the_crate_version() {
        let parts = [EDGE_VERSION_MAJOR, EDGE_VERSION_MINOR, EDGE_VERSION_PATCH];
        let text = parts.map(|p| p.to_string()).join(".");
        assert_eq!(text, env!("CARGO_PKG_VERSION"));
    }
}
