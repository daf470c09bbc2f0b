//! [`HttpResponse`]: a complete response (Tornado's `HTTPResponse`).

pub use crate::error::fetch::{HttpResponse, TimeInfo, TimeoutStage};
use crate::error::{Error, Result};

impl HttpResponse {
    /// `Ok(self)` for statuses below 400, else [`Error::HttpResponse`] with the status,
    /// the reason and the whole response (Tornado's `HTTPClientError.response`).
    ///
    /// # Errors
    /// [`Error::HttpResponse`] for 4xx and 5xx.
    ///
    /// ```
    /// # use squall::Error;
    /// # fn demo(r: squall::http::client::HttpResponse) -> squall::Result<()> {
    /// match r.error_for_status() {
    ///     Ok(r) => println!("{} bytes", r.body.len()),
    ///     Err(Error::HttpResponse { status: 404, response, .. }) => {
    ///         println!("not found: {}", response.text())
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn error_for_status(self) -> Result<Self> {
        if self.status.as_u16() >= 400 {
            let reason = if self.reason.is_empty() {
                self.status.canonical_reason().unwrap_or("").to_string()
            } else {
                self.reason.clone()
            };
            return Err(self.into_error(reason));
        }
        Ok(self)
    }

    /// This response as an [`Error::HttpResponse`] with `message`.
    pub(crate) fn into_error(self, message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
        Error::HttpResponse {
            status: self.status.as_u16(),
            message: message.into(),
            response: Box::new(self),
        }
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
