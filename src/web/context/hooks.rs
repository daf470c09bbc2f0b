//! What every request of an [`Application`](crate::web::Application) shares besides its
//! routes: the options, the named routes and the application-level hooks.

use std::fmt;
use std::rc::Rc;

use http::HeaderMap;

use super::Context;
use crate::error::{Error, Result};
use crate::web::options::WebOptions;
use crate::web::outcome::HandlerResult;
use crate::web::route::Pattern;

/// The `current_user` hook: who is signed in, from the request.
pub(crate) type CurrentUser = Rc<dyn Fn(&Context) -> Option<String>>;
/// A hook that may answer the request (`prepare`).
pub(crate) type Prepare = Rc<dyn Fn(&mut Context) -> HandlerResult>;
/// The error-page renderer (Tornado's `write_error`).
pub(crate) type WriteError = Rc<dyn Fn(&mut Context, &Error) -> HandlerResult>;
/// The `on_finish` hook.
pub(crate) type OnFinish = Rc<dyn Fn(&Finished)>;

/// Shared by the application and each of its contexts. It holds no route handler, so a
/// parked context kept in a route's state does not keep that route alive.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) options: WebOptions,
    pub(crate) names: Vec<(String, Pattern)>,
    pub(crate) current_user: Option<CurrentUser>,
    pub(crate) prepare: Option<Prepare>,
    pub(crate) write_error: Option<WriteError>,
    pub(crate) on_finish: Option<OnFinish>,
    pub(crate) default_headers: HeaderMap,
    /// Some setting reads signed cookies: `cookie_secret` is required.
    pub(crate) signed_cookies: bool,
    /// Hashes for `static_url`, with `static_path`.
    pub(crate) static_urls: Option<std::sync::Arc<crate::web::static_url::StaticUrls>>,
    /// The compiled templates, made at the first render.
    #[cfg(feature = "templates")]
    pub(crate) templates: std::cell::OnceCell<crate::web::templates::Templates>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("options", &self.options)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String> {
        let (_, pattern) = self
            .names
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| Error::invalid_state(format!("no route named {name:?}")))?;
        pattern.reverse(args)
    }
}

/// A request that was answered, as the [`on_finish`](crate::web::Application::on_finish) hook
/// sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finished {
    /// The request method.
    pub method: http::Method,
    /// The request target.
    pub uri: http::Uri,
    /// The status sent.
    pub status: http::StatusCode,
    /// The client's address.
    pub remote_ip: std::net::IpAddr,
    /// From the request's arrival to the response handed to the connection.
    pub duration: std::time::Duration,
}
