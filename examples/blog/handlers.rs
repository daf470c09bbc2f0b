//! The routes. Handlers that need the database run the query on the executor
//! (`Context::run_in_executor`) and answer when it is done.

use serde_json::{json, Value};
use squall::web::{authenticated, Application, Context, HandlerResult, StatusCode, WebOptions};
use squall::Error;

use crate::db::{self, Conn};
use crate::text;

/// The session (`"<id> author"` / `"<id> reader"`) of the signed-in user.
fn user(ctx: &Context) -> Option<(i64, bool)> {
    let (id, role) = ctx.current_user()?.split_once(' ')?;
    Some((id.parse().ok()?, role == "author"))
}

fn is_author(ctx: &Context) -> bool {
    user(ctx).is_some_and(|(_, author)| author)
}

/// Renders `name` with `values` and `author` (may the user compose?), with `status`.
fn page(ctx: &mut Context, status: u16, name: &str, mut values: Value) -> HandlerResult {
    values["author"] = is_author(ctx).into();
    ctx.set_status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    ctx.render(name, values)
}

fn arg(ctx: &Context, name: &str) -> String {
    ctx.argument_or(name, "").trim().to_string()
}

/// Redirects to the `next` argument: a local path only (no open redirect).
fn redirect_to_next(ctx: &mut Context) -> HandlerResult {
    let next = ctx.argument_or("next", "/").to_string();
    if !next.starts_with('/') || next.starts_with("//") || next.starts_with("/\\") {
        return Err(Error::http(400, "next must be a local path"));
    }
    ctx.redirect(&next);
    Ok(())
}

fn home(ctx: &mut Context, c: Conn) -> HandlerResult {
    ctx.run_in_executor(
        move || db::latest(&c, 5),
        |ctx, entries| page(ctx, 200, "home.html", json!({ "entries": entries })),
    )
}

fn archive(ctx: &mut Context, c: Conn) -> HandlerResult {
    let job = move || db::entries(&c, "ORDER BY published DESC, e.id DESC", []);
    ctx.run_in_executor(job, |ctx, entries| {
        page(ctx, 200, "archive.html", json!({ "entries": entries }))
    })
}

fn feed(ctx: &mut Context, c: Conn) -> HandlerResult {
    let job = move || db::DbResult::Ok((db::latest(&c, 10)?, db::last_updated(&c)?));
    ctx.run_in_executor(job, |ctx, (entries, updated)| {
        let host = ctx.header("host").unwrap_or("localhost").to_string();
        let values = json!({ "entries": entries, "updated": updated, "host": host });
        let xml = ctx.render_string("feed.xml", values)?;
        ctx.set_header("content-type", "application/atom+xml; charset=utf-8")
            .send(xml);
        Ok(())
    })
}

fn entry(ctx: &mut Context, c: Conn) -> HandlerResult {
    let slug = ctx.param("slug").unwrap_or("").to_string();
    let job = move || db::entries(&c, "WHERE slug = ?1", [slug]);
    ctx.run_in_executor(job, |ctx, mut found| match found.pop() {
        Some(entry) => page(ctx, 200, "entry.html", json!({ "entry": entry })),
        None => Err(Error::http(404, "no such entry")),
    })
}

fn entry_id(ctx: &Context) -> Result<Option<i64>, Error> {
    match arg(ctx, "id").as_str() {
        "" => Ok(None),
        id => id.parse().map(Some).map_err(|_| Error::http(400, "bad id")),
    }
}

fn compose_form(ctx: &mut Context, c: Conn) -> HandlerResult {
    if !is_author(ctx) {
        return Err(Error::http(403, "only authors may compose"));
    }
    let Some(id) = entry_id(ctx)? else {
        return page(ctx, 200, "compose.html", json!({ "entry": {} }));
    };
    let job = move || db::entries(&c, "WHERE e.id = ?1", [id]);
    ctx.run_in_executor(job, |ctx, mut found| match found.pop() {
        Some(e) => page(ctx, 200, "compose.html", json!({ "entry": e })),
        None => Err(Error::http(404, "no such entry")),
    })
}

