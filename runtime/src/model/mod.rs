//! A GGUF model: typed config and weights as views into the file's bytes (mapped, or read
//! into memory: [`LoadOptions`]).

mod realign;
mod repack;
mod weights;

pub(crate) use edge_formats::validate::ModelConfig;
pub(crate) use weights::Weights;

use crate::{Error, Result};
use edge_formats::gguf::keys::general;
use edge_formats::gguf::{GgufFile, Metadata, Storage};
use edge_formats::validate::{self, Part, TensorShape};
use edge_formats::FileType;
use realign::Realigned;
use repack::Repacked;
use std::collections::HashMap;
use std::path::Path;

/// How a model file is loaded ([`Model::open_with`], [`crate::TextModel::open_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Where the file's bytes live: a mapping of the file ([`Storage::Mapped`]: zero-copy,
    /// fast to open, pages shared with the page cache) or a copy read into this process's
    /// memory ([`Storage::Resident`]: the whole file read at open, in transparent huge pages
    /// on Linux, faster to decode on x86-64). None: the platform's choice
    /// ([`LoadOptions::storage_for`]).
    pub storage: Option<Storage>,
}

impl LoadOptions {
    /// Options that ask for `storage`.
    pub fn with(storage: Storage) -> Self {
        LoadOptions {
            storage: Some(storage),
        }
    }

    /// The storage of a file of `file_len` bytes: the one asked for; otherwise resident on
    /// x86-64 Linux, where decoding from huge pages was measured 25-38% faster than from the
    /// mapping (SmolLM2-135M Q4_0, one thread), as long as the file takes at most half the
    /// memory the kernel reports available (a larger one would push out the page cache, or
    /// not fit, where a mapping still runs); mapped elsewhere. On ARM dotprod the repacked
    /// copies replace the mapping's pages, which only a mapping can give back (see `repack`).
    pub fn storage_for(&self, file_len: u64) -> Storage {
        match self.storage {
            Some(storage) => storage,
            None if cfg!(all(target_arch = "x86_64", target_os = "linux"))
                && available_memory().is_some_and(|available| file_len <= available / 2) =>
            {
                Storage::Resident
            }
            None => Storage::Mapped,
        }
    }
}

/// MemAvailable of /proc/meminfo in bytes (None where it cannot be read).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A GGUF file in memory with its config and weight views. Shared by sessions through `Arc`.
pub struct Model {
    // Field order matters: `weights` borrows from `file`'s bytes and from `realigned`'s
    // and `repacked`'s buffers, and is dropped first.
    weights: Weights<'static>,
    config: ModelConfig,
    file: GgufFile,
    /// Aligned copies of the tensors the file misaligns (none for an aligned file).
    realigned: Realigned,
    /// The Q4_0 and Q8_0 matrices in the dotprod kernels' layout (none on other ISAs).
    repacked: Repacked,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.file.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// [`Model::open_with`] the platform's default [`LoadOptions`].
    pub fn open(path: &Path) -> Result<Model> {
        Self::open_with(path, LoadOptions::default())
    }

