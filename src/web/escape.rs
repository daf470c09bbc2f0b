//! HTML escaping for the few places text goes into markup (Tornado's `xhtml_escape`).

/// Escapes `&`, `<`, `>`, `"` and `'` so `text` can go into HTML text or a quoted
/// attribute.
///
/// ```
/// assert_eq!(squall::web::escape_html("<b a='1'>&\"</b>"),
///            "&lt;b a=&#39;1&#39;&gt;&amp;&quot;&lt;/b&gt;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
