//! Authentication: the application's `current_user` hook and the [`authenticated`]
//! guard (Tornado's `get_current_user` and `@authenticated`).

use http::Method;

use super::context::Context;
use super::outcome::HandlerResult;
use crate::error::Error;

/// Wraps `handler` so that it runs only for a signed-in user
/// ([`Context::current_user`] is `Some`), as Tornado's `@authenticated`: otherwise a
/// `GET` or `HEAD` is redirected to [`WebOptions::login_url`](super::WebOptions::login_url)
/// with `?next=<the path and query, URL-encoded>`, and any other method (or any method
/// when no login URL is set) gets 403.
///
/// ```
/// use squall::web::{authenticated, Application, Context, WebOptions};
/// let app = Application::with_options(
///         WebOptions::default().cookie_secret("change me").login_url("/login"))
///     .current_user(|ctx: &Context| {
///         ctx.signed_cookie("user").and_then(|v| String::from_utf8(v).ok())
///     })
///     .get("/compose", authenticated(|ctx: &mut Context| {
///         let user = ctx.current_user().unwrap_or_default().to_string();
///         ctx.send_text(format!("hello {user}"));
///         Ok(())
///     }));
/// # let _ = app;
/// ```
pub fn authenticated(
    handler: impl Fn(&mut Context) -> HandlerResult + 'static,
) -> impl Fn(&mut Context) -> HandlerResult + 'static {
    move |ctx: &mut Context| {
        if ctx.current_user().is_some() {
            return handler(ctx);
        }
        let read = matches!(ctx.request().method, Method::GET | Method::HEAD);
        match ctx.login_url().map(str::to_string) {
            Some(login) if read => {
                let next = ctx
                    .request()
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str());
                let sep = if login.contains('?') { '&' } else { '?' };
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                ctx.redirect(&format!("{login}{sep}{query}"));
                Ok(())
            }
            _ => Err(Error::http(403, "Forbidden")),
        }
    }
}