fn compose(ctx: &mut Context, c: Conn) -> HandlerResult {
    let Some((me, true)) = user(ctx) else {
        return Err(Error::http(403, "only authors may compose"));
    };
    let (id, title) = (entry_id(ctx)?, arg(ctx, "title"));
    let md = ctx.argument_or("markdown", "").to_string();
    if title.is_empty() {
        let entry = json!({ "id": id, "title": title, "markdown": md });
        let form = json!({ "entry": entry, "error": "Please give the entry a title." });
        return page(ctx, 400, "compose.html", form);
    }
    let job = move || {
        let html = text::markdown(&md); // off the loop: a long entry takes a while
        match id {
            Some(id) => db::update(&c, id, &title, &md, &html),
            None => db::insert(&c, me, &title, &md, &html).map(Some),
        }
    };
    ctx.run_in_executor(job, |ctx, slug| {
        let slug = slug.ok_or(Error::http(404, "no such entry"))?;
        ctx.redirect(&format!("/entry/{slug}"));
        Ok(())
    })
}

/// A sign-up or sign-in form, remembering where to go next.
fn form(ctx: &mut Context, name: &str) -> HandlerResult {
    let next = ctx.argument_or("next", "/").to_string();
    page(ctx, 200, name, json!({ "next": next }))
}

/// Signs the account in and goes on to `next`; without one, the form again (`status`).
fn sign_in(
    ctx: &mut Context,
    session: Option<String>,
    status: u16,
    name: &str,
    form: Value,
) -> HandlerResult {
    match session {
        Some(session) => {
            ctx.set_signed_cookie("blog_user", session.as_bytes())?;
            redirect_to_next(ctx)
        }
        None => page(ctx, status, name, form),
    }
}

fn create(ctx: &mut Context, c: Conn) -> HandlerResult {
    let (email, name) = (arg(ctx, "email"), arg(ctx, "name"));
    let password = ctx.argument_or("password", "").to_string();
    let mut form = json!({ "email": email, "name": name, "next": ctx.argument_or("next", "/") });
    if email.is_empty() || name.is_empty() || password.is_empty() {
        form["error"] = "Please fill in email, name and password.".into();
        return page(ctx, 400, "create.html", form);
    }
    form["error"] = "An account with this email exists already: sign in instead.".into();
    let job = move || db::create_account(&c, &email, &name, &password);
    ctx.run_in_executor(job, |ctx, s| sign_in(ctx, s, 409, "create.html", form))
}

fn login(ctx: &mut Context, c: Conn) -> HandlerResult {
    let email = arg(ctx, "email");
    let password = ctx.argument_or("password", "").to_string();
    let form = json!({ "email": email, "next": ctx.argument_or("next", "/"), "error": "Wrong email or password." });
    let job = move || db::login(&c, &email, &password);
    ctx.run_in_executor(job, |ctx, s| sign_in(ctx, s, 403, "login.html", form))
}

fn logout(ctx: &mut Context, _: Conn) -> HandlerResult {
    ctx.clear_cookie("blog_user")?;
    redirect_to_next(ctx)
}

/// The blog: templates and static files from `dir`, sessions signed with `secret`.
pub fn app(db: &Conn, dir: &str, secret: &str) -> Application {
    let options = WebOptions::default()
        .cookie_secret(secret)
        .xsrf_cookies(true)
        .login_url("/auth/login")
        .template_path(format!("{dir}/templates"))
        .static_path(format!("{dir}/static"));
    let h = |f: fn(&mut Context, Conn) -> HandlerResult| {
        let db = db.clone();
        move |ctx: &mut Context| f(ctx, db.clone())
    };
    Application::with_options(options)
        .current_user_cookie("blog_user")
        .get("/", h(home))
        .get("/archive", h(archive))
        .get("/feed", h(feed))
        .get("/entry/{slug}", h(entry))
        .get("/compose", authenticated(h(compose_form)))
        .post("/compose", authenticated(h(compose)))
        .get("/auth/create", |ctx: &mut Context| form(ctx, "create.html"))
        .post("/auth/create", h(create))
        .get("/auth/login", |ctx: &mut Context| form(ctx, "login.html"))
        .post("/auth/login", h(login))
        .get("/auth/logout", h(logout))
}
