//! `/portal/guide`: the getting-started guide (`docs/getting-started.md`), embedded in the
//! binary at build time so the page always matches the server it comes with, and shown as
//! headings, paragraphs and code blocks. The guide is written in English; the page around it
//! follows the partner's language. The API reference itself is the server's `/docs`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::portal_chrome;
use crate::error::ConsoleError;
use crate::i18n::{Lang, Messages};
use crate::page::{Chrome, render};

const GUIDE: &str = include_str!("../../../../docs/getting-started.md");

/// One block of the guide.
enum Block {
    Heading(u8, String),
    Paragraph(String),
    Code(String),
}

/// Splits the guide's Markdown into blocks: `#` headings, fenced code, and paragraphs (text
/// between blank lines, shown as written; inline marks stay as they are).
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let mut code: Option<Vec<&str>> = None;
    let flush = |para: &mut Vec<&str>, out: &mut Vec<Block>| {
        if !para.is_empty() {
            out.push(Block::Paragraph(para.join("\n")));
            para.clear();
        }
    };
    for line in text.lines() {
        if let Some(lines) = code.as_mut() {
            if line.trim_start().starts_with("```") {
                out.push(Block::Code(lines.join("\n")));
                code = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        if line.trim_start().starts_with("```") {
            flush(&mut para, &mut out);
            code = Some(Vec::new());
        } else if let Some(h) = line.strip_prefix('#') {
            flush(&mut para, &mut out);
            let level = 1 + h.chars().take_while(|c| *c == '#').count();
            let level = u8::try_from(level.min(4)).unwrap_or(4);
            out.push(Block::Heading(
                level,
                h.trim_start_matches('#').trim().to_owned(),
            ));
        } else if line.trim().is_empty() {
            flush(&mut para, &mut out);
        } else {
            para.push(line);
        }
    }
    if let Some(lines) = code {
        out.push(Block::Code(lines.join("\n")));
    }
    flush(&mut para, &mut out);
    out
}

#[derive(Template)]
#[template(path = "portal_guide.html")]
struct GuidePage {
    t: &'static Messages,
    chrome: Chrome,
    blocks: Vec<Block>,
}

/// `GET /portal/guide`: for everyone, signed in or not.
pub(crate) async fn guide(lang: Lang) -> Result<Response, ConsoleError> {
    render(
        StatusCode::OK,
        &GuidePage {
            t: lang.messages(),
            chrome: portal_chrome(lang, "/portal/guide", None),
            blocks: blocks(GUIDE),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_splits_into_headings_paragraphs_and_code() {
        let b = blocks("# Title\n\nSome\ntext.\n\n```sh\ncurl x\n\ncurl y\n```\n## Two\n");
        assert!(matches!(&b[0], Block::Heading(1, h) if h == "Title"));
        assert!(matches!(&b[1], Block::Paragraph(p) if p == "Some\ntext."));
        assert!(matches!(&b[2], Block::Code(c) if c == "curl x\n\ncurl y"));
        assert!(matches!(&b[3], Block::Heading(2, h) if h == "Two"));
        assert_eq!(b.len(), 4);
        assert!(blocks(GUIDE).len() > 10, "the embedded guide has content");
    }
}
