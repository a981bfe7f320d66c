//! Long `data:` URLs in attributes travel as assets, once per recorder life,
//! and the attribute carries `baton-asset:<sha1>` instead: a page that
//! repeats an inline image a hundred times sends it once. The console puts
//! the data back before it sanitizes the attribute, so the same rules
//! apply as if the URL had been inline.

use super::{Mutations, Node};

/// What an attribute value that refers to an asset starts with.
pub const ASSET_REF: &str = "baton-asset:";

/// The attribute value that refers to the asset `hash`.
pub fn reference(hash: &str) -> String {
    format!("{ASSET_REF}{hash}")
}

/// The asset hash an attribute value refers to, if it does.
pub fn referenced(value: &str) -> Option<&str> {
    value.strip_prefix(ASSET_REF)
}

/// Replaces a reference with the asset's data; a reference to an asset
/// not at hand becomes empty (an image without a source, never a URL of
/// the sender's choosing).
fn resolve_value(value: &mut String, data: &impl Fn(&str) -> Option<String>) {
    if let Some(hash) = referenced(value) {
        *value = data(hash).unwrap_or_default();
    }
}

/// Whether any attribute in a tree refers to an asset.
pub fn node_refers(node: &Node) -> bool {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Node::Element { a, c, s, f, .. } = n {
            if a.iter().any(|(_, v)| referenced(v).is_some()) {
                return true;
            }
            stack.extend(c.iter());
            stack.extend(s.iter().flatten());
            stack.extend(f.iter().map(|b| &**b));
        }
    }
    false
}

/// Whether any added node or attribute change of a batch refers to an asset.
pub fn mutations_refer(m: &Mutations) -> bool {
    m.adds.iter().any(|a| node_refers(&a.node))
        || m.attrs.iter().any(|c| c.value.as_deref().and_then(referenced).is_some())
}

/// Puts the assets' data back into every attribute of a tree.
pub fn resolve_node(node: &mut Node, data: &impl Fn(&str) -> Option<String>) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Node::Element { a, c, s, f, .. } = n {
            for (_, v) in a.iter_mut() {
                resolve_value(v, data);
            }
            stack.extend(c.iter_mut());
            if let Some(s) = s {
                stack.extend(s.iter_mut());
            }
            if let Some(f) = f {
                stack.push(f);
            }
        }
    }
}

/// Puts the assets' data back into a batch's added nodes and attribute changes.
pub fn resolve_mutations(m: &mut Mutations, data: &impl Fn(&str) -> Option<String>) {
    for add in &mut m.adds {
        resolve_node(&mut add.node, data);
    }
    for change in &mut m.attrs {
        if let Some(v) = &mut change.value {
            resolve_value(v, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_in_trees_and_changes() {
        let url = format!("data:image/png;base64,{}", "A".repeat(300));
        let known = url.clone();
        let data = move |h: &str| (h == "abc").then(|| known.clone());
        let img =
            |src: &str| Node::element(2, "img", vec![("src".into(), src.into()), ("alt".into(), "x".into())], None);
        let mut tree = Node::Element {
            i: 1,
            n: "p".into(),
            a: vec![],
            c: vec![img(&reference("abc")), img(&reference("missing"))],
            s: None,
            y: vec![],
            css: None,
            f: None,
            m: None,
        };
        resolve_node(&mut tree, &data);
        let Node::Element { c, .. } = &tree else { unreachable!() };
        assert_eq!(c[0], img(&url));
        assert_eq!(c[1], img(""), "an unknown asset leaves no URL");
    }
}
