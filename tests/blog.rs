//! The blog demo (`examples/blog/`) as a user runs it: the built binary on a temporary
//! SQLite file, driven over real sockets — accounts, sessions, composing and editing,
//! the archive and the Atom feed, and every refusal (XSRF, readers, 404, duplicate
//! email, wrong password, empty title, a database that cannot be opened).

#![cfg(feature = "json")]

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::http::{Reader, Response};
use support::process::{example_binary, serve_example, ExampleServer};

/// The running blog binary; killed when dropped.
type Blog = ExampleServer;

/// A fresh database path (removed first) for test `name`.
fn temp_db(name: &str) -> PathBuf {
    let p = support::http::temp_path(&format!("blog-{name}.db"));
    let _ = std::fs::remove_file(&p);
    p
}

fn start(db: &Path) -> Blog {
    let args = [
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--cookie-secret",
        "test secret",
        "--db",
    ];
    let args = args.iter().map(OsStr::new).chain([db.as_os_str()]);
    serve_example("blog", args, Duration::from_secs(120))
}

/// A browser of sorts: keeps cookies, and sends the `_xsrf` token with every form.
struct Client {
    addr: SocketAddr,
    cookies: BTreeMap<String, String>,
}

impl Client {
    fn new(blog: &Blog) -> Self {
        Client {
            addr: blog.addr,
            cookies: BTreeMap::new(),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: &str) -> Response {
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut r = Reader::connect(self.addr);
        r.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: blog.test\r\n");
        if !cookies.is_empty() {
            req += &format!("Cookie: {}\r\n", cookies.join("; "));
        }
        if method == "POST" {
            req += &format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        r.stream
            .write_all(format!("{req}\r\n{body}").as_bytes())
            .unwrap();
        let resp = r.response();
        for c in resp.headers_named("set-cookie") {
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || attrs.contains("1970") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        resp
    }

    fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, "")
    }

    /// A form POST with this client's XSRF token (fetching a page first if it has none).
    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        if !self.cookies.contains_key("_xsrf") {
            assert_eq!(self.get("/auth/login").status, 200);
        }
        let token = self.cookies["_xsrf"].clone();
        self.post_raw(path, &[fields, &[("_xsrf", token.as_str())]].concat())
    }

    fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request("POST", path, &body)
    }
}

fn location(r: &Response) -> &str {
    assert_eq!(r.status, 302, "{}", r.body_str());
    r.header("location").expect("Location")
}

/// A signed-up client: the first one is the author.
fn sign_up(blog: &Blog, email: &str) -> Client {
    let mut c = Client::new(blog);
    let r = c.post(
        "/auth/create",
        &[("email", email), ("name", "Ann"), ("password", "pw1")],
    );
    assert_eq!(location(&r), "/");
    assert!(c.cookies.contains_key("blog_user"));
    c
}

fn compose(c: &mut Client, fields: &[(&str, &str)]) -> String {
    let r = c.post("/compose", fields);
    location(&r).to_string()
}

