//! The input: a Hugging Face folder (or one `.safetensors` file inside one) or a llama.cpp
//! GGUF. Tensors stay in their memory mappings; rows are converted to f32 on demand.

use crate::codec;
use crate::convert::{self, llama};
use crate::error::{Error, Result};
use crate::plan::{self, Plan, PlannedTensor, RowOrder, TypePolicy};
use edge_formats::gguf::keys::general;
use edge_formats::gguf::{GgmlDims, GgufFile, Metadata, Value};
use edge_formats::regular_file;
use edge_formats::safetensors::{Dtype, SafeTensors, TensorView};
use edge_formats::validate::{self, TensorShape};
use edge_formats::GgmlType;
use std::path::{Path, PathBuf};

/// An opened input.
pub enum Source {
    HuggingFace(HfModel),
    Gguf(GgufFile),
}

/// A Hugging Face model folder: config, tokenizer files and safetensors weights.
pub struct HfModel {
    pub folder: PathBuf,
    /// What the user named: the folder or a `.safetensors` file in it.
    pub input: PathBuf,
    pub config: llama::LlamaConfig,
    weights: SafeTensors,
}

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
const SINGLE_WEIGHTS: &str = "model.safetensors";
const SHARD_INDEX: &str = "model.safetensors.index.json";
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";

/// Whether a model file is there: false when nothing is, true for a regular file (or a
/// symlink to one), an error naming anything else (a FIFO, a folder, a symlink loop, a
/// dangling symlink) rather than calling it missing.
fn present(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
        Ok(_) => {
            regular_file::check_regular(path)?;
            Ok(true)
        }
    }
}

impl Source {
    /// Recognizes the input by what it is: a folder, a `.gguf` (or a file starting with the
    /// GGUF magic), or a `.safetensors` file.
    pub fn open(input: &Path) -> Result<Source> {
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            return HfModel::open(input, input, None).map(Source::HuggingFace);
        }
        // Before anything opens it: reading the magic of a FIFO would block forever.
        regular_file::check_regular(input)?;
        if is_gguf(input)? {
            return Ok(Source::Gguf(GgufFile::open(input)?));
        }
        let is_safetensors = input
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
        if !is_safetensors {
            return Err(Error::Input {
                path: input.to_path_buf(),
                what: "expected a Hugging Face model folder, a .safetensors file or a .gguf file"
                    .into(),
            });
        }
        let folder = match input.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        HfModel::open(&folder, input, Some(input)).map(Source::HuggingFace)
    }

    /// Paths the output must never overwrite.
    pub fn inputs(&self) -> Vec<PathBuf> {
        match self {
            Source::HuggingFace(m) => {
                let mut v = vec![m.input.clone()];
                for f in [CONFIG, TOKENIZER, TOKENIZER_CONFIG, SHARD_INDEX] {
                    v.push(m.folder.join(f));
                }
                v
            }
            Source::Gguf(g) => vec![g.path.clone()],
        }
    }

    /// Bytes of tensor data the input holds (for the summary).
    pub fn input_bytes(&self, plan: &Plan) -> u64 {
        plan.tensors
            .iter()
            .filter_map(|t| self.rows(t).ok())
            .map(|r| r.data.len() as u64)
            .sum()
    }

    pub fn plan(&self, policy: &TypePolicy) -> Result<Plan> {
        match self {
            Source::HuggingFace(m) => m.plan(policy),
            Source::Gguf(g) => plan_gguf(g, policy),
        }
    }

    /// The source rows of a planned tensor.
    pub fn rows(&self, t: &PlannedTensor) -> Result<Rows<'_>> {
        match self {
            Source::HuggingFace(m) => {
                let view = m.view(&t.source)?;
                Rows::new(&t.source, view.data, dtype_as_ggml(view.dtype), &t.dims)
            }
            Source::Gguf(g) => {
                let info = g.tensor(&t.source).ok_or_else(|| Error::MissingTensor {
                    path: g.path.clone(),
                    tensor: t.source.clone(),
                })?;
                Rows::new(&t.source, g.tensor_data(info), info.ty, &info.dims)
            }
        }
    }

    /// Gives the pages of a tensor that has been written back to the OS.
    pub fn release(&self, t: &PlannedTensor) {
        if let Source::HuggingFace(m) = self {
            st_release(&m.weights, &t.source);
        }
    }
}

fn is_gguf(path: &Path) -> Result<bool> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return Ok(true);
    }
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 4 && magic == edge_formats::gguf::MAGIC)
}

