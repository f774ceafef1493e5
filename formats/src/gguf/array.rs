//! GGUF metadata arrays, stored compactly: one typed vector per element type (a `uint8` array
//! takes one byte per element, not a [`Value`] of 32), strings in one buffer with their end
//! offsets. A crafted file's array thus takes about its size on disk in memory.

use super::{Value, ValueType};

/// The elements of a metadata array, by element type. Arrays of arrays, and arrays built by
/// hand whose elements are not all of their declared type (which the writer refuses), are
/// kept as [`Value`]s.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    String(Strings),
    Values(ValueType, Vec<Value>),
}

/// Strings back to back in one buffer, with where each ends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Strings {
    text: String,
    ends: Vec<usize>,
}

impl Strings {
    /// Room for `n` strings.
    pub fn with_capacity(n: usize) -> Strings {
        Strings {
            text: String::new(),
            ends: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// String `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Applies `$body` to the vector of any typed variant (`$v`), `$other` to the rest.
macro_rules! typed {
    ($array:expr, $v:ident => $body:expr, $rest:pat => $other:expr) => {
        match $array {
            Array::U8($v) => $body,
            Array::I8($v) => $body,
            Array::U16($v) => $body,
            Array::I16($v) => $body,
            Array::U32($v) => $body,
            Array::I32($v) => $body,
            Array::F32($v) => $body,
            Array::Bool($v) => $body,
            Array::U64($v) => $body,
            Array::I64($v) => $body,
            Array::F64($v) => $body,
            $rest => $other,
        }
    };
}

impl Array {
    /// The empty array of `elem` elements, with room for `n`.
    pub fn with_capacity(elem: ValueType, n: usize) -> Array {
        match elem {
            ValueType::U8 => Array::U8(Vec::with_capacity(n)),
            ValueType::I8 => Array::I8(Vec::with_capacity(n)),
            ValueType::U16 => Array::U16(Vec::with_capacity(n)),
            ValueType::I16 => Array::I16(Vec::with_capacity(n)),
            ValueType::U32 => Array::U32(Vec::with_capacity(n)),
            ValueType::I32 => Array::I32(Vec::with_capacity(n)),
            ValueType::F32 => Array::F32(Vec::with_capacity(n)),
            ValueType::Bool => Array::Bool(Vec::with_capacity(n)),
            ValueType::U64 => Array::U64(Vec::with_capacity(n)),
            ValueType::I64 => Array::I64(Vec::with_capacity(n)),
            ValueType::F64 => Array::F64(Vec::with_capacity(n)),
            ValueType::String => Array::String(Strings::with_capacity(n)),
            ValueType::Array => Array::Values(ValueType::Array, Vec::with_capacity(n)),
        }
    }

    /// An array of `elem` elements holding `items`: compact when each item is an `elem`.
    pub fn from_values(elem: ValueType, items: Vec<Value>) -> Array {
        if elem == ValueType::Array || items.iter().any(|v| v.type_of() != elem) {
            return Array::Values(elem, items);
        }
        let mut array = Array::with_capacity(elem, items.len());
        for item in items {
            // Cannot fail: every item is an `elem`.
            let _ = array.push(item);
        }
        array
    }

    /// The array of `elem` elements (a fixed-size type other than bool) stored little-endian
    /// in `bytes`; None for other element types.
    pub(super) fn from_le_bytes(elem: ValueType, bytes: &[u8]) -> Option<Array> {
        macro_rules! decode {
            ($variant:ident, $t:ty) => {
                Array::$variant(
                    bytes
                        .chunks_exact(std::mem::size_of::<$t>())
                        .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or_default()))
                        .collect(),
                )
            };
        }
        Some(match elem {
            ValueType::U8 => Array::U8(bytes.to_vec()),
            ValueType::I8 => decode!(I8, i8),
            ValueType::U16 => decode!(U16, u16),
            ValueType::I16 => decode!(I16, i16),
            ValueType::U32 => decode!(U32, u32),
            ValueType::I32 => decode!(I32, i32),
            ValueType::F32 => decode!(F32, f32),
            ValueType::U64 => decode!(U64, u64),
            ValueType::I64 => decode!(I64, i64),
            ValueType::F64 => decode!(F64, f64),
            ValueType::Bool | ValueType::String | ValueType::Array => return None,
        })
    }

    /// Appends `value`; it is handed back when it is not of this array's element type (and
    /// the array is not one of values).
    pub fn push(&mut self, value: Value) -> Result<(), Value> {
        match (self, value) {
            (Array::U8(v), Value::U8(x)) => v.push(x),
            (Array::I8(v), Value::I8(x)) => v.push(x),
            (Array::U16(v), Value::U16(x)) => v.push(x),
            (Array::I16(v), Value::I16(x)) => v.push(x),
            (Array::U32(v), Value::U32(x)) => v.push(x),
            (Array::I32(v), Value::I32(x)) => v.push(x),
            (Array::F32(v), Value::F32(x)) => v.push(x),
            (Array::Bool(v), Value::Bool(x)) => v.push(x),
            (Array::U64(v), Value::U64(x)) => v.push(x),
            (Array::I64(v), Value::I64(x)) => v.push(x),
            (Array::F64(v), Value::F64(x)) => v.push(x),
            (Array::String(v), Value::String(x)) => v.push(&x),
            (Array::Values(_, v), x) => v.push(x),
            (_, x) => return Err(x),
        }
        Ok(())
    }

    /// The declared element type.
    pub fn elem_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
            Array::String(_) => ValueType::String,
            Array::Values(t, _) => *t,
        }
    }

    pub fn len(&self) -> usize {
        typed!(self, v => v.len(), other => match other {
            Array::String(s) => s.len(),
            Array::Values(_, v) => v.len(),
            _ => 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a value (a string is copied).
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
            Array::String(s) => Value::String(s.get(i)?.to_string()),
            Array::Values(_, v) => v.get(i)?.clone(),
        })
    }

    /// The elements as values, in order (strings are copied one at a time).
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Every element as a value.
    pub fn to_values(&self) -> Vec<Value> {
        self.iter().collect()
    }

    /// The strings, borrowed; or the first element that is not a string.
    pub fn strs(&self) -> Result<Vec<&str>, Value> {
        match self {
            Array::String(s) => Ok(s.iter().collect()),
            Array::Values(_, items) => items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| v.clone()))
                .collect(),
            other => match other.get(0) {
                None => Ok(Vec::new()),
                Some(first) => Err(first),
            },
        }
    }

    /// The heap bytes this array holds (its vectors' capacity; for values, their own size
    /// without what they point to), to check the compact layout.
    pub fn heap_bytes(&self) -> usize {
        fn of<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        typed!(self, v => of(v), other => match other {
            Array::String(s) => s.text.capacity() + of(&s.ends),
            Array::Values(_, v) => of(v),
            _ => 0,
        })
    }
}
