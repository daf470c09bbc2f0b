//! Templates (minijinja) and `static_url` over real sockets.
#![cfg(feature = "templates")]

mod support;

use squall::web::{Application, Context, WebOptions};
use support::http::{run, temp_path, Reader};

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

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
    let out = run(
        move |h| app.server(h),
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(&get("/entry/x"));
            let page = r.response();
            r.send(&get("/url"));
            let url = r.response().body_str();
            r.send(&get(&url));
            let css = r.response();
            r.send(&get("/static/app.css"));
            let plain = r.response();
            r.send(&get("/missing"));
            (page, url, css, plain, r.response())
        },
    );
    let (page, url, css, plain, missing) = out;
    let html = page.body_str();
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
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
        .headers_named("set-cookie")
        .iter()
        .any(|c| c.starts_with("_xsrf=")));
    assert!(
        url.starts_with("/static/app.css?v=") && url.len() == "/static/app.css?v=".len() + 32,
        "{url}"
    );
    assert_eq!(
        (css.status, css.body_str().as_str()),
        (200, "body { color: red }")
    );
    assert_eq!(
        css.header("cache-control"),
        Some("max-age=315360000, public")
    );
    assert_eq!((plain.status, plain.header("cache-control")), (200, None));
    assert_eq!(missing.status, 500);
    let _ = std::fs::remove_dir_all(&dir);
}
