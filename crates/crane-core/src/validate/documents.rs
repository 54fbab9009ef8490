//! Multi-document YAML files (`---` separated): several apps in one file, applied in one go.
//!
//! The file is split into documents on its `---` lines (at column 0 a document marker can never be content, not even
//! inside a block scalar, so splitting the text is exact), and each document is validated on its own with
//! [`super::parse_spec_with`]. Diagnostics keep the line of the file (the document's own line plus where it starts)
//! and name the document, so an editor can mark them; every problem of every document is reported at once.

use std::collections::BTreeMap;

use super::Floor;
use crate::error::Diagnostic;
use crate::spec::AppSpec;

/// Largest multi-document file accepted, in bytes (1 MiB: four specs at the single-spec cap).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most documents (apps) one file may hold.
pub const MAX_DOCUMENTS: usize = 100;

/// One document of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// 1-based number among the file's non-empty documents.
    pub index: u32,
    /// 1-based line of the file where the document's text starts.
    pub first_line: u32,
    /// The document's text; a `---` marker that shares its line with content is blanked, so columns stay those of
    /// the file.
    pub text: String,
}

/// Whether `line` is a document marker (`---` or `...`, alone or followed by a space or tab).
fn marker(line: &str) -> Option<&'static str> {
    ["---", "..."]
        .into_iter()
        .find(|m| line.strip_prefix(m).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])))
}

/// Whether a document holds nothing but blank lines and comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// Splits `source` into its non-empty documents, in file order. A file without `---` is one document.
pub fn split_documents(source: &str) -> Vec<Document> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut first_line = 1u32;
    let flush = |text: &mut String, first_line: u32, out: &mut Vec<Document>| {
        if !is_blank(text) {
            let index = u32::try_from(out.len() + 1).unwrap_or(u32::MAX);
            out.push(Document { index, first_line, text: std::mem::take(text) });
        }
        text.clear();
    };
    for (i, line) in source.split_inclusive('\n').enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        match marker(line) {
            Some("---") => {
                flush(&mut current, first_line, &mut out);
                first_line = number;
                // Content after the marker (`--- name: web` is rare but valid) stays at its column.
                current.push_str("   ");
                current.push_str(&line[3..]);
            }
            Some(_) => {
                flush(&mut current, first_line, &mut out);
                first_line = number + 1;
            }
            None => current.push_str(line),
        }
    }
    flush(&mut current, first_line, &mut out);
    out
}

/// Parses and validates every document of `source` under `floor`. All documents must be valid: otherwise every
/// problem of every document is returned (with its document and the line of the file), and no spec. Two documents
/// naming the same app are refused too.
pub fn parse_specs_with(source: &str, floor: &Floor) -> Result<Vec<AppSpec>, Vec<Diagnostic>> {
    if source.len() > MAX_FILE_BYTES {
        return Err(vec![Diagnostic::new(
            0,
            0,
            "",
            format!("the file is {} bytes; a file of apps may be at most {MAX_FILE_BYTES} bytes (1 MiB)", source.len()),
            "split the apps into several files",
        )]);
    }
    let documents = split_documents(source);
    if documents.is_empty() {
        return Err(vec![Diagnostic::new(
            0,
            0,
            "",
            "the file holds no app",
            "write at least `name:` and `image:`, e.g. `name: web` and `image: crane-demo:0.1.0`",
        )]);
    }
    if documents.len() > MAX_DOCUMENTS {
        return Err(vec![Diagnostic::new(
            0,
            0,
            "",
            format!("the file holds {} documents; at most {MAX_DOCUMENTS} apps are applied in one go", documents.len()),
            "split the apps into several files",
        )]);
    }
    let multi = documents.len() > 1;
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    let mut names: BTreeMap<String, u32> = BTreeMap::new();
    for doc in &documents {
        let place = |mut d: Diagnostic| {
            if d.line > 0 {
                d.line = d.line.saturating_add(doc.first_line - 1);
            }
            if multi {
                d.document = Some(doc.index);
            }
            d
        };
        match super::parse_spec_with(&doc.text, floor) {
            Ok(spec) => {
                if let Some(first) = names.insert(spec.name.clone(), doc.index) {
                    let (line, column) = name_position(&doc.text);
                    problems.push(place(Diagnostic::new(
                        line,
                        column,
                        "name",
                        format!("app '{}' is already defined in document {first}", spec.name),
                        "give each document its own app name, or remove one of them",
                    )));
                }
                specs.push(spec);
            }
            Err(diags) => problems.extend(diags.into_iter().map(place)),
        }
    }
    if problems.is_empty() {
        Ok(specs)
    } else {
        Err(problems)
    }
}

