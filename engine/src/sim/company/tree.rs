//! A small element tree for incoming request message sets.
//!
//! Requests are small (the size is capped before parsing) and the simulator needs random
//! access to their children, so unlike the response reader this builds a tree.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::qbxml::text::resolve_ref;

/// Deepest nesting accepted in a request.
const MAX_DEPTH: usize = 64;

/// One element: name, attributes, text content and children.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of the named child.
    pub(crate) fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Parses a document into its root element; `None` when it is not well-formed, has a
/// DOCTYPE, or nests too deep — QuickBooks answers all of these with the same parse error.
pub(crate) fn parse(xml: &str) -> Option<Node> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH || root.is_some() {
                    return None;
                }
                stack.push(node(&e)?);
            }
            Event::Empty(e) => {
                let n = node(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(n),
                    None if root.is_none() => root = Some(n),
                    None => return None,
                }
            }
            Event::End(_) => {
                let n = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => stack.last_mut()?.text.push_str(&c),
            Event::GeneralRef(r) => {
                let ch = resolve_ref(&r)?;
                stack.last_mut()?.text.push(ch);
            }
            Event::DocType(_) => return None,
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if stack.is_empty() { root } else { None }
}

fn node(e: &BytesStart<'_>) -> Option<Node> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.ok()?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()?;
        attrs.push((a.key.as_ref().to_string(), value.into_owned()));
    }
    Some(Node {
        name: e.local_name().as_ref().to_string(),
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}
