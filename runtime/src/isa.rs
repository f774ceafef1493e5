//! The instruction set the kernels use: chosen by name, detected from the CPU, or taken from
//! `EDGE_ISA` (DESIGN convention 3). An [`Isa`] can only be made for an ISA this CPU runs.

use crate::kernels::Kernels;
use crate::{Error, Result};

/// A set of kernels this CPU can run: "scalar" (the portable reference), "avx2" or "avx512"
/// (x86-64), "neon" or "dotprod" (aarch64). Made only after the CPU check, so holding one means it runs
/// here. Pass it in [`crate::SessionParams::isa`]; `None` there means [`Isa::detect`].
#[derive(Clone, Copy)]
pub struct Isa {
    kernels: Kernels,
}

impl Isa {
    /// Every ISA name [`Isa::from_name`] and `EDGE_ISA` accept, best last.
    pub const NAMES: [&'static str; 5] = crate::kernels::dispatch::ISA_NAMES;

    /// The ISA `EDGE_ISA` names (scalar|avx2|avx512|neon|dotprod; case-insensitive), or the
    /// best this CPU runs when it is unset or empty. An unknown `EDGE_ISA`, or one this CPU
    /// cannot run, is an [`Error::InvalidArgument`] naming the value and the ISAs this CPU has.
    pub fn detect() -> Result<Isa> {
        match std::env::var("EDGE_ISA") {
            Ok(name) if !name.trim().is_empty() => Isa::by_name(name.trim())
                .ok_or_else(|| refused(&format!("EDGE_ISA={name}"), name.trim())),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Isa::best()),
            Err(std::env::VarError::NotUnicode(raw)) => Err(Error::InvalidArgument(format!(
                "EDGE_ISA={raw:?}: not valid UTF-8 (this CPU runs {})",
                available_names()
            ))),
        }
    }

    /// The best ISA this CPU runs, ignoring `EDGE_ISA`.
    pub fn best() -> Isa {
        Isa {
            kernels: Kernels::best(),
        }
    }

    /// The named ISA (case-insensitive), or an [`Error::InvalidArgument`] saying "unknown
    /// ISA" or "not supported by this CPU", with the accepted names and the ISAs this CPU has.
    pub fn from_name(name: &str) -> Result<Isa> {
        Isa::by_name(name).ok_or_else(|| refused(name, name))
    }

    /// The named ISA (case-insensitive), or None if the name is unknown or this CPU cannot
    /// run it.
    pub fn by_name(name: &str) -> Option<Isa> {
        Kernels::by_name(name).map(|kernels| Isa { kernels })
    }

    /// Every ISA this CPU runs, scalar first.
    pub fn available() -> impl Iterator<Item = Isa> {
        Kernels::available().map(|kernels| Isa { kernels })
    }

    /// "scalar", "avx2", "avx512", "neon" or "dotprod".
    pub fn name(&self) -> &'static str {
        self.kernels.name()
    }

    /// The kernel table of this ISA.
    pub(crate) fn kernels(&self) -> &Kernels {
        &self.kernels
    }
}

impl PartialEq for Isa {
    fn eq(&self, other: &Isa) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Isa {}

impl std::fmt::Debug for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Isa").field(&self.name()).finish()
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why `name` (given as `setting`) names no ISA this CPU runs.
fn refused(setting: &str, name: &str) -> Error {
    let known = Isa::NAMES.contains(&name.to_ascii_lowercase().as_str());
    let reason = if known {
        "not supported by this CPU"
    } else {
        "unknown ISA"
    };
    Error::InvalidArgument(format!(
        "{setting}: {reason} (expected one of {}; this CPU runs {})",
        Isa::NAMES.join(", "),
        available_names()
    ))
}

/// The names of [`Isa::available`], comma-separated.
fn available_names() -> String {
    Isa::available()
        .map(|isa| isa.name())
        .collect::<Vec<_>>()
        .join(", ")
}
