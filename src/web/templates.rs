//! HTML templates with `minijinja` (the `templates` feature): loaded from
//! [`WebOptions::template_path`](super::WebOptions::template_path), compiled once and
//! kept, HTML-escaped by default for `.html`, `.htm` and `.xml` files, with template
//! inheritance (`{% extends "base.html" %}`) and these globals:
//!
//! - `static_url(path)`: the content-hashed URL of a static file;
//! - `reverse_url(name, args...)`: the path of a named route;
//! - per request: `current_user`, `xsrf_token`, `xsrf_form_html` (with
//!   [`WebOptions::xsrf_cookies`](super::WebOptions::xsrf_cookies)) and `request_path`.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::{context, Environment, Value};

use super::escape::escape_html;
use super::route::Pattern;
use super::static_url::StaticUrls;
use crate::error::{Error, Result};

/// The compiled templates of an application.
#[derive(Debug)]
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub(crate) fn new(
        dir: PathBuf,
        static_urls: Option<Arc<StaticUrls>>,
        names: Vec<(String, Pattern)>,
    ) -> Self {
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(dir));
        let urls = static_urls.clone();
        // URLs come out escaped by squall's rule (which leaves `/` alone) and marked
        // safe, so they read as written.
        env.add_function("static_url", move |path: String| -> Value {
            let url = match &urls {
                Some(u) => u.url(&path),
                None => path,
            };
            Value::from_safe_string(escape_html(&url))
        });
        let names = Arc::new(names);
        env.add_function(
            "reverse_url",
            move |name: String, args: minijinja::value::Rest<String>| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (_, p) = names.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("no route named {name:?}"),
                    )
                })?;
                p.reverse(&args)
                    .map(|url| Value::from_safe_string(escape_html(&url)))
                    .map_err(|e| {
                        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                    })
            },
        );
        Templates { env }
    }

    /// Renders template `name` with `user` values first, then `extra` (the per-request
    /// globals, which the user's values override).
    pub(crate) fn render(&self, name: &str, user: Value, extra: Value) -> Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| Error::invalid_state(format!("template {name}: {e:#}")))?;
        tmpl.render(context! { ..user, ..extra })
            .map_err(|e| Error::invalid_state(format!("template {name}: {e:#}")))
    }
}
