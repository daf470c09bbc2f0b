//! XSRF protection over real sockets, and tokens shared with a real Tornado app.

mod http_util;
mod tornado_util;

use std::net::SocketAddr;

use http_util::{exchange_to_eof, parse_all, run, Response};
use squall::web::{Application, Context, WebOptions};

fn app() -> Application {
    let page = |ctx: &mut Context| {
        let token = ctx.xsrf_token();
        ctx.send_text(token);
        Ok(())
    };
    let done = |ctx: &mut Context| {
        ctx.send_text("ok");
        Ok(())
    };
    Application::with_options(WebOptions::default().xsrf_cookies(true))
        .get("/token", page)
        .post("/token", done)
        .put("/token", done)
        .patch("/token", done)
        .delete("/token", done)
        .get("/form", |ctx: &mut Context| {
            let field = ctx.xsrf_form_html();
            ctx.send_html(field);
            Ok(())
        })
}

fn request(
    addr: SocketAddr,
    method: &str,
    cookie: Option<&str>,
    extra: &str,
    body: &str,
) -> Response {
    let cookie = cookie
        .map(|c| format!("Cookie: _xsrf={c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{cookie}{extra}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_all(exchange_to_eof(addr, req.as_bytes()).as_bytes())
        .pop()
        .expect("a response")
}

/// The `_xsrf` cookie value a response sets, if any.
fn set_xsrf(r: &Response) -> Option<String> {
    r.headers_named("set-cookie").iter().find_map(|h| {
        let v = h.strip_prefix("_xsrf=")?;
        Some(v.split(';').next().unwrap().to_string())
    })
}

fn form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("_xsrf", token)
        .finish()
}

#[test]
fn unsafe_methods_need_the_cookie_token_and_get_403_without() {
    let out = run(
        move |h| app().server(h),
        |addr| {
            let first = request(addr, "GET", None, "", "");
            let cookie = set_xsrf(&first).expect("a new _xsrf cookie");
            let token = first.body_str();
            // A second page with the cookie: a different masked token, no new cookie.
            let again = request(addr, "GET", Some(&cookie), "", "");
            let mut statuses = Vec::new();
            for m in ["POST", "PUT", "PATCH", "DELETE"] {
                statuses.push((m, "none", request(addr, m, Some(&cookie), "", "").status));
                statuses.push((
                    m,
                    "form",
                    request(addr, m, Some(&cookie), "", &form(&token)).status,
                ));
            }
            let header = |h: &str| {
                request(
                    addr,
                    "POST",
                    Some(&cookie),
                    &format!("{h}: {}\r\n", again.body_str()),
                    "",
                )
                .status
            };
            statuses.push(("POST", "X-XSRFToken", header("X-XSRFToken")));
            statuses.push(("POST", "X-CSRFToken", header("X-CSRFToken")));
            statuses.push((
                "POST",
                "no cookie",
                request(addr, "POST", None, "", &form(&token)).status,
            ));
            let other = request(addr, "GET", None, "", "").body_str();
            statuses.push((
                "POST",
                "other token",
                request(addr, "POST", Some(&cookie), "", &form(&other)).status,
            ));
            statuses.push((
                "POST",
                "garbage",
                request(addr, "POST", Some(&cookie), "", &form("2|zz|00|1")).status,
            ));
            let refused = request(addr, "POST", Some(&cookie), "", "");
            let html = {
                let req = format!("GET /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: _xsrf={cookie}\r\n\r\n");
                parse_all(exchange_to_eof(addr, req.as_bytes()).as_bytes())
                    .pop()
                    .unwrap()
            };
            (
                token,
                again,
                statuses,
                refused.body_str(),
                html.body_str(),
                set_xsrf(&html),
            )
        },
    );
    let (token, again, statuses, refused, html, html_cookie) = out;
    assert!(token.starts_with("2|"), "{token}");
    assert!(set_xsrf(&again).is_none(), "the cookie is kept");
    assert_ne!(again.body_str(), token, "masked afresh");
    for (m, how, status) in statuses {
        let want = if matches!(how, "form" | "X-XSRFToken" | "X-CSRFToken") {
            200
        } else {
            403
        };
        assert_eq!(status, want, "{m} with {how}");
    }
    assert!(refused.contains("_xsrf"), "{refused}");
    assert!(
        html.starts_with("<input type=\"hidden\" name=\"_xsrf\" value=\"2|"),
        "{html}"
    );
    assert_eq!(html_cookie, None);
}

const TORNADO_APP: &str = r#"
class Token(tornado.web.RequestHandler):
    def get(self):
        self.write(self.xsrf_token)
    def post(self):
        self.write("ok")
serve(tornado.web.Application([("/token", Token)], xsrf_cookies=True))
"#;

#[test]
fn tokens_interoperate_with_tornado() {
    let Some(python) = tornado_util::tornado_python() else {
        println!("SKIPPED tokens_interoperate_with_tornado: no python3 with `tornado`");
        return;
    };
    let script = format!("{}{TORNADO_APP}", tornado_util::PRELUDE);
    let peer = tornado_util::spawn_tornado(&python, "xsrf", &script);
    let tornado: SocketAddr = ([127, 0, 0, 1], peer.port).into();
    let out = run(
        move |h| app().server(h),
        move |squall| {
            let mut got = Vec::new();
            // Cookie made by Tornado: squall's token for it passes Tornado's check and
            // Tornado's token passes squall's.
            let t = request(tornado, "GET", None, "", "");
            let cookie = set_xsrf(&t).expect("tornado sets _xsrf");
            let t_token = t.body_str();
            let s = request(squall, "GET", Some(&cookie), "", "");
            assert!(set_xsrf(&s).is_none());
            let s_token = s.body_str();
            got.push((
                "tornado token → squall",
                request(squall, "POST", Some(&cookie), "", &form(&t_token)).status,
            ));
            got.push((
                "squall token → tornado",
                request(tornado, "POST", Some(&cookie), "", &form(&s_token)).status,
            ));
            // Cookie made by squall: the same both ways.
            let s = request(squall, "GET", None, "", "");
            let cookie = set_xsrf(&s).expect("squall sets _xsrf");
            let s_token = s.body_str();
            let t_token = request(tornado, "GET", Some(&cookie), "", "").body_str();
            got.push((
                "tornado token → squall",
                request(squall, "POST", Some(&cookie), "", &form(&t_token)).status,
            ));
            got.push((
                "squall token → tornado",
                request(tornado, "POST", Some(&cookie), "", &form(&s_token)).status,
            ));
            got.push((
                "header → tornado",
                request(
                    tornado,
                    "POST",
                    Some(&cookie),
                    &format!("X-XSRFToken: {s_token}\r\n"),
                    "",
                )
                .status,
            ));
            // And a token of another cookie is refused by both.
            let other = request(squall, "GET", None, "", "").body_str();
            got.push((
                "other → squall",
                request(squall, "POST", Some(&cookie), "", &form(&other)).status,
            ));
            got.push((
                "other → tornado",
                request(tornado, "POST", Some(&cookie), "", &form(&other)).status,
            ));
            got
        },
    );
    for (what, status) in out {
        let want = if what.starts_with("other") { 403 } else { 200 };
        assert_eq!(status, want, "{what}");
    }
}
