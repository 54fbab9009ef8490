//! A small YAML tree whose nodes remember where they were written.
//!
//! serde stops at the first error and forgets positions once a value is built, so validation parses the source a
//! second time into this tree: the schema walk finds every unknown field and type error with its line and column, and
//! semantic checks on the typed spec map a field path back to the line and column of its value.

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Deeper nesting than this is refused: no spec needs it, and it would let a hostile document exhaust the stack.
const MAX_DEPTH: usize = 64;
/// More nodes than this are refused, so a document of many tiny values cannot exhaust memory.
const MAX_NODES: usize = 100_000;
/// What an alias is answered with. Aliases are refused outright rather than expanded: expanding one copies its
/// anchor's value, so a few hundred aliases of one large anchor would cost hundreds of megabytes (an alias bomb).
pub(crate) const ALIAS_REFUSED: &str = "aliases (*name) are not supported in Crane specs";

/// One node of the tree, with the 1-based position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The value.
    pub kind: Kind,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A scalar; `plain` is false for quoted and block scalars (and `!!str`-tagged ones), which are always text.
    Scalar {
        /// The text as written (after unescaping).
        value: String,
        /// Whether the scalar was written without quotes, so YAML may read it as a number, bool or null.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, entries in source order (duplicates kept so they can be reported).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if this node is a scalar.
    pub fn as_scalar(&self) -> Option<(&str, bool)> {
        match &self.kind {
            Kind::Scalar { value, plain } => Some((value.as_str(), *plain)),
            _ => None,
        }
    }

    /// Whether YAML reads this node as null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar(), Some((v, true)) if matches!(v, "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value stored under `key`, if this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node stored under `key`.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => {
                entries.iter().find(|(k, _)| k.as_scalar().map(|(s, _)| s) == Some(key)).map(|(k, v)| (k, v))
            }
            _ => None,
        }
    }

    /// A short description of the node for messages: "a mapping", "a list", "`abc`", "nothing".
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Map(_) => "a mapping".to_string(),
            Kind::Seq(_) => "a list".to_string(),
            Kind::Scalar { .. } if self.is_null() => "nothing".to_string(),
            Kind::Scalar { value, plain: true } => format!("`{value}`"),
            Kind::Scalar { value, plain: false } => format!("the quoted text \"{value}\""),
        }
    }
}

/// A segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A list index (0-based, as written in paths like `ports[1]`).
    Index(usize),
}

/// A field path such as `ports[1].public`, kept as segments so keys containing `.` or `[` stay unambiguous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(pub Vec<Seg>);

impl Path {
    /// The root of the document.
    pub fn root() -> Self {
        Path(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        Path(segs)
    }

    /// This path extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Path(segs)
    }

