//! Activations: the f32 vector a matrix multiplies, and its quantized forms, made once per
//! vector for every matrix that reads it.

use super::{Kernels, Matrix};
use edge_formats::blocks::{BlockQ8_K, QK_K};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};

/// A quantized form of an activation vector. Which form a weight type's dot product reads is
/// fixed by its entry in the kernel table ([`Kernels::activation_form`]); the f32 copy is
/// always there and is not a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)] // ggml's spelling: Q4_K, Q8_K
pub enum ActivationForm {
    /// Blocks of 32 i8 with an f16 scale (read by Q4_0, Q5_0 and Q8_0 weights).
    Q8_0,
    /// Q8_0 plus the f16 block sum d * sum(q) (read by Q4_1 and Q5_1 weights).
    Q8_1,
    /// Blocks of 256 i8 with an f32 scale and the sum of each 16 (read by the K-quants).
    Q8_K,
}

impl ActivationForm {
    /// Every form, in the order `ActivationForms::iter` yields them.
    pub const ALL: [ActivationForm; 3] = [
        ActivationForm::Q8_0,
        ActivationForm::Q8_1,
        ActivationForm::Q8_K,
    ];

    /// Elements per block.
    pub const fn block_size(self) -> usize {
        match self {
            ActivationForm::Q8_0 | ActivationForm::Q8_1 => QK,
            ActivationForm::Q8_K => QK_K,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        match self {
            ActivationForm::Q8_0 => std::mem::size_of::<BlockQ8_0>(),
            ActivationForm::Q8_1 => std::mem::size_of::<BlockQ8_1>(),
            ActivationForm::Q8_K => std::mem::size_of::<BlockQ8_K>(),
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`ActivationForm`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ActivationForms(u8);

impl ActivationForms {
    /// No quantized form: the f32 copy only.
    pub const NONE: ActivationForms = ActivationForms(0);

    /// Every form: for callers that do not know the matrices in advance.
    pub const ALL: ActivationForms = {
        let mut set = ActivationForms::NONE;
        let mut i = 0;
        while i < ActivationForm::ALL.len() {
            set = set.with(ActivationForm::ALL[i]);
            i += 1;
        }
        set
    };

    /// This set and `form`.
    pub const fn with(self, form: ActivationForm) -> ActivationForms {
        ActivationForms(self.0 | form.bit())
    }

    pub const fn contains(self, form: ActivationForm) -> bool {
        self.0 & form.bit() != 0
    }

    /// The forms in the set, in `ActivationForm::ALL` order.
    pub fn iter(self) -> impl Iterator<Item = ActivationForm> {
        ActivationForm::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }

    /// The forms the given matrices read.
    pub fn for_matrices<'m, 'a: 'm>(matrices: impl IntoIterator<Item = &'m Matrix<'a>>) -> Self {
        matrices
            .into_iter()
            .filter_map(|m| Kernels::activation_form(m.data.ggml_type()))
            .collect()
    }
}

impl FromIterator<ActivationForm> for ActivationForms {
    fn from_iter<I: IntoIterator<Item = ActivationForm>>(forms: I) -> Self {
        forms
            .into_iter()
            .fold(ActivationForms::NONE, ActivationForms::with)
    }
}

impl std::fmt::Debug for ActivationForms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The activation vector x (k) in the forms its matrices need, quantized once per vector
/// and reused by all matrices that read it. Allocated once for the largest k.
/// After `prepare(x)`: `f32.len() == x.len()`, and each form's buffer holds
/// `ceil(x.len() / block size)` blocks if the form is in the set, 0 otherwise.
#[derive(Clone, Debug)]
pub struct Activation {
    pub f32: Vec<f32>,
    /// The [`ActivationForm::Q8_0`] buffer.
    pub q8_0: Vec<BlockQ8_0>,
    /// The [`ActivationForm::Q8_1`] buffer.
    pub q8_1: Vec<BlockQ8_1>,
    /// The [`ActivationForm::Q8_K`] buffer.
    pub q8_k: Vec<BlockQ8_K>,
    forms: ActivationForms,
}

impl Activation {
    /// Buffers for vectors of up to `k_max` elements in every form; `prepare` allocates
    /// nothing for those.
    pub fn new(k_max: usize) -> Self {
        Self::with_forms(k_max, ActivationForms::ALL)
    }

    /// Buffers for vectors of up to `k_max` elements in `forms` only.
    pub fn with_forms(k_max: usize, forms: ActivationForms) -> Self {
        let blocks = |form: ActivationForm| {
            if forms.contains(form) {
                k_max.div_ceil(form.block_size())
            } else {
                0
            }
        };
        Activation {
            f32: Vec::with_capacity(k_max),
            q8_0: Vec::with_capacity(blocks(ActivationForm::Q8_0)),
            q8_1: Vec::with_capacity(blocks(ActivationForm::Q8_1)),
            q8_k: Vec::with_capacity(blocks(ActivationForm::Q8_K)),
            forms,
        }
    }

    /// The forms this activation is quantized to.
    pub fn forms(&self) -> ActivationForms {
        self.forms
    }

    /// Copies x (k) and quantizes it once into each form of the set, with `kernels`. No
    /// allocation when x.len() <= k_max.
    pub fn prepare(&mut self, kernels: &Kernels, x: &[f32]) {
        self.f32.clear();
        self.f32.extend_from_slice(x);
        for form in self.forms.iter() {
            let nb = x.len().div_ceil(form.block_size());
            match form {
                ActivationForm::Q8_0 => {
                    self.q8_0.resize(nb, BlockQ8_0::default());
                    kernels.quantize_q8_0(x, &mut self.q8_0);
                }
                ActivationForm::Q8_1 => {
                    self.q8_1.resize(nb, BlockQ8_1::default());
                    kernels.quantize_q8_1(x, &mut self.q8_1);
                }
                ActivationForm::Q8_K => {
                    self.q8_k.resize(nb, bytemuck::Zeroable::zeroed());
                    kernels.quantize_q8_k(x, &mut self.q8_k);
                }
            }
        }
    }

    /// The number of elements of the prepared vector.
    pub fn len(&self) -> usize {
        self.f32.len()
    }

    pub fn is_empty(&self) -> bool {
        self.f32.is_empty()
    }
}

/// What a weight type's dot product reads of an [`Activation`]: the f32 copy or one of its
/// quantized forms. The `X` of [`super::TypeKernels`].
pub trait ActivationInput: Sized {
    /// The form this input is (None: the f32 copy).
    const FORM: Option<ActivationForm>;
    /// Elements of the vector per item (a block of 32 or 256, or 1 for f32).
    const ELEMENTS: usize;
    /// The prepared items of `act` in this input's form.
    fn of(act: &Activation) -> &[Self];
}

impl ActivationInput for f32 {
    const FORM: Option<ActivationForm> = None;
    const ELEMENTS: usize = 1;
    fn of(act: &Activation) -> &[f32] {
        &act.f32
    }
}

impl ActivationInput for BlockQ8_0 {
    const FORM: Option<ActivationForm> = Some(ActivationForm::Q8_0);
    const ELEMENTS: usize = ActivationForm::Q8_0.block_size();
    fn of(act: &Activation) -> &[BlockQ8_0] {
        &act.q8_0
    }
}

impl ActivationInput for BlockQ8_1 {
    const FORM: Option<ActivationForm> = Some(ActivationForm::Q8_1);
    const ELEMENTS: usize = ActivationForm::Q8_1.block_size();
    fn of(act: &Activation) -> &[BlockQ8_1] {
        &act.q8_1
    }
}

impl ActivationInput for BlockQ8_K {
    const FORM: Option<ActivationForm> = Some(ActivationForm::Q8_K);
    const ELEMENTS: usize = ActivationForm::Q8_K.block_size();
    fn of(act: &Activation) -> &[BlockQ8_K] {
        &act.q8_k
    }
}