/// Parses `xml` with Python's minidom; the number of `<entry>` elements.
fn atom_entries(xml: &[u8]) -> usize {
    let mut py = Command::new("python3")
        .args(["-c", "import sys, xml.dom.minidom as m; d = m.parseString(sys.stdin.buffer.read()); print(len(d.getElementsByTagName('entry')))"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    py.stdin.take().unwrap().write_all(xml).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "feed is not well-formed XML: {}",
        String::from_utf8_lossy(xml)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn author_composes_edits_and_readers_see_it_in_archive_and_feed() {
    let db = temp_db("flow");
    let blog = start(&db);
    assert!(db.exists(), "database created on start");
    let mut ann = sign_up(&blog, "ann@example.com");
    let form = ann.get("/compose");
    assert_eq!(form.status, 200);
    assert!(form.body_str().contains("name=\"_xsrf\""));

    let url = compose(
        &mut ann,
        &[("title", "Hello, World!"), ("markdown", "Some *text*.")],
    );
    assert_eq!(url, "/entry/hello-world");
    assert_eq!(
        compose(&mut ann, &[("title", "Hello world"), ("markdown", "two")]),
        "/entry/hello-world-2"
    );
    assert_eq!(
        compose(&mut ann, &[("title", "Hello world"), ("markdown", "three")]),
        "/entry/hello-world-3"
    );

    let guest = &mut Client::new(&blog);
    let page = guest.get("/entry/hello-world");
    assert_eq!(page.status, 200);
    assert!(
        page.body_str().contains("<em>text</em>"),
        "{}",
        page.body_str()
    );
    assert!(page.body_str().contains("Hello, World!"));
    assert!(
        !page.body_str().contains("Edit this post"),
        "guests get no edit link"
    );

    // Edit: the form holds the entry; saving keeps its slug.
    let edit = ann.get("/compose?id=1");
    assert!(
        edit.body_str().contains("value=\"Hello, World!\""),
        "{}",
        edit.body_str()
    );
    assert!(edit.body_str().contains("Some *text*."));
    assert!(edit.body_str().contains("name=\"id\" value=\"1\""));
    let url = compose(
        &mut ann,
        &[
            ("id", "1"),
            ("title", "Hello again"),
            ("markdown", "**New** text"),
        ],
    );
    assert_eq!(url, "/entry/hello-world");
    let page = guest.get("/entry/hello-world").body_str();
    assert!(
        page.contains("Hello again") && page.contains("<strong>New</strong> text"),
        "{page}"
    );

    let archive = guest.get("/archive").body_str();
    for slug in ["hello-world", "hello-world-2", "hello-world-3"] {
        assert!(
            archive.contains(&format!("href=\"/entry/{slug}\"")),
            "{archive}"
        );
    }
    let home = guest.get("/").body_str();
    assert!(home.contains("Hello again") && home.contains("three"));

    let feed = guest.get("/feed");
    assert_eq!(feed.status, 200);
    assert!(feed
        .header("content-type")
        .unwrap()
        .starts_with("application/atom+xml"));
    assert_eq!(atom_entries(&feed.body), 3);
    assert!(feed
        .body_str()
        .contains("http://blog.test/entry/hello-world-2"));

    // The same database after a restart.
    drop(blog);
    let blog = start(&db);
    let page = Client::new(&blog).get("/entry/hello-world");
    assert_eq!(page.status, 200);
    assert!(page.body_str().contains("Hello again"));
    let _ = std::fs::remove_file(&db);
}

#[test]
fn bad_input_gets_a_clear_answer_and_loses_nothing() {
    let db = temp_db("bad-input");
    let blog = start(&db);
    let mut ann = sign_up(&blog, "ann@example.com");

    // Empty title: the form again, the text kept.
    let r = ann.post(
        "/compose",
        &[("title", "  "), ("markdown", "my long draft")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("Please give the entry a title."));
    assert!(
        r.body_str().contains(">my long draft</textarea>"),
        "{}",
        r.body_str()
    );

    // Duplicate email: the form again with a message, the fields kept.
    let mut bob = Client::new(&blog);
    let r = bob.post(
        "/auth/create",
        &[
            ("email", "ann@example.com"),
            ("name", "Bob"),
            ("password", "x"),
        ],
    );
    assert_eq!(r.status, 409);
    assert!(r.body_str().contains("exists already"), "{}", r.body_str());
    assert!(r.body_str().contains("value=\"Bob\""));
    assert!(!bob.cookies.contains_key("blog_user"));
    let r = bob.post(
        "/auth/create",
        &[
            ("email", "bob@example.com"),
            ("name", ""),
            ("password", "x"),
        ],
    );
    assert_eq!(r.status, 400);

    // Wrong password, unknown email: the form with a message; the right one signs in.
    let r = bob.post(
        "/auth/login",
        &[("email", "ann@example.com"), ("password", "nope")],
    );
    assert_eq!(r.status, 403);
    assert!(r.body_str().contains("Wrong email or password."));
    assert!(r.body_str().contains("value=\"ann@example.com\""));
    let r = bob.post(
        "/auth/login",
        &[("email", "who@example.com"), ("password", "pw1")],
    );
    assert_eq!(r.status, 403);
    let r = bob.post(
        "/auth/login",
        &[
            ("email", "ann@example.com"),
            ("password", "pw1"),
            ("next", "/archive"),
        ],
    );
    assert_eq!(location(&r), "/archive");
    let r = bob.post(
        "/auth/login",
        &[
            ("email", "ann@example.com"),
            ("password", "pw1"),
            ("next", "//evil.example/"),
        ],
    );
    assert_eq!(r.status, 400, "no open redirect");

    // Missing entries.
    assert_eq!(ann.get("/entry/nothing-here").status, 404);
    assert_eq!(ann.get("/compose?id=999").status, 404);
    assert_eq!(
        ann.post(
            "/compose",
            &[("id", "999"), ("title", "t"), ("markdown", "m")]
        )
        .status,
        404
    );
    assert_eq!(ann.get("/compose?id=abc").status, 400);

    // Signed out: composing asks to sign in first.
    location(&ann.get("/auth/logout"));
    assert!(!ann.cookies.contains_key("blog_user"));
    assert_eq!(
        location(&ann.get("/compose")),
        "/auth/login?next=%2Fcompose"
    );
    assert_eq!(
        ann.post("/compose", &[("title", "t"), ("markdown", "m")])
            .status,
        403
    );
    let _ = std::fs::remove_file(&db);
}

#[test]
fn later_accounts_are_readers_who_cannot_compose() {
    let db = temp_db("reader");
    let blog = start(&db);
    let mut ann = sign_up(&blog, "ann@example.com");
    compose(&mut ann, &[("title", "First"), ("markdown", "post")]);
    let mut rita = sign_up(&blog, "rita@example.com");
    assert_eq!(rita.get("/compose").status, 403);
    assert_eq!(
        rita.post("/compose", &[("title", "Mine"), ("markdown", "no")])
            .status,
        403
    );
    assert_eq!(
        rita.post(
            "/compose",
            &[("id", "1"), ("title", "Defaced"), ("markdown", "no")]
        )
        .status,
        403
    );
    let page = rita.get("/entry/first").body_str();
    assert!(page.contains("First") && !page.contains("Defaced"));
    assert!(
        !page.contains("New post") && !page.contains("Edit this post"),
        "{page}"
    );
    assert!(page.contains("Sign out"));
    let _ = std::fs::remove_file(&db);
}

#[test]
fn a_post_without_the_xsrf_token_is_refused_and_changes_nothing() {
    let db = temp_db("xsrf");
    let blog = start(&db);
    let mut mallory = Client::new(&blog);
    let fields = [("email", "m@example.com"), ("name", "M"), ("password", "x")];
    assert_eq!(mallory.post_raw("/auth/create", &fields).status, 403);
    // With the cookie but a token that is not its own.
    assert_eq!(mallory.get("/auth/create").status, 200);
    let forged = [
        &fields[..],
        &[("_xsrf", "2|00000000|00000000000000000000000000000000|1")],
    ]
    .concat();
    assert_eq!(mallory.post_raw("/auth/create", &forged).status, 403);
    assert!(!mallory.cookies.contains_key("blog_user"));
    // Nothing was created: the next account is still the first, the author.
    let mut ann = sign_up(&blog, "ann@example.com");
    assert_eq!(ann.get("/compose").status, 200);
    let mut token_less = ann.cookies.clone();
    token_less.remove("_xsrf");
    ann.cookies = token_less;
    assert_eq!(
        ann.post_raw("/compose", &[("title", "t"), ("markdown", "m")])
            .status,
        403
    );
    let _ = std::fs::remove_file(&db);
}

#[test]
fn markup_in_titles_and_bodies_shows_as_text() {
    let db = temp_db("markup");
    let blog = start(&db);
    let mut ann = sign_up(&blog, "ann@example.com");
    let url = compose(&mut ann, &[
        ("title", "<script>alert('t')</script> & co"),
        ("markdown", "hi <script>alert('b')</script> <img src=x onerror=alert(1)> [link](javascript:alert(2))"),
    ]);
    let page = Client::new(&blog).get(&url).body_str();
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        !page.contains("onerror") && !page.contains("javascript:"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;alert("), "{page}");
    let feed = Client::new(&blog).get("/feed");
    assert_eq!(atom_entries(&feed.body), 1);
    assert!(!feed.body_str().contains("<script>"));
    let _ = std::fs::remove_file(&db);
}

#[test]
fn a_database_that_cannot_be_opened_is_one_line_and_exit_1() {
    let out = Command::new(example_binary("blog"))
        .args(["--port", "0", "--db", "/nonexistent-squall-dir/sub/blog.db"])
        .output()
        .expect("run blog");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("cookie-secret"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("cannot open database /nonexistent-squall-dir/sub/blog.db"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
