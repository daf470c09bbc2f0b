//! Templates (minijinja) and `static_url` over real sockets, through `squall::testing`.
#![cfg(feature = "templates")]

mod support;

use squall::testing::TestServer;
use squall::web::{Application, Context, WebOptions};
use support::http::temp_path;

#[derive(serde::Serialize)]
struct Entry {
    title: String,
    body: String,
}

#[test]
fn pages_render_escaped_with_inheritance_static_urls_and_the_xsrf_field() {
    let dir = temp_path("templates");
    let (tpl, stat) = (dir.join("templates"), dir.join("static"));
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::create_dir_all(&stat).unwrap();
    std::fs::write(
        tpl.join("base.html"),
        "<html><head><link href=\"{{ static_url('app.css') }}\"></head>\
         <body>{% block body %}{% endblock %}</body></html>",
    )
    .unwrap();
    std::fs::write(
        tpl.join("entry.html"),
        "{% extends \"base.html\" %}{% block body %}<h1>{{ title }}</h1>{{ body }}\
         <a href=\"{{ reverse_url('entry', 'a b') }}\">link</a>\
         <form method=post>{{ xsrf_form_html }}</form>{% endblock %}",
    )
    .unwrap();
    std::fs::write(stat.join("app.css"), "body { color: red }").unwrap();
    let app = Application::with_options(
        WebOptions::default()
            .template_path(&tpl)
            .static_path(&stat)
            .xsrf_cookies(true),
    )
    .get("/entry/{slug}", |ctx: &mut Context| {
        ctx.render(
            "entry.html",
            Entry {
                title: "<script>alert(1)</script>".into(),
                body: "a & b".into(),
            },
        )
    })
    .name("entry")
    .get("/missing", |ctx: &mut Context| ctx.render("nope.html", ()))
    .get("/url", |ctx: &mut Context| {
        let url = ctx.static_url("app.css");
        ctx.send_text(url);
        Ok(())
    });
    let mut server = TestServer::app(app).unwrap();
    let page = server.fetch("/entry/x").unwrap();
    let url = server.fetch("/url").unwrap().text();
    let css = server.fetch(url.as_str()).unwrap();
    let plain = server.fetch("/static/app.css").unwrap();
    let missing = server.fetch("/missing").unwrap();
    let html = page.text();
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(
        html.starts_with("<html><head><link href=\"/static/app.css?v="),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    assert!(
        html.contains("<h1>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</h1>a &amp; b"),
        "{html}"
    );
    assert!(html.contains("<a href=\"/entry/a%20b\">"), "{html}");
    assert!(
        html.contains("<input type=\"hidden\" name=\"_xsrf\" value=\"2|"),
        "{html}"
    );
    assert!(page
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.as_bytes().starts_with(b"_xsrf=")));
    assert!(
        url.starts_with("/static/app.css?v=") && url.len() == "/static/app.css?v=".len() + 32,
        "{url}"
    );
    assert_eq!(
        (css.status.as_u16(), css.text().as_str()),
        (200, "body { color: red }")
    );
    assert_eq!(css.headers["cache-control"], "max-age=315360000, public");
    assert_eq!(
        (plain.status.as_u16(), plain.headers.get("cache-control")),
        (200, None)
    );
    assert_eq!(missing.status, 500);
    let _ = std::fs::remove_dir_all(&dir);
}
