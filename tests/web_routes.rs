//! Method shortcuts, any-method routes, named routes and plural arguments, served and
//! fetched over real sockets by `squall::testing::TestServer`.

use squall::http::HttpRequest;
use squall::testing::TestServer;
use squall::web::{Application, Context, Method};

fn echo_method(ctx: &mut Context) -> squall::web::HandlerResult {
    let m = ctx.request().method.to_string();
    let id = ctx.param("id").unwrap_or("").to_string();
    ctx.send_text(format!("{m} {id}"));
    Ok(())
}

#[test]
fn put_delete_patch_and_custom_methods_route() {
    let app = Application::new()
        .get("/items/{id}", echo_method)
        .put("/items/{id}", echo_method)
        .delete("/items/{id}", echo_method)
        .patch("/items/{id}", echo_method)
        .route(
            &[Method::from_bytes(b"PURGE").unwrap(), Method::OPTIONS],
            "/cache",
            echo_method,
        );
    let mut server = TestServer::app(app).unwrap();
    let mut out = Vec::new();
    for (m, p) in [
        ("PUT", "/items/1"),
        ("DELETE", "/items/2"),
        ("PATCH", "/items/3"),
        ("PURGE", "/cache"),
        ("OPTIONS", "/cache"),
        ("POST", "/items/4"),
    ] {
        let request = HttpRequest::new(p)
            .method(Method::from_bytes(m.as_bytes()).unwrap())
            .allow_nonstandard_methods(true)
            .body("");
        out.push(server.fetch(request).unwrap());
    }
    let got: Vec<(u16, String)> = out.iter().map(|r| (r.status.as_u16(), r.text())).collect();
    assert_eq!(got[0], (200, "PUT 1".to_string()));
    assert_eq!(got[1], (200, "DELETE 2".to_string()));
    assert_eq!(got[2], (200, "PATCH 3".to_string()));
    assert_eq!(got[3], (200, "PURGE ".to_string()));
    assert_eq!(got[4], (200, "OPTIONS ".to_string()));
    assert_eq!(out[5].status, 405);
    assert_eq!(out[5].headers["allow"], "GET, HEAD, PUT, DELETE, PATCH");
}

#[test]
fn named_routes_reverse_to_paths_that_route_back() {
    let app = Application::new()
        .get("/entry/{slug}", |ctx: &mut Context| {
            let slug = ctx.param("slug").unwrap().to_string();
            ctx.send_text(format!("entry {slug}"));
            Ok(())
        })
        .name("entry")
        .get("/", |ctx: &mut Context| {
            let url = ctx.reverse_url("entry", &["a b/c?d"])?;
            ctx.redirect(&url);
            Ok(())
        })
        .name("home")
        .get("/bad", |ctx: &mut Context| {
            ctx.reverse_url("nope", &[])?;
            Ok(())
        });
    assert_eq!(app.reverse_url("home", &[]).unwrap(), "/");
    assert!(app.reverse_url("entry", &[]).is_err());
    let mut server = TestServer::app(app).unwrap();
    let redirect = server
        .fetch(HttpRequest::new("/").follow_redirects(false))
        .unwrap();
    let location = redirect.headers["location"].to_str().unwrap().to_string();
    let page = server.fetch(location.as_str()).unwrap();
    let bad = server.fetch("/bad").unwrap();
    let out = (
        redirect.status.as_u16(),
        location,
        page.text(),
        bad.status.as_u16(),
    );
    assert_eq!(
        out,
        (
            302,
            "/entry/a%20b%2Fc%3Fd".to_string(),
            "entry a b/c?d".to_string(),
            500
        )
    );
}

#[test]
fn plural_arguments_from_query_body_and_both() {
    let app = Application::new().post("/args", |ctx: &mut Context| {
        let q = ctx.query_arguments("a").join(",");
        let b = ctx.body_arguments("a").join(",");
        let all = ctx.arguments("a").join(",");
        let none = ctx.query_arguments("zzz").len() + ctx.body_arguments("zzz").len();
        ctx.send_text(format!("q={q} b={b} all={all} none={none}"));
        Ok(())
    });
    let mut server = TestServer::app(app).unwrap();
    let request = HttpRequest::post("/args?a=1&a=%2F2", "a=3&x=1&a=4+5")
        .header("content-type", "application/x-www-form-urlencoded");
    let out = server.fetch(request).unwrap().text();
    assert_eq!(out, "q=1,/2 b=3,4 5 all=1,/2,3,4 5 none=0");
}
