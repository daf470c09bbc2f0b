//! Entry text: Markdown to sanitised HTML, and slugs.

/// `text` as HTML, with anything unsafe removed (raw `<script>`, event handlers,
/// `javascript:` links): entries are untrusted input.
pub fn markdown(text: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(text));
    ammonia::clean(&html)
}

/// `"Hello, World!"` → `"hello-world"`; ASCII letters and digits only, `"entry"` if none.
pub fn slugify(title: &str) -> String {
    let words = title
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), " ");
    let slug = words
        .split_whitespace()
        .take(12)
        .collect::<Vec<_>>()
        .join("-");
    Some(slug)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "entry".into())
}
