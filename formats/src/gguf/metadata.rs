//! GGUF metadata: key/value pairs in file order, lookup by key, typed getters that widen.
#[cfg(test)]
use super::ValueType;
use super::{Array, Value};
use crate::{Error, Result};
use std::collections::HashMap;

/// Metadata in file order, with lookup by key and typed getters that widen integers.
///
/// Getters: `get_*` error when the key is missing or has an incompatible type; `opt_*`
/// return `Ok(None)` for a missing key but still error on an incompatible type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

fn key_error(key: &str, what: impl Into<String>) -> Error {
    Error::Key {
        key: key.to_string(),
        what: what.into(),
    }
}

fn wrong_type(key: &str, expected: &str, found: &Value) -> Error {
    key_error(
        key,
        format!(
            "expected {expected}, found {} {found:.8}",
            found.type_description()
        ),
    )
}

impl Metadata {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds metadata from pairs in order; a repeated key is an error.
    pub fn from_entries(entries: Vec<(String, Value)>) -> Result<Self> {
        let mut m = Metadata::new();
        for (k, v) in entries {
            m.push(k, v)?;
        }
        Ok(m)
    }

    /// Appends a new key; a key already present is an error.
    pub fn push(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        let key = key.into();
        if self.index.contains_key(&key) {
            return Err(key_error(&key, "duplicate key"));
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }

    /// Replaces the value of a key in place, or appends it.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    /// Removes a key (keeping the order of the others) and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.index.remove(key)?;
        let (_, v) = self.entries.remove(i);
        for slot in self.index.values_mut() {
            if *slot > i {
                *slot -= 1;
            }
        }
        Some(v)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<(String, Value)> {
        self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of a key that must be present.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| key_error(key, "missing"))
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => convert(v)
                .map(Some)
                .ok_or_else(|| wrong_type(key, expected, v)),
        }
    }

    fn required<T>(key: &str, v: Result<Option<T>>) -> Result<T> {
        v?.ok_or_else(|| key_error(key, "missing"))
    }

    /// Any integer type whose value fits in u32.
    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "an integer that fits in u32", Value::as_u32)
    }
    /// Any integer type whose value fits in u64.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "an integer that fits in u64", Value::as_u64)
    }
    /// Any integer type whose value fits in i32.
    pub fn opt_i32(&self, key: &str) -> Result<Option<i32>> {
        self.typed(key, "an integer that fits in i32", Value::as_i32)
    }
    /// Any integer type whose value fits in i64.
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>> {
        self.typed(key, "an integer that fits in i64", Value::as_i64)
    }
    /// F32, or F64 rounded to f32.
    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>> {
        self.typed(key, "a float32 or float64", Value::as_f32)
    }
    /// F32 (widened) or F64.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a float32 or float64", Value::as_f64)
    }
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a bool", Value::as_bool)
    }
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "a string", Value::as_str)
    }
    /// An array (any element type).
    pub fn opt_array(&self, key: &str) -> Result<Option<&Array>> {
        self.typed(key, "an array", Value::as_array)
    }
    /// An array of strings.
    pub fn opt_str_array(&self, key: &str) -> Result<Option<Vec<&str>>> {
        self.typed(key, "an array of string", |v| v.as_array()?.strs().ok())
    }
    /// An array of F32 or F64 (F64 rounded to f32).
    pub fn opt_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>> {
        self.typed(key, "an array of float32 or float64", |v| {
            v.as_array()?.iter().map(|x| x.as_f32()).collect()
        })
    }
    /// An array of any integer type whose values fit in i32.
    pub fn opt_i32_array(&self, key: &str) -> Result<Option<Vec<i32>>> {
        self.typed(key, "an array of integers that fit in i32", |v| {
            v.as_array()?.iter().map(|x| x.as_i32()).collect()
        })
    }
    /// An array of any integer type whose values fit in u32.
    pub fn opt_u32_array(&self, key: &str) -> Result<Option<Vec<u32>>> {
        self.typed(key, "an array of integers that fit in u32", |v| {
            v.as_array()?.iter().map(|x| x.as_u32()).collect()
        })
    }

    pub fn get_u32(&self, key: &str) -> Result<u32> {
        Self::required(key, self.opt_u32(key))
    }
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        Self::required(key, self.opt_u64(key))
    }
    pub fn get_i32(&self, key: &str) -> Result<i32> {
        Self::required(key, self.opt_i32(key))
    }
    pub fn get_i64(&self, key: &str) -> Result<i64> {
        Self::required(key, self.opt_i64(key))
    }
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        Self::required(key, self.opt_f32(key))
    }
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        Self::required(key, self.opt_f64(key))
    }
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        Self::required(key, self.opt_bool(key))
    }
    pub fn get_str(&self, key: &str) -> Result<&str> {
        Self::required(key, self.opt_str(key))
    }
    pub fn get_array(&self, key: &str) -> Result<&Array> {
        Self::required(key, self.opt_array(key))
    }
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        Self::required(key, self.opt_str_array(key))
    }
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>> {
        Self::required(key, self.opt_f32_array(key))
    }
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>> {
        Self::required(key, self.opt_i32_array(key))
    }
    pub fn get_u32_array(&self, key: &str) -> Result<Vec<u32>> {
        Self::required(key, self.opt_u32_array(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata::from_entries(vec![
            ("a.u8".into(), Value::U8(200)),
            ("a.i64".into(), Value::I64(-3)),
            ("a.f64".into(), Value::F64(0.25)),
            ("a.s".into(), Value::from("hi")),
            (
                "a.strs".into(),
                Value::array(ValueType::String, vec!["x".into(), "y".into()]),
            ),
            (
                "a.ints".into(),
                Value::array(ValueType::U8, vec![Value::U8(1), Value::U8(2)]),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn getters_widen_and_name_the_key() {
        let m = sample();
        assert_eq!(m.get_u32("a.u8").unwrap(), 200);
        assert_eq!(m.get_i64("a.u8").unwrap(), 200);
        assert_eq!(m.get_i64("a.i64").unwrap(), -3);
        assert_eq!(m.get_f32("a.f64").unwrap(), 0.25);
        assert_eq!(m.get_str("a.s").unwrap(), "hi");
        assert_eq!(m.get_str_array("a.strs").unwrap(), vec!["x", "y"]);
        assert_eq!(m.get_i32_array("a.ints").unwrap(), vec![1, 2]);
        let e = m.get_u32("a.i64").unwrap_err().to_string();
        assert!(e.contains("a.i64") && e.contains("int64"), "{e}");
        let e = m.get_str("nope").unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("missing"), "{e}");
        assert_eq!(m.opt_u32("nope").unwrap(), None);
        assert!(m.opt_u32("a.s").is_err());
        assert!(m.get_f32_array("a.strs").is_err());
    }

    #[test]
    fn order_kept_and_duplicates_rejected() {
        let mut m = sample();
        assert!(m.push("a.s", Value::Bool(true)).is_err());
        m.set("a.s", Value::Bool(true));
        assert_eq!(m.entries()[3].1, Value::Bool(true));
        assert_eq!(m.remove("a.i64"), Some(Value::I64(-3)));
        assert_eq!(m.get_str_array("a.strs").unwrap(), vec!["x", "y"]);
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a.u8", "a.f64", "a.s", "a.strs", "a.ints"]);
    }
}
