//! JSON parsing that refuses a key repeated in one object: serde_json keeps the last value of
//! a repeated key silently, so `{"rms_norm_eps": 1e-5, "rms_norm_eps": -1}` would read as -1
//! (and a repeated vocabulary entry would move a token's id) without a word.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use std::collections::HashSet;
use std::fmt;

/// Why a text is not accepted as JSON.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not valid JSON: serde_json's message (with line and column).
    Syntax(String),
    /// The first key repeated within one object, and the path of that object ("model.vocab",
    /// empty at the top level).
    DuplicateKey { key: String, within: String },
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "not valid JSON: {e}"),
            JsonError::DuplicateKey { key, within } if within.is_empty() => {
                write!(f, "key `{key}` appears twice")
            }
            JsonError::DuplicateKey { key, within } => {
                write!(f, "key `{key}` appears twice in `{within}`")
            }
        }
    }
}

/// Parses `text`, or says what is wrong: invalid JSON, or the first key repeated within one
/// object.
pub fn parse_unique_keys(text: &str) -> Result<Json, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut path = Vec::new();
    let mut duplicate = None;
    let checked = UniqueKeys {
        path: &mut path,
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(d) = duplicate {
        return Err(d);
    }
    checked.map_err(|e| JsonError::Syntax(e.to_string()))?;
    serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))
}

/// Walks a JSON value, remembering the first repeated key.
struct UniqueKeys<'p> {
    path: &'p mut Vec<String>,
    duplicate: &'p mut Option<JsonError>,
}

impl UniqueKeys<'_> {
    fn nested(&mut self) -> UniqueKeys<'_> {
        UniqueKeys {
            path: self.path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.nested())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                *self.duplicate = Some(JsonError::DuplicateKey {
                    key,
                    within: self.path.join("."),
                });
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(key);
            let value = map.next_value_seed(self.nested());
            self.path.pop();
            value?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_named_with_their_object() {
        assert_eq!(
            parse_unique_keys(r#"{"a": 1, "b": 2, "a": 3}"#)
                .unwrap_err()
                .to_string(),
            "key `a` appears twice"
        );
        assert_eq!(
            parse_unique_keys(r#"{"model": {"vocab": {"x": 0, "y": 1, "x": 2}}}"#)
                .unwrap_err()
                .to_string(),
            "key `x` appears twice in `model.vocab`"
        );
        let nested = r#"{"l": [{"k": 1}, {"k": 2, "k": 3}]}"#;
        assert_eq!(
            parse_unique_keys(nested).unwrap_err().to_string(),
            "key `k` appears twice in `l`"
        );
    }

    #[test]
    fn distinct_keys_parse_as_serde_json_does() {
        let text = r#"{"a": [1, 2.5, null, true, "s"], "b": {"a": {}}}"#;
        assert_eq!(
            parse_unique_keys(text).unwrap(),
            serde_json::from_str::<Json>(text).unwrap()
        );
        assert!(parse_unique_keys("{")
            .unwrap_err()
            .to_string()
            .contains("EOF"));
    }
}
