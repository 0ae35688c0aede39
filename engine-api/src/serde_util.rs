//! Decoding helpers shared by the models: engines send `null` for empty lists and maps, and
//! Podman sends some lists as a single string.

use serde::{Deserialize, Deserializer};

/// `null` (or absent, with `#[serde(default)]`) decodes to the type's default.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings that Podman sometimes sends as one string (`Entrypoint`, `Cmd`); a single
/// string is a one-element list, as Docker's own decoding has it, and an empty one no list.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::One(s)) if s.is_empty() => Vec::new(),
        Some(Either::One(s)) => vec![s],
        Some(Either::Many(v)) => v,
    })
}
