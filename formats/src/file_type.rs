//! llama-quantize's file types (`llama_ftype`): the names `--type` takes, the base tensor
//! type of each, its `general.file_type` number (llama.h) and the name llama.cpp prints.

use crate::GgmlType;

/// A file type as llama-quantize names it: one tensor type for every weight (the 32-block
/// and float types), or a K-quant mix whose per-tensor rules ([`super::rules`]) give some
/// tensors more bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)] // llama.cpp's spelling: Q4_K_M
pub enum FileType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

impl FileType {
    /// Every file type, in the order `--help` lists them.
    pub const ALL: [FileType; 17] = [
        FileType::Q4_0,
        FileType::Q4_1,
        FileType::Q5_0,
        FileType::Q5_1,
        FileType::Q8_0,
        FileType::Q2_K,
        FileType::Q3_K_S,
        FileType::Q3_K_M,
        FileType::Q3_K_L,
        FileType::Q4_K_S,
        FileType::Q4_K_M,
        FileType::Q5_K_S,
        FileType::Q5_K_M,
        FileType::Q6_K,
        FileType::F16,
        FileType::BF16,
        FileType::F32,
    ];

    /// llama-quantize's aliases: the unsuffixed K names mean the M mix.
    const ALIASES: [(&'static str, FileType); 3] = [
        ("q3_k", FileType::Q3_K_M),
        ("q4_k", FileType::Q4_K_M),
        ("q5_k", FileType::Q5_K_M),
    ];

    /// (lowercase name, base tensor type, llama_ftype, llama.cpp's display name).
    const fn facts(self) -> (&'static str, GgmlType, u32, &'static str) {
        match self {
            FileType::F32 => ("f32", GgmlType::F32, 0, "all F32"),
            FileType::F16 => ("f16", GgmlType::F16, 1, "F16"),
            FileType::BF16 => ("bf16", GgmlType::BF16, 32, "BF16"),
            FileType::Q4_0 => ("q4_0", GgmlType::Q4_0, 2, "Q4_0"),
            FileType::Q4_1 => ("q4_1", GgmlType::Q4_1, 3, "Q4_1"),
            FileType::Q8_0 => ("q8_0", GgmlType::Q8_0, 7, "Q8_0"),
            FileType::Q5_0 => ("q5_0", GgmlType::Q5_0, 8, "Q5_0"),
            FileType::Q5_1 => ("q5_1", GgmlType::Q5_1, 9, "Q5_1"),
            FileType::Q2_K => ("q2_k", GgmlType::Q2_K, 10, "Q2_K - Medium"),
            FileType::Q3_K_S => ("q3_k_s", GgmlType::Q3_K, 11, "Q3_K - Small"),
            FileType::Q3_K_M => ("q3_k_m", GgmlType::Q3_K, 12, "Q3_K - Medium"),
            FileType::Q3_K_L => ("q3_k_l", GgmlType::Q3_K, 13, "Q3_K - Large"),
            FileType::Q4_K_S => ("q4_k_s", GgmlType::Q4_K, 14, "Q4_K - Small"),
            FileType::Q4_K_M => ("q4_k_m", GgmlType::Q4_K, 15, "Q4_K - Medium"),
            FileType::Q5_K_S => ("q5_k_s", GgmlType::Q5_K, 16, "Q5_K - Small"),
            FileType::Q5_K_M => ("q5_k_m", GgmlType::Q5_K, 17, "Q5_K - Medium"),
            FileType::Q6_K => ("q6_k", GgmlType::Q6_K, 18, "Q6_K"),
        }
    }

    /// The lowercase name `--type` takes: "q4_k_m".
    pub const fn name(self) -> &'static str {
        self.facts().0
    }

    /// The tensor type of the bulk of the weights (and of every 2-D tensor with `--pure`).
    pub const fn base(self) -> GgmlType {
        self.facts().1
    }

    /// `general.file_type` (llama_ftype).
    pub const fn llama_ftype(self) -> u32 {
        self.facts().2
    }

    /// The name llama.cpp prints for it (llama_ftype_name): "Q4_K - Medium", "all F32".
    pub const fn llama_name(self) -> &'static str {
        self.facts().3
    }

    /// The file type of a `general.file_type` number, if it is one of these.
    pub fn from_llama_ftype(ftype: u32) -> Option<FileType> {
        Self::ALL.into_iter().find(|f| f.llama_ftype() == ftype)
    }

    /// A name or alias, any case: "q4_k_m", "Q4_K", "bf16".
    pub fn parse(s: &str) -> Option<FileType> {
        let s = s.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .or_else(|| Self::ALIASES.iter().find(|(a, _)| *a == s).map(|&(_, f)| f))
    }

    /// The file type `--type T` names for a tensor type T (the M mix for Q3_K..Q5_K, as
    /// llama-quantize's aliases); None for activation-only types.
    pub fn of_type(ty: GgmlType) -> Option<FileType> {
        Self::from_llama_ftype(ty.file_type()?)
    }

    /// Whether the per-tensor rules may change types (llama-quantize applies them only when
    /// the base type is a block type).
    pub fn is_quantized(self) -> bool {
        self.base().block_size() > 1
    }
}

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_ftypes() {
        assert_eq!(FileType::parse("Q4_K_M"), Some(FileType::Q4_K_M));
        assert_eq!(FileType::parse("q4_k"), Some(FileType::Q4_K_M));
        assert_eq!(FileType::parse("q3_k"), Some(FileType::Q3_K_M));
        assert_eq!(FileType::parse("q8_1"), None);
        for f in FileType::ALL {
            assert_eq!(FileType::parse(f.name()), Some(f));
        }
        assert_eq!(FileType::of_type(GgmlType::Q4_K), Some(FileType::Q4_K_M));
        assert_eq!(FileType::of_type(GgmlType::BF16), Some(FileType::BF16));
        assert_eq!(FileType::of_type(GgmlType::Q8_K), None);
        assert_eq!(
            FileType::from_llama_ftype(15).map(FileType::llama_name),
            Some("Q4_K - Medium")
        );
        assert_eq!(FileType::from_llama_ftype(19), None);
        // Every writable tensor type names the file type whose base it is.
        for ty in GgmlType::WEIGHT_TYPES {
            assert_eq!(FileType::of_type(ty).map(FileType::base), Some(ty));
        }
    }
}