/// Parses every document under the strict floor ([`Floor::default`]).
pub fn parse_specs(source: &str) -> Result<Vec<AppSpec>, Vec<Diagnostic>> {
    parse_specs_with(source, &Floor::default())
}

/// The position of the top-level `name` value of a document that validated.
fn name_position(text: &str) -> (u32, u32) {
    match super::tree::parse(text) {
        Ok(Some(root)) => {
            super::tree::locate(&root, &super::tree::Path::root().key("name"), super::tree::Target::Value)
        }
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> String {
        format!("name: {name}\nimage: crane-demo:0.1.0\n")
    }

    #[test]
    fn splits_on_markers_and_keeps_file_lines() {
        let cases: &[(&str, &[(u32, u32)])] = &[
            ("name: a\n", &[(1, 1)]),
            ("---\nname: a\n", &[(1, 1)]),
            ("name: a\n---\nname: b\n", &[(1, 1), (2, 2)]),
            ("# only a comment\n---\nname: a\n---\n\n---\nname: b\n", &[(1, 2), (2, 6)]),
            ("name: a\n...\nname: b\n", &[(1, 1), (2, 3)]),
            ("name: a\n----\n", &[(1, 1)]),
            ("text: |\n  ---not a marker\n", &[(1, 1)]),
        ];
        for (source, want) in cases {
            let got: Vec<(u32, u32)> = split_documents(source).iter().map(|d| (d.index, d.first_line)).collect();
            assert_eq!(&got, want, "{source:?}");
        }
    }

    #[test]
    fn content_on_the_marker_line_keeps_its_column() {
        let docs = split_documents("--- name: a\nimage: x\n");
        assert_eq!(docs[0].text, "    name: a\nimage: x\n");
    }

    #[test]
    fn every_problem_of_every_document_is_reported_with_file_lines() {
        let source =
            format!("{}---\nname: b\nimage: crane-demo:0.1.0\nreplicas: -1\n---\n{}bogus: 1\n", spec("a"), spec("c"));
        let problems = parse_specs(&source).unwrap_err();
        let got: Vec<(Option<u32>, u32, String)> =
            problems.iter().map(|d| (d.document, d.line, d.path.clone())).collect();
        assert_eq!(got, vec![(Some(2), 6, "replicas".to_string()), (Some(3), 10, "bogus".to_string())]);
    }

    #[test]
    fn valid_documents_parse_in_order() {
        let source = format!("{}---\n{}", spec("a"), spec("b"));
        let names: Vec<String> = parse_specs(&source).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn one_document_keeps_no_document_number() {
        let problems = parse_specs("name: a\n").unwrap_err();
        assert!(problems.iter().all(|d| d.document.is_none()), "{problems:?}");
    }

    #[test]
    fn a_name_twice_is_refused_at_the_second() {
        let source = format!("{}---\n{}", spec("a"), spec("a"));
        let problems = parse_specs(&source).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].document, problems[0].line, problems[0].column), (Some(2), 4, 7));
        assert!(problems[0].message.contains("document 1"), "{}", problems[0].message);
    }

    #[test]
    fn empty_and_oversized_files_are_refused() {
        assert!(parse_specs("# nothing\n---\n").unwrap_err()[0].message.contains("no app"));
        let big = "#".repeat(MAX_FILE_BYTES + 1);
        assert!(parse_specs(&big).unwrap_err()[0].message.contains("1 MiB"));
        let many = (0..=MAX_DOCUMENTS).map(|i| spec(&format!("a{i}"))).collect::<Vec<_>>().join("---\n");
        assert!(parse_specs(&many).unwrap_err()[0].message.contains("at most 100"));
    }
}
