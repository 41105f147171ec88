//! A small element tree for qbXML: parsed with bounds (size, depth, no DOCTYPE, only the
//! predefined entities and character references), written back escaped.
//!
//! qbXML is element-only data: mixed content and attributes carry nothing a Mod needs
//! (`defMacro`/`useMacro` belong to the Add that was sent), so what is written back is element
//! names, children and text. Attributes are still read, so malformed ones are refused, and
//! kept for the table generator, which reads Intuit's XSD with this parser.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::ChangeError;

/// Largest document read: a qbXML request or `*Ret` is a few KiB; 1 MiB leaves room for a
/// transaction with hundreds of lines and refuses anything that is not one.
pub(crate) const MAX_INPUT: usize = 1 << 20;
/// Deepest nesting read (qbXML nests at most about 8 levels; XSDs about 15).
pub(crate) const MAX_DEPTH: usize = 64;

/// One element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Node>,
    /// The element's own text (concatenated), unescaped.
    pub(crate) text: String,
}

impl Node {
    /// An element holding only `text`.
    pub(crate) fn leaf(name: &str, text: &str) -> Node {
        Node {
            name: name.to_owned(),
            text: text.to_owned(),
            ..Node::default()
        }
    }

    /// The first child named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`, trimmed.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// An attribute's value (the table generator reads the XSD's).
    #[cfg(test)]
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the element has no child elements (a value, possibly empty).
    pub(crate) fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    /// The element as XML, without attributes.
    pub(crate) fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        out.push('>');
        if self.is_leaf() {
            escape(&self.text, out);
        }
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Escape the XML special characters (the text holds no control characters: the parser
/// refuses them).
pub(crate) fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// Parse a document or fragment with one root element (an XML declaration and `<?qbxml?>`
/// processing instruction are allowed before it).
pub(crate) fn parse(xml: &str) -> Result<Node, ChangeError> {
    parse_within(xml, MAX_INPUT)
}

/// [`parse`] with another size bound (Intuit's schema files, read by the table generator).
pub(crate) fn parse_within(xml: &str, max: usize) -> Result<Node, ChangeError> {
    let bad = |reason: String| ChangeError::Parse { reason };
    if xml.len() > max {
        return Err(bad(format!(
            "{} bytes, more than the {max} read",
            xml.len()
        )));
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let name = start.name().as_ref().to_owned();
                return Err(bad(format!("a second root element <{name}>")));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(bad(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                let node = open(&start)?;
                close(node, &mut stack, &mut root);
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| bad("an unmatched end tag".into()))?;
                close(node, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let text = text.xml10_content();
                push_text(&mut stack, &text)?;
            }
            Event::CData(data) => {
                let text = data.xml10_content();
                push_text(&mut stack, &text)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.xml10_content();
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                bad(format!(
                                    "the entity &{name}; (only &amp; &lt; &gt; &quot; &apos; and character references are allowed)"
                                ))
                            })?
                            .to_owned()
                    }
                    Err(e) => return Err(bad(format!("a character reference: {e}"))),
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::DocType(_) => {
                return Err(bad("a DOCTYPE (qbXML never has one)".into()));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad(format!(
            "<{}> is not closed",
            stack[stack.len() - 1].name
        )));
    }
    root.ok_or_else(|| bad("no element".into()))
}

fn open(start: &BytesStart<'_>) -> Result<Node, ChangeError> {
    let name = start.name().as_ref().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| ChangeError::Parse {
            reason: format!("an attribute of <{name}>: {e}"),
        })?;
        let key = attr.key.as_ref().to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| ChangeError::Parse {
                reason: format!("attribute {key} of <{name}>: {e}"),
            })?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Node {
        name,
        attrs,
        ..Node::default()
    })
}

fn close(node: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn push_text(stack: &mut [Node], text: &str) -> Result<(), ChangeError> {
    if let Some(c) = text
        .chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ChangeError::Parse {
            reason: format!("the control character U+{:04X} in text", c as u32),
        });
    }
    match stack.last_mut() {
        Some(node) => node.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => {
            return Err(ChangeError::Parse {
                reason: "text outside the root element".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_resolved_and_written_back_escaped() {
        let node =
            parse("<?xml version=\"1.0\"?><A><B>O&apos;Neil &amp; Co &#233;&#x41;</B><C/></A>")
                .unwrap();
        assert_eq!(node.child_text("B"), Some("O'Neil & Co éA"));
        let mut out = String::new();
        node.write(&mut out);
        assert_eq!(out, "<A><B>O&apos;Neil &amp; Co éA</B><C></C></A>");
    }

    #[test]
    fn doctype_custom_entities_depth_and_size_are_refused() {
        let refused = |xml: &str, part: &str| {
            let e = parse(xml).unwrap_err().to_string();
            assert!(e.contains(part), "{e}");
        };
        refused("<!DOCTYPE A [<!ENTITY x 'y'>]><A>&x;</A>", "DOCTYPE");
        refused("<A>&x;</A>", "&x;");
        refused("<A>&#1;</A>", "U+0001");
        refused(
            &format!("{}{}", "<A>".repeat(65), "</A>".repeat(65)),
            "deeper",
        );
        refused(&format!("<A>{}</A>", "x".repeat(MAX_INPUT)), "bytes");
        refused("<A></B>", "byte");
        refused("<A><B></A>", "byte");
        refused("<A/><B/>", "second root");
        refused("<A>", "not closed");
    }
}