    /// The path as users read it: `resources.memory`, `ports[1].public`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// Where a path points in the source.
pub(crate) enum Target {
    /// The value stored at the path.
    Value,
    /// The key that introduces the path's last segment (for problems with a key, such as an invalid env name).
    Key,
}

/// The node at exactly `path` under `root`, if the source has one there.
fn walk<'a>(root: &'a Node, path: &Path) -> Option<&'a Node> {
    let mut node = root;
    for seg in &path.0 {
        node = match (seg, &node.kind) {
            (Seg::Key(k), Kind::Map(_)) => node.get(k)?,
            (Seg::Index(i), Kind::Seq(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// The node at `path` under `root`, if there is one and it is not null.
pub(crate) fn lookup<'a>(root: &'a Node, path: &Path) -> Option<&'a Node> {
    walk(root, path).filter(|n| !n.is_null())
}

/// The 1-based (line, column) of `path` in `root`. When the path does not exist in the source (a defaulted field),
/// the position of its deepest existing ancestor is returned, which is where the user would add it.
pub(crate) fn locate(root: &Node, path: &Path, target: Target) -> (u32, u32) {
    let mut node = root;
    let last = path.0.len().saturating_sub(1);
    for (i, seg) in path.0.iter().enumerate() {
        let next = match (seg, &node.kind) {
            (Seg::Key(k), Kind::Map(_)) => match node.entry(k) {
                Some((key, _)) if i == last && matches!(target, Target::Key) => return (key.line, key.column),
                Some((_, value)) => Some(value),
                None => None,
            },
            (Seg::Index(idx), Kind::Seq(items)) => items.get(*idx),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    (node.line, node.column)
}

/// The scalar text at exactly `path`, if the source has one there.
pub(crate) fn scalar_at<'a>(root: &'a Node, path: &Path) -> Option<&'a str> {
    walk(root, path)?.as_scalar().map(|(text, _)| text)
}

/// Why the source could not be turned into a tree.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What the YAML parser said.
    pub message: String,
}

impl SyntaxError {
    fn at(mark: Marker, message: impl Into<String>) -> Self {
        let (line, column) = position(mark);
        SyntaxError { line, column, message: message.into() }
    }
}

impl From<ScanError> for SyntaxError {
    fn from(e: ScanError) -> Self {
        SyntaxError::at(*e.marker(), e.info().to_string())
    }
}

/// yaml-rust2 0.10 reports 1-based lines and 0-based columns; diagnostics use 1-based for both.
fn position(mark: Marker) -> (u32, u32) {
    let line = u32::try_from(mark.line()).unwrap_or(u32::MAX).max(1);
    let column = u32::try_from(mark.col()).unwrap_or(u32::MAX).saturating_add(1);
    (line, column)
}

/// Parses the first document of `source`. `Ok(None)` when the source holds no document at all.
pub(crate) fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder { parser: Parser::new_from_str(source), nodes: 0 };
    builder.document()
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    nodes: usize,
}

impl Builder<'_> {
    fn document(&mut self) -> Result<Option<Node>, SyntaxError> {
        let mut root = None;
        loop {
            let (event, mark) = self.parser.next_token()?;
            match event {
                // A second document would be silently ignored by serde; say so at its `---`.
                Event::DocumentStart if root.is_some() => {
                    return Err(SyntaxError::at(mark, "a spec is one YAML document; a second one starts here"));
                }
                Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(root),
                other => root = Some(self.node(other, mark, 0)?),
            }
        }
    }

    fn node(&mut self, event: Event, mark: Marker, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError::at(mark, "the document is nested too deeply"));
        }
        let (line, column) = position(mark);
        let (kind, anchor) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain && !is_str_tag(tag.as_ref());
                (Kind::Scalar { value, plain }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.parser.next_token()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1)?);
                }
                (Kind::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Vec::new();
                loop {
                    let (ev, m) = self.parser.next_token()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(ev, m, depth + 1)?;
                    let (ev, m) = self.parser.next_token()?;
                    let mut value = self.node(ev, m, depth + 1)?;
                    // An empty value (`image:`) is marked where the next token starts, often on the next line;
                    // its key is where the user looks.
                    if matches!(&value.kind, Kind::Scalar { value: v, plain: true } if v.is_empty()) {
                        (value.line, value.column) = (key.line, key.column);
                    }
                    entries.push((key, value));
                }
                (Kind::Map(entries), anchor)
            }
            Event::Alias(_) => return Err(SyntaxError::at(mark, ALIAS_REFUSED)),
            _ => return Err(SyntaxError::at(mark, "unexpected YAML event")),
        };
        self.count(1, mark)?;
        // A block mapping's start event is marked after its first key; the first key (or `-`) is where a reader
        // sees the mapping begin, so the earlier of the two positions is the mapping's position.
        let first = match &kind {
            Kind::Map(entries) => entries.first().map(|(k, _)| (k.line, k.column)),
            Kind::Seq(items) => items.first().map(|n| (n.line, n.column)),
            Kind::Scalar { .. } => None,
        };
        let (line, column) = first.map_or((line, column), |f| f.min((line, column)));
        // An anchor alone is harmless (no alias may refer to it), so it is accepted and ignored.
        let _ = anchor;
        Ok(Node { line, column, kind })
    }

    fn count(&mut self, n: usize, mark: Marker) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(SyntaxError::at(mark, "the document is too large (too many values)"));
        }
        Ok(())
    }
}

fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| t.suffix == "str" || t.suffix == "tag:yaml.org,2002:str")
}
