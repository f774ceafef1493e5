//! Inputs for the kernel tests: a seeded generator and the SIMD tables this machine runs.

use edge::internals::Kernels;

/// xorshift64* for test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn sym(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every kernel table this CPU runs but the scalar one (printed, so a log says what ran);
/// on aarch64 NEON is always among them.
pub fn simd_tables() -> Vec<Kernels> {
    let tables: Vec<Kernels> = Kernels::available()
        .filter(|k| k.name() != "scalar")
        .collect();
    eprintln!(
        "SIMD tables on this machine: {:?}",
        tables.iter().map(|k| k.name()).collect::<Vec<_>>()
    );
    if cfg!(target_arch = "aarch64") {
        assert!(
            tables.iter().any(|k| k.name() == "neon"),
            "every aarch64 CPU runs neon"
        );
    }
    tables
}
