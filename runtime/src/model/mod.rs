//! A GGUF model: typed config and weights as views into the mapping.

mod config;
mod weights;

pub use config::{ModelConfig, SUPPORTED_ARCHITECTURES};
pub use weights::{matrix_bytes, LayerWeights, Weights, MATRIX_TYPES};

use crate::{Error, Result};
use edge_formats::gguf::{GgufFile, Metadata};
use std::path::Path;

/// A mapped GGUF file with its config and weight views. Shared by sessions through `Arc`.
pub struct Model {
    // Field order matters: `weights` borrows from `file`'s mapping and is dropped first.
    weights: Weights<'static>,
    config: ModelConfig,
    file: GgufFile,
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
    /// Maps the file, reads the config (all missing keys in one error) and checks every
    /// tensor's shape and type (all problems in one error).
    pub fn open(path: &Path) -> Result<Model> {
        let file = GgufFile::open(path)?;
        let embd_rows = file
            .tensor("token_embd.weight")
            .filter(|t| t.dims.0.len() == 2)
            .map(|t| t.dims.0[1]);
        let config = ModelConfig::from_metadata(file.metadata(), embd_rows)
            .map_err(|e| Error::Model(format!("{}: metadata: {e}", path.display())))?;
        let weights = Weights::load(&file, &config)
            .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        // SAFETY: the views point into the memory map owned by `file`, whose address does not
        // change when `file` (a handle to the mapping) moves. `Model` keeps `file` alive and
        // immutable for as long as `weights` exists (it is declared first, so dropped first),
        // and `weights()` hands the views out only with a lifetime bound to `&self`.
        let weights: Weights<'static> = unsafe { std::mem::transmute::<Weights<'_>, _>(weights) };
        Ok(Model {
            weights,
            config,
            file,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn metadata(&self) -> &Metadata {
        self.file.metadata()
    }

    /// The weight views, borrowed from the mapping.
    pub fn weights(&self) -> &Weights<'_> {
        &self.weights
    }

    /// Bytes of weight data (what one token reads, output counted once when tied).
    pub fn weights_bytes(&self) -> u64 {
        self.weights.n_bytes()
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The underlying GGUF file (tensor infos, raw data).
    pub fn gguf(&self) -> &GgufFile {
        &self.file
    }
}
