//! What a handler returns, and the status of the error page an error becomes.

use http::StatusCode;

use crate::error::{Error, Result};

/// What a handler returns: `Err(Error::http(404, "no such user"))` becomes an error page
/// with that status; any other error becomes a 500 page that does not show it.
pub type HandlerResult = Result<()>;

/// The status an error page gets for `e`.
pub(crate) fn error_status(e: &Error) -> StatusCode {
    match e {
        Error::Http { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
