//! Finds nodes of a YAML document by path, so every diagnostic can name a
//! line and column.
//!
//! serde_yaml stops at the first error of a document. To report every error,
//! the loader deserializes each item on its own: a [`Nav`] seed walks the
//! whole document with serde_yaml's own deserializer, skipping everything but
//! the node at `path` (as `IgnoredAny`), and deserializes that node as `T`.
//! Errors then carry serde_yaml's real location. With `T = Here` the node
//! always "fails", which yields the node's own location.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping's key.
    Key(String),
    /// A sequence's item, 0-based.
    Index(usize),
}

/// Line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// The line, 1-based.
    pub line: usize,
    /// The column, 1-based.
    pub column: usize,
}

/// Deserializes the node at `path` of `src` as `T`; `Ok(())` when the node
/// is fine or absent.
pub(crate) fn check<T: de::DeserializeOwned>(src: &str, path: &[Seg]) -> Result<(), serde_yaml::Error> {
    Nav::<T> { path, target: PhantomData }.deserialize(serde_yaml::Deserializer::from_str(src))
}

/// The position of the node at `path`, if it exists.
pub fn locate(src: &str, path: &[Seg]) -> Option<Pos> {
    let err = check::<Here>(src, path).err()?;
    let loc = err.location()?;
    Some(Pos { line: loc.line(), column: loc.column() })
}

struct Nav<'p, T> {
    path: &'p [Seg],
    target: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Nav<'_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.split_first() {
            None => T::deserialize(d).map(drop),
            Some((seg, rest)) => d.deserialize_any(Step::<T> { seg, rest, target: PhantomData }),
        }
    }
}

struct Step<'p, T> {
    seg: &'p Seg,
    rest: &'p [Seg],
    target: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Step<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let hit = matches!((self.seg, key.as_str()), (Seg::Key(k), Some(s)) if k == s);
            if hit {
                map.next_value_seed(Nav::<T> { path: self.rest, target: PhantomData })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let found = if *self.seg == Seg::Index(i) {
                seq.next_element_seed(Nav::<T> { path: self.rest, target: PhantomData })?
            } else {
                seq.next_element::<IgnoredAny>()?.map(drop)
            };
            if found.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    // A scalar where the path goes deeper: the node does not exist.
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
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A type that never deserializes: its error carries the node's location.
struct Here;

impl<'de> Deserialize<'de> for Here {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Refuse;
        impl<'de> Visitor<'de> for Refuse {
            type Value = Here;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("nothing (locating a node)")
            }
        }
        d.deserialize_any(Refuse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "intents:\n  - name: a\n    examples: [x]\n  - name: b\n    examples:\n      - y\n      - z\nresponses:\n  hi:\n    - text: hello\n";

    #[test]
    fn locates_nodes_by_path() {
        let key = |k: &str| Seg::Key(k.into());
        assert_eq!(locate(DOC, &[key("intents"), Seg::Index(1)]), Some(Pos { line: 4, column: 5 }));
        let ex = [key("intents"), Seg::Index(1), key("examples"), Seg::Index(1)];
        assert_eq!(locate(DOC, &ex), Some(Pos { line: 7, column: 9 }));
        assert_eq!(locate(DOC, &[key("responses"), key("hi")]), Some(Pos { line: 10, column: 5 }));
        assert_eq!(locate(DOC, &[key("intents"), Seg::Index(5)]), None);
        assert_eq!(locate(DOC, &[key("nope")]), None);
    }

    #[test]
    fn checks_one_item_with_real_locations() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Item {
            name: String,
            examples: Vec<String>,
        }
        let doc = "intents:\n  - name: a\n    examples: [x]\n  - name: b\n    exmples: [y]\n";
        let path = |i| vec![Seg::Key("intents".into()), Seg::Index(i)];
        assert!(check::<Item>(doc, &path(0)).is_ok());
        let err = check::<Item>(doc, &path(1)).unwrap_err();
        assert_eq!(err.location().map(|l| (l.line(), l.column())), Some((5, 5)));
        assert!(err.to_string().contains("unknown field `exmples`"), "{err}");
    }
}
