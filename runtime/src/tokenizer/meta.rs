//! Typed reads of tokenizer keys from GGUF metadata; errors name the key.

use crate::{Error, Result};
use edge_formats::gguf::{Array, Value};

/// Key lookup over any metadata store.
pub(crate) struct Meta<'a> {
    pub get: &'a dyn Fn(&str) -> Option<&'a Value>,
}

fn wrong(key: &str, expected: &str, found: &Value) -> Error {
    Error::Tokenizer(format!(
        "key `{key}`: expected {expected}, found {}",
        type_name(found)
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::U8(_) => "u8",
        Value::I8(_) => "i8",
        Value::U16(_) => "u16",
        Value::I16(_) => "i16",
        Value::U32(_) => "u32",
        Value::I32(_) => "i32",
        Value::F32(_) => "f32",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::U64(_) => "u64",
        Value::I64(_) => "i64",
        Value::F64(_) => "f64",
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    Some(match *v {
        Value::U8(x) => x.into(),
        Value::I8(x) => x.into(),
        Value::U16(x) => x.into(),
        Value::I16(x) => x.into(),
        Value::U32(x) => x.into(),
        Value::I32(x) => x.into(),
        Value::U64(x) => i64::try_from(x).ok()?,
        Value::I64(x) => x,
        _ => return None,
    })
}

impl<'a> Meta<'a> {
    pub(crate) fn has(&self, key: &str) -> bool {
        (self.get)(key).is_some()
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>> {
        match (self.get)(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(wrong(key, "a string", other)),
        }
    }

    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match (self.get)(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong(key, "a bool", other)),
        }
    }

    /// A token id (any integer type); negative values (llama.cpp's "none") give None.
    pub(crate) fn token_id(&self, key: &str, n_vocab: usize) -> Result<Option<u32>> {
        let Some(v) = (self.get)(key) else {
            return Ok(None);
        };
        let id = as_i64(v).ok_or_else(|| wrong(key, "an integer", v))?;
        if id < 0 {
            return Ok(None);
        }
        if id as u64 >= n_vocab as u64 {
            return Err(Error::Tokenizer(format!(
                "key `{key}`: token id {id} out of range (vocabulary of {n_vocab})"
            )));
        }
        Ok(Some(id as u32))
    }

    fn array(&self, key: &str) -> Result<Option<&'a Array>> {
        match (self.get)(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(wrong(key, "an array", other)),
        }
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<&'a str>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .strs()
            .map_err(|v| wrong(key, "an array of strings", &v))
            .map(Some)
    }

    pub(crate) fn integers(&self, key: &str) -> Result<Option<Vec<i64>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| as_i64(&v).ok_or_else(|| wrong(key, "an array of integers", &v)))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub(crate) fn floats(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                Value::F32(x) => Ok(x),
                Value::F64(x) => Ok(x as f32),
                ref other => Err(wrong(key, "an array of floats", other)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub(crate) fn bools(&self, key: &str) -> Result<Option<Vec<bool>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                Value::Bool(b) => Ok(b),
                ref other => Err(wrong(key, "an array of bools", other)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}