fn dtype_as_ggml(d: Dtype) -> GgmlType {
    match d {
        Dtype::F32 => GgmlType::F32,
        Dtype::F16 => GgmlType::F16,
        Dtype::BF16 => GgmlType::BF16,
    }
}

// --- The safetensors reader's API, in one place. ---

fn st_names(st: &SafeTensors) -> Vec<String> {
    st.names().into_iter().map(str::to_string).collect()
}

fn st_view<'a>(st: &'a SafeTensors, name: &str) -> Option<TensorView<'a>> {
    st.tensor(name)
}

/// Dropping pages is an optimisation: a failure costs memory, not correctness.
fn st_release(st: &SafeTensors, name: &str) {
    let _ = st.release(name);
}

impl HfModel {
    /// `weights_file`: the `.safetensors` the user named, else the folder's own weights.
    fn open(folder: &Path, input: &Path, weights_file: Option<&Path>) -> Result<Self> {
        for file in [CONFIG, TOKENIZER] {
            if !present(&folder.join(file))? {
                return Err(Error::MissingFile {
                    folder: folder.to_path_buf(),
                    file,
                });
            }
        }
        // Optional, but a FIFO there would be skipped silently by the converter.
        present(&folder.join(TOKENIZER_CONFIG))?;
        let config = llama::LlamaConfig::from_file(&folder.join(CONFIG))?;
        let weights_path = match weights_file {
            Some(f) => f.to_path_buf(),
            None if present(&folder.join(SHARD_INDEX))? => folder.to_path_buf(),
            None if present(&folder.join(SINGLE_WEIGHTS))? => folder.join(SINGLE_WEIGHTS),
            None => {
                return Err(Error::MissingFile {
                    folder: folder.to_path_buf(),
                    file: "model.safetensors (or model.safetensors.index.json)",
                })
            }
        };
        let weights = SafeTensors::open(&weights_path)?;
        Ok(HfModel {
            folder: folder.to_path_buf(),
            input: input.to_path_buf(),
            config,
            weights,
        })
    }

    fn view(&self, name: &str) -> Result<TensorView<'_>> {
        st_view(&self.weights, name).ok_or_else(|| Error::MissingTensor {
            path: self.input.clone(),
            tensor: name.to_string(),
        })
    }

    fn plan(&self, policy: &TypePolicy) -> Result<Plan> {
        let cfg = &self.config;
        let has = |n: &str| st_view(&self.weights, n).is_some();
        // Tied: `tie_word_embeddings`, or no head stored. The tied matrix may be stored under
        // either name (tinystories-656k keeps only lm_head.weight, aliased).
        let untied = !cfg.tie_word_embeddings && has(llama::LM_HEAD);
        let embed_source = if has(llama::EMBED_TOKENS) {
            llama::EMBED_TOKENS
        } else if !untied && has(llama::LM_HEAD) {
            llama::LM_HEAD
        } else {
            llama::EMBED_TOKENS // reported missing below
        };
        let names = st_names(&self.weights);
        let config = self.folder.join(CONFIG);
        llama::check_layer_count(&config, names.iter().map(String::as_str), cfg.n_layer)?;
        let expected = llama::expected_tensors(cfg, untied, embed_source);
        llama::check_no_extra_tensors(
            &self.input,
            names.iter().map(String::as_str),
            &expected,
            !untied,
        )?;

        let mut tensors = Vec::with_capacity(expected.len());
        let mut n_params = 0u64;
        for t in &expected {
            let view = self.view(&t.hf_name)?;
            let want = t.kind.expected_shape(cfg);
            if view.shape.0 != want {
                return Err(Error::shape(
                    &t.hf_name,
                    format!(
                        "shape {:?} contradicts config.json (expected {want:?} for {})",
                        view.shape.0, t.gguf_name
                    ),
                ));
            }
            let dims = GgmlDims::from_shape(view.shape);
            n_params += dims.n_elements().unwrap_or(0);
            let (ty, fell_back) = policy.type_for(&t.gguf_name, &dims)?;
            let rows = match t.kind.permute_heads(cfg) {
                Some(n_head) => RowOrder::HeadPermute {
                    n_head: n_head as usize,
                },
                None => RowOrder::Identity,
            };
            tensors.push(PlannedTensor {
                name: t.gguf_name.clone(),
                source: t.hf_name.clone(),
                dims,
                ty,
                rows,
                fell_back,
            });
        }

        let names = llama::GeneralNames::from_model_id(&llama::model_id(&self.folder), n_params);
        let mut metadata = names.keys();
        let llama_keys = cfg.llama_keys();
        let tokenizer = convert::tokenizer::tokenizer_metadata(&self.folder)?;
        if policy.is_plain_conversion() {
            // convert_hf_to_gguf.py's layout: file_type among the llama keys, shard order.
            let (before, after) = llama_keys.split_at(llama::KEYS_BEFORE_FILE_TYPE);
            metadata.extend_from_slice(before);
            metadata.push((general::FILE_TYPE.into(), Value::U32(policy.file_type())));
            metadata.extend_from_slice(after);
            metadata.push((general::QUANTIZATION_VERSION.into(), Value::U32(2)));
            metadata.extend(tokenizer);
            // convert_hf_to_gguf.py's order: shard by shard, names sorted within a shard.
            let shard = |t: &PlannedTensor| self.weights.file_of(&t.source).map(Path::to_path_buf);
            tensors.sort_by_cached_key(|t| (shard(t), t.source.clone()));
        } else {
            metadata.extend(llama_keys);
            metadata.extend(tokenizer);
            plan::set_quantized_file_type(&mut metadata, policy.file_type());
            plan::sort_like_llama_quantize(&mut tensors);
        }
        Ok(Plan { metadata, tensors })
    }
}

