//! Blocking work for a handler ([`Context::run_in_executor`]): a database query, a
//! password hash, run on the executor's threads while the loop serves other requests,
//! then the answer from the loop.

use super::app::handler_failed;
use super::context::Context;
use super::outcome::HandlerResult;
use crate::error::Error;

/// What a blocking job may fail with: any error that can cross threads.
type JobError = Box<dyn std::error::Error + Send + Sync>;

impl Context {
    /// Runs `job` on the executor ([`Handle::run_in_executor`](crate::Handle::run_in_executor))
    /// and then, on the loop, `done` with this request's context and the job's value: a
    /// handler's `await IOLoop.run_in_executor(...)` in Tornado. The context is detached
    /// for the wait; return what this call returns from the handler.
    ///
    /// Failures become error pages as a handler's do: an [`Error`] from `job` or `done`
    /// with its status ([`Error::Http`]) or a 500 page, logged; any other error from
    /// `job` (a database driver's, say) is logged with the request and answered with a
    /// 500 page that does not show it; a panic in `job` is a 500 page too.
    ///
    /// ```
    /// use squall::web::{Application, Context};
    ///
    /// fn count_rows(table: &str) -> Result<u64, std::io::Error> {
    ///     Ok(table.len() as u64) // a blocking query in a real application
    /// }
    ///
    /// let app = Application::new().get("/count/{table}", |ctx: &mut Context| {
    ///     let table = ctx.param("table").unwrap_or("").to_string();
    ///     ctx.run_in_executor(move || count_rows(&table), |ctx, n| {
    ///         ctx.send_text(format!("{n} rows"));
    ///         Ok(())
    ///     })
    /// });
    /// # let _ = app;
    /// ```
    ///
    /// # Errors
    /// None itself: the outcome is sent from the loop.
    pub fn run_in_executor<T, E>(
        &mut self,
        job: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
        done: impl FnOnce(&mut Context, T) -> HandlerResult + 'static,
    ) -> HandlerResult
    where
        T: Send + 'static,
        E: Into<JobError> + 'static,
    {
        let mut ctx = self.detach();
        let f = self
            .clock
            .run_in_executor(move || job().map_err(|e| -> JobError { e.into() }));
        f.add_done_callback(move |f| {
            let result = match f.take_result() {
                Some(Ok(Ok(value))) => done(&mut ctx, value),
                Some(Ok(Err(e))) => Err(match e.downcast::<Error>() {
                    Ok(e) => *e,
                    Err(other) => {
                        log::error!(
                            "{} {}: blocking job failed: {other}",
                            ctx.request().method,
                            ctx.request().uri
                        );
                        Error::http(500, "Internal Server Error")
                    }
                }),
                // The job panicked, or the reactor is gone: logged, a 500 page.
                Some(Err(e)) => Err(e),
                None => Err(Error::invalid_state("executor result taken twice")),
            };
            if let Err(e) = result {
                handler_failed(&mut ctx, e);
            }
        });
        Ok(())
    }
}