    /// Loads the file as `options` say, reads the config (all missing keys in one error) and
    /// checks every tensor's shape and type (all problems in one error), with the validator
    /// the quantizer runs on what it writes ([`edge_formats::validate::check_weights`]).
    pub fn open_with(path: &Path, options: LoadOptions) -> Result<Model> {
        // A file whose length cannot be read fails to open below, with the error naming it.
        let file_len = std::fs::metadata(path).map_or(0, |m| m.len());
        let file = GgufFile::open_as(path, options.storage_for(file_len))?;
        let config = validate_weights(&file)?;
        let realigned = Realigned::of(&file)?;
        let weights = Weights::load(&file, &realigned, &config)?;
        let repacked = match repack::wanted() {
            true => Repacked::of(weights.matrices(), file.is_mapped().then(|| file.bytes()))?,
            false => Repacked::default(),
        };
        let weights = weights.map_matrices(|m| repacked.view(m));
        // SAFETY: the views point into the memory (a mapping, of the file or anonymous) owned
        // by `file` and into the boxed buffers owned by `realigned` and `repacked`, whose
        // addresses do not change when `file` (a handle to the mapping) or `realigned` and
        // `repacked` (maps of boxes)
        // move. `Model` keeps them alive and immutable for as long as `weights` exists (it is
        // declared first, so dropped first), and `weights()` hands the views out only with a
        // lifetime bound to `&self`.
        let weights: Weights<'static> = unsafe { std::mem::transmute::<Weights<'_>, _>(weights) };
        Ok(Model {
            weights,
            config,
            file,
            realigned,
            repacked,
        })
    }

    /// Refuses a tokenizer of `n_tokens` tokens unless it has one per vocabulary row: with
    /// fewer, ids past its end would decode to nothing.
    pub(crate) fn check_tokenizer_len(&self, n_tokens: usize) -> Result<()> {
        validate::check_token_count(n_tokens, self.config.n_vocab).map_err(Error::Tokenizer)
    }

    /// The hyperparameters.
    pub(crate) fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// All metadata of the GGUF file (any key, e.g. `general.name`).
    pub fn metadata(&self) -> &Metadata {
        self.file.metadata()
    }

    /// The weight views, borrowed from the file's bytes.
    pub(crate) fn weights(&self) -> &Weights<'_> {
        &self.weights
    }

    /// Tensors copied at load because the file placed them at an address their type cannot
    /// be read from (0 for an aligned file, whose weights are views of the file's bytes).
    pub fn n_realigned_tensors(&self) -> usize {
        self.realigned.len()
    }

    /// Bytes of the matrices copied at load into the dotprod kernels' layout (0 on other
    /// ISAs); counted in [`Model::weights_bytes`] in place of their mapped pages, which are
    /// released (a resident file keeps its pages: it holds both).
    pub fn repacked_bytes(&self) -> u64 {
        self.repacked.bytes()
    }

    /// Bytes of weight data one token reads (the output matrix counted once when tied).
    pub fn weights_bytes(&self) -> u64 {
        self.weights.n_bytes()
    }

    /// The file this model was opened from.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Where the file's bytes live: mapped, or resident in this process's memory.
    pub fn storage(&self) -> Storage {
        self.file.storage()
    }

    /// The GGUF file: its header and its tensors' bytes in place.
    pub(crate) fn file(&self) -> &GgufFile {
        &self.file
    }

    /// `general.architecture` ("llama").
    pub fn architecture(&self) -> &str {
        &self.config.architecture
    }

    /// Tokens in the vocabulary: the length of the logits.
    pub fn n_vocab(&self) -> usize {
        self.config.n_vocab
    }

    /// The context length the model was trained for (`{arch}.context_length`).
    pub fn n_ctx_train(&self) -> usize {
        self.config.n_ctx_train
    }

    /// Width of the residual stream (`{arch}.embedding_length`).
    pub fn n_embd(&self) -> usize {
        self.config.n_embd
    }

    /// Transformer blocks (`{arch}.block_count`).
    pub fn n_layer(&self) -> usize {
        self.config.n_layer
    }

    /// Query heads (`{arch}.attention.head_count`).
    pub fn n_head(&self) -> usize {
        self.config.n_head
    }

    /// Key/value heads (`{arch}.attention.head_count_kv`; fewer than `n_head` with GQA).
    pub fn n_head_kv(&self) -> usize {
        self.config.n_head_kv
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.config.head_dim
    }

    /// Hidden width of the feed-forward block (`{arch}.feed_forward_length`).
    pub fn n_ff(&self) -> usize {
        self.config.n_ff
    }

    /// Parameters: the elements of every tensor in the file.
    pub fn n_params(&self) -> u64 {
        self.file.tensors().iter().map(|t| t.n_elements()).sum()
    }

    /// Bytes of every tensor's data in the file (llama-bench's model size).
    pub fn size(&self) -> u64 {
        self.file.tensors().iter().map(|t| t.n_bytes).sum()
    }

    /// The tensor type holding the most parameters ("Q4_0"): the file's type, by llama.cpp's
    /// convention.
    pub fn main_type(&self) -> &'static str {
        let mut by_type: HashMap<&'static str, u64> = HashMap::new();
        for t in self.file.tensors() {
            *by_type.entry(t.ty.name()).or_default() += t.n_elements();
        }
        by_type
            .into_iter()
            .max_by_key(|&(name, n)| (n, name))
            .map_or("?", |(name, _)| name)
    }

    /// llama.cpp's description of the model: architecture, size label (`general.size_label`
    /// or from [`Model::n_params`]) and file type as llama.cpp names it (`general.file_type`;
    /// without it, [`Model::main_type`]), e.g. "llama 135M Q4_K - Medium".
    pub fn description(&self) -> String {
        let file_type = self
            .metadata()
            .opt_u32(general::FILE_TYPE)
            .ok()
            .flatten()
            .and_then(FileType::from_llama_ftype)
            .map_or_else(|| self.main_type(), FileType::llama_name);
        let size_label = self
            .metadata()
            .opt_str(general::SIZE_LABEL)
            .ok()
            .flatten()
            .map(str::to_string)
            .unwrap_or_else(|| size_label(self.n_params()));
        format!("{} {size_label} {file_type}", self.architecture())
    }
}

/// The config, and every tensor it implies present with its shape and a type we run.
/// Errors: [`Error::BadConfig`] or [`Error::BadWeights`], naming the file and each problem.
fn validate_weights(file: &GgufFile) -> Result<ModelConfig> {
    let tensors: Vec<TensorShape<'_>> = file
        .tensors()
        .iter()
        .map(|t| TensorShape {
            name: &t.name,
            dims: &t.dims,
            ty: t.ty,
        })
        .collect();
    validate::check_weights(file.metadata(), &tensors).map_err(|e| {
        let path = file.path.clone();
        match e.part {
            Part::Config => Error::BadConfig {
                path,
                problems: e.problems,
            },
            _ => Error::BadWeights {
                path,
                problems: e.problems,
            },
        }
    })
}

/// "135M", "1.2B": a parameter count as llama.cpp labels it.
fn size_label(n_params: u64) -> String {
    let n = n_params as f64;
    if n >= 1e9 {
        format!("{:.1}B", n / 1e9)
    } else {
        format!("{:.0}M", n / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_asked_for_is_kept_and_a_file_larger_than_memory_is_mapped() {
        for storage in [Storage::Mapped, Storage::Resident] {
            assert_eq!(LoadOptions::with(storage).storage_for(u64::MAX), storage);
            assert_eq!(LoadOptions::with(storage).storage_for(0), storage);
        }
        let default = LoadOptions::default();
        assert_eq!(default.storage_for(u64::MAX), Storage::Mapped);
        let small = if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            Storage::Resident
        } else {
            Storage::Mapped
        };
        assert_eq!(default.storage_for(4096), small);
    }
}