/// Re-quantizing a GGUF: same tensors and metadata, new types, `general.file_type` updated.
fn plan_gguf(file: &GgufFile, policy: &TypePolicy) -> Result<Plan> {
    let mut tensors = Vec::with_capacity(file.tensors().len());
    for info in file.tensors() {
        if info.ty == GgmlType::Q8_1 {
            return Err(Error::TensorType {
                tensor: info.name.clone(),
                what: format!("{} is an activation type, not a weight type", info.ty),
            });
        }
        let (ty, fell_back) = policy.type_for(&info.name, &info.dims)?;
        tensors.push(PlannedTensor {
            name: info.name.clone(),
            source: info.name.clone(),
            dims: info.dims.clone(),
            ty,
            rows: RowOrder::Identity,
            fell_back,
        });
    }
    let mut metadata = file.metadata().entries().to_vec();
    plan::set_quantized_file_type(&mut metadata, policy.file_type());
    Ok(Plan { metadata, tensors })
}

/// Checks the model `plan` would write with the validator run-edge loads it with (config,
/// tensors with their assigned types, tokenizer), before anything is written.
pub fn validate_plan(input: &Path, plan: &mut Plan) -> Result<()> {
    let invalid = |source| Error::Invalid {
        input: input.to_path_buf(),
        source,
    };
    // The metadata moves into the validator's index and back: a copy would double a crafted
    // file's large array.
    let meta = Metadata::from_entries(std::mem::take(&mut plan.metadata))?;
    let tensors: Vec<TensorShape<'_>> = plan
        .tensors
        .iter()
        .map(|t| TensorShape {
            name: &t.name,
            dims: &t.dims,
            ty: t.ty,
        })
        .collect();
    validate::check_model(&meta, &tensors).map_err(invalid)?;
    plan.metadata = meta.into_entries();
    Ok(())
}

/// One source tensor seen as rows of `row_len` values in `ty`'s encoding.
pub struct Rows<'a> {
    name: String,
    pub data: &'a [u8],
    ty: GgmlType,
    row_len: usize,
    row_bytes: usize,
}

impl<'a> Rows<'a> {
    fn new(name: &str, data: &'a [u8], ty: GgmlType, dims: &GgmlDims) -> Result<Self> {
        let row_len = dims.row_len();
        let row_bytes = ty.row_bytes(row_len).ok_or_else(|| {
            Error::shape(
                name,
                format!("row length {row_len} does not fit {ty} blocks"),
            )
        })?;
        let expected = row_bytes.checked_mul(dims.n_rows());
        if expected != Some(data.len() as u64) {
            return Err(Error::shape(
                name,
                format!(
                    "dims {:?} as {ty} need {expected:?} bytes, the file has {}",
                    dims.0,
                    data.len()
                ),
            ));
        }
        Ok(Rows {
            name: name.to_string(),
            data,
            ty,
            row_len: row_len as usize,
            row_bytes: row_bytes as usize,
        })
    }

    /// Source row `row` as f32 into `out` (`row_len` values).
    pub fn read_row(&self, row: usize, out: &mut [f32]) -> Result<()> {
        let start = row * self.row_bytes;
        let bytes = self
            .data
            .get(start..start + self.row_bytes)
            .ok_or_else(|| Error::shape(&self.name, format!("row {row} is out of range")))?;
        debug_assert_eq!(out.len(), self.row_len);
        codec::dequantize_row(self.ty, bytes, out).map_err(|source| Error::Codec {
            tensor: self.name.clone(),
            source,
        })
    }
}
