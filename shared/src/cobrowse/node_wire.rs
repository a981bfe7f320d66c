//! How a [`Node`] is written: one object per node with one-letter keys and
//! no kind tag — an element is the object with a tag name `n`, a text the
//! one with a value `v`, anything else a comment. A tag on every node of a
//! 10,000-node snapshot would be 80 KB. Objects from older senders, which
//! carried `"t": "e" | "x" | "c"`, read the same.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Node, NodeId, IMPLICIT};

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let id = self.id();
        if id != IMPLICIT {
            map.serialize_entry("i", &id)?;
        }
        match self {
            Node::Element { n, a, c, s, y, css, f, m, .. } => {
                map.serialize_entry("n", n)?;
                if !a.is_empty() {
                    map.serialize_entry("a", a)?;
                }
                if !c.is_empty() {
                    map.serialize_entry("c", c)?;
                }
                if let Some(s) = s {
                    map.serialize_entry("s", s)?;
                }
                if !y.is_empty() {
                    map.serialize_entry("y", y)?;
                }
                if let Some(css) = css {
                    map.serialize_entry("css", css)?;
                }
                if let Some(f) = f {
                    map.serialize_entry("f", f)?;
                }
                if let Some(m) = m {
                    map.serialize_entry("m", m)?;
                }
            }
            Node::Text { v, .. } => map.serialize_entry("v", v)?,
            Node::Comment { .. } => {}
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum Key {
    #[serde(rename = "i")]
    Id,
    #[serde(rename = "n")]
    Name,
    #[serde(rename = "a")]
    Attrs,
    #[serde(rename = "c")]
    Children,
    #[serde(rename = "s")]
    Shadow,
    #[serde(rename = "y")]
    Adopted,
    #[serde(rename = "css")]
    Css,
    #[serde(rename = "f")]
    Frame,
    #[serde(rename = "m")]
    Masked,
    #[serde(rename = "v")]
    Value,
    #[serde(rename = "t")]
    Kind,
    #[serde(other)]
    Other,
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DOM node object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut i: NodeId = IMPLICIT;
        let mut n: Option<String> = None;
        let mut a = Vec::new();
        let mut c = Vec::new();
        let mut s = None;
        let mut y = Vec::new();
        let mut css = None;
        let mut f = None;
        let mut m = None;
        let mut v: Option<String> = None;
        let mut kind: Option<String> = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => i = map.next_value()?,
                Key::Name => n = Some(map.next_value()?),
                Key::Attrs => a = map.next_value()?,
                Key::Children => c = map.next_value()?,
                Key::Shadow => s = map.next_value()?,
                Key::Adopted => y = map.next_value()?,
                Key::Css => css = map.next_value()?,
                Key::Frame => f = map.next_value()?,
                Key::Masked => m = map.next_value()?,
                Key::Value => v = Some(map.next_value()?),
                Key::Kind => kind = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match (n, v, kind.as_deref()) {
            (Some(n), _, None | Some("e")) => Node::Element { i, n, a, c, s, y, css, f, m },
            (None, _, Some("e")) => return Err(de::Error::missing_field("n")),
            (_, Some(v), None | Some("x")) => Node::Text { i, v },
            (_, None, Some("x")) => return Err(de::Error::missing_field("v")),
            (None, None, None | Some("c")) => Node::Comment { i },
            (_, _, Some(other)) => return Err(de::Error::unknown_variant(other, &["e", "x", "c"])),
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_map(NodeVisitor)
    }
}
