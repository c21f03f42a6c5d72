//! Waiting and retrying, always within a budget and never with a fixed sleep: [`Backoff`],
//! [`retry_on`] (an error a predicate names as transient is tried again), [`poll`] and
//! [`wait_until`] (a condition over "the object, or nothing yet"), and [`Transient`], the
//! shape of the per-service tables in [`super::sdk`] that name what AWS answers while it settles.

use anyhow::{Result, bail};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Capped exponential backoff for readiness polls and propagation retries: by default starts
/// at 100 ms, doubles, never more than 500 ms between tries. Short, because every wait here
/// sits on the critical path of a deploy.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
    deadline: Instant,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_millis(500);

    pub fn new(budget: Duration) -> Self {
        Self::between(Self::FIRST, Self::CAP, budget)
    }

    /// Starts at `first`, doubles up to `cap`, within `budget`.
    pub fn between(first: Duration, cap: Duration, budget: Duration) -> Self {
        Backoff {
            next: first,
            cap,
            deadline: Instant::now() + budget,
        }
    }

    /// Sleeps before the next try; false once the budget is spent.
    /// [`Backoff::wait`], telling the step's display once what answer it waits out.
    async fn wait_told<E: Answer>(&mut self, e: &E, told: &mut bool) -> bool {
        if !std::mem::replace(told, true) {
            super::waits::waiting(&format!("waiting out {}", e.answer()));
        }
        self.wait().await
    }

    pub async fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        let pause = self.next.min(self.deadline - now);
        tokio::time::sleep(pause).await;
        self.next = (self.next * 2).min(self.cap);
        true
    }
}

/// Runs `op` until it succeeds or fails with an error `retryable` rejects; a retryable error
/// is retried with [`Backoff`] within `budget`, then returned.
pub async fn retry_on<T, E, F, Fut>(
    budget: Duration,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    E: Answer,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(budget);
    let mut told = false;
    loop {
        match op().await {
            Err(e) if retryable(&e) && backoff.wait_told(&e, &mut told).await => {
                tracing::debug!("retrying after a propagation error");
            }
            other => return other,
        }
    }
}

/// An answer a retry waits out, in a few words (`Code: message`) for the step's display.
pub trait Answer {
    fn answer(&self) -> String;
}

fn code_and_message<E: ProvideErrorMetadata>(e: &E) -> String {
    let message = e
        .message()
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "));
    match (e.code(), message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m,
        (None, None) => "a transient answer".into(),
    }
}

impl<E: ProvideErrorMetadata, R> Answer for aws_smithy_runtime_api::client::result::SdkError<E, R> {
    fn answer(&self) -> String {
        code_and_message(self)
    }
}

impl Answer for aws_smithy_types::error::metadata::ErrorMetadata {
    fn answer(&self) -> String {
        code_and_message(self)
    }
}

impl Answer for &str {
    fn answer(&self) -> String {
        self.to_string()
    }
}

impl Answer for anyhow::Error {
    fn answer(&self) -> String {
        crate::error::one_line_anyhow(self)
    }
}

/// Probes until the probe finds something, pausing with `backoff`; `None` once its budget is
/// spent. A probe's error ends the wait at once.
pub async fn poll<T, F, Fut>(mut backoff: Backoff, mut probe: F) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    loop {
        if let Some(found) = probe().await? {
            return Ok(Some(found));
        }
        if !backoff.wait().await {
            return Ok(None);
        }
    }
}

/// Probes until the thing is gone: `in_a_row` answers "absent" one after the other (during
/// an asynchronous deletion a single answer is not trusted: SQS may answer "no such queue"
/// and then the queue again). `probe` says whether the thing is still there. False once the
/// budget is spent.
pub async fn poll_gone<F, Fut>(backoff: Backoff, in_a_row: u32, mut present: F) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    use std::sync::atomic::{AtomicU32, Ordering};
    let absent = AtomicU32::new(0);
    let gone = poll(backoff, || {
        let looked = present();
        let absent = &absent;
        async move {
            let n = if looked.await? {
                0
            } else {
                absent.load(Ordering::Relaxed) + 1
            };
            absent.store(n, Ordering::Relaxed);
            Ok((n >= in_a_row).then_some(()))
        }
    });
    Ok(gone.await?.is_some())
}

/// Polls `ready` until it says true, with [`Backoff`], within `budget`; the step's display
/// says "waiting for WHAT" once the first look says not yet.
pub async fn wait_until<F, Fut>(what: &str, budget: Duration, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let mut first = true;
    let probe = || {
        let ready = ready();
        let tell = std::mem::take(&mut first);
        async move {
            let now = ready.await?;
            if !now && tell {
                super::waits::waiting(&format!("waiting for {what}"));
            }
            Ok(now.then_some(()))
        }
    };
    match poll(Backoff::new(budget), probe).await? {
        Some(()) => Ok(()),
        None => bail!("gave up after {}s waiting for {what}", budget.as_secs()),
    }
}

/// An answer AWS gives while it settles (eventual consistency, propagation): an error code
/// and, when the code alone says too little, a fragment of the message.
#[derive(Debug, Clone, Copy)]
pub struct Transient {
    pub code: &'static str,
    pub message: Option<&'static str>,
}

impl Transient {
    pub const fn code(code: &'static str) -> Self {
        Transient {
            code,
            message: None,
        }
    }

    pub const fn with_message(code: &'static str, message: &'static str) -> Self {
        Transient {
            code,
            message: Some(message),
        }
    }

    pub fn matches<E: ProvideErrorMetadata + ?Sized>(&self, e: &E) -> bool {
        e.code() == Some(self.code)
            && self
                .message
                .is_none_or(|m| e.message().is_some_and(|have| have.contains(m)))
    }
}

/// Whether `e` is one of `table`'s transient answers.
pub fn is_transient<E: ProvideErrorMetadata + ?Sized>(table: &[Transient], e: &E) -> bool {
    table.iter().any(|t| t.matches(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::error::metadata::ErrorMetadata;

    #[tokio::test(start_paused = true)]
    async fn gone_needs_absent_answers_in_a_row() {
        // present, absent, present (a stale answer), then absent three times: gone at the 6th.
        let answers = [true, false, true, false, false, false, true];
        let mut i = 0;
        let gone = poll_gone(Backoff::new(Duration::from_secs(60)), 3, || {
            let a = answers[i];
            i += 1;
            async move { Ok(a) }
        })
        .await
        .unwrap();
        assert!(gone);
        assert_eq!(i, 6);
        // Never three in a row within the budget: not gone.
        let mut flip = false;
        let gone = poll_gone(Backoff::new(Duration::from_secs(5)), 3, || {
            flip = !flip;
            let a = flip;
            async move { Ok(a) }
        })
        .await
        .unwrap();
        assert!(!gone);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_on_stops_at_a_final_error_and_at_the_budget() {
        let mut calls = 0;
        let r: Result<(), &str> = retry_on(
            Duration::from_secs(10),
            |e: &&str| *e == "again",
            || {
                calls += 1;
                let out = if calls < 3 {
                    Err("again")
                } else {
                    Err("final")
                };
                async move { out }
            },
        )
        .await;
        assert_eq!(r, Err("final"));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: Result<(), &str> = retry_on(
            Duration::from_secs(2),
            |_| true,
            || {
                calls += 1;
                async { Err("again") }
            },
        )
        .await;
        assert_eq!(r, Err("again"));
        // 100 + 200 + 400 + 500 + 500 + 300 ms: six pauses fill the 2 s budget.
        assert_eq!(calls, 7);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_reports_what_it_waited_for() {
        let err = wait_until("the table", Duration::from_secs(1), || async { Ok(false) })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the table"));
        let mut n = 0;
        wait_until("x", Duration::from_secs(1), || {
            n += 1;
            let ready = n == 2;
            async move { Ok(ready) }
        })
        .await
        .unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn poll_gives_nothing_once_the_budget_is_spent() {
        let mut n = 0;
        let backoff = Backoff::between(
            Duration::from_millis(200),
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
        let found: Option<()> = poll(backoff, || {
            n += 1;
            async { Ok(None) }
        })
        .await
        .unwrap();
        assert_eq!(found, None);
        // 200 + 400 + 800 + 600 ms.
        assert_eq!(n, 5);
    }

    #[test]
    fn transient_answers_match_by_code_and_message() {
        let e = ErrorMetadata::builder()
            .code("InvalidParameterValueException")
            .message("The role defined for the function cannot be assumed by Lambda.")
            .build();
        let assumed =
            Transient::with_message("InvalidParameterValueException", "cannot be assumed");
        assert!(assumed.matches(&e));
        assert!(!Transient::with_message("InvalidParameterValueException", "KMS").matches(&e));
        assert!(Transient::code("InvalidParameterValueException").matches(&e));
        assert!(is_transient(&[Transient::code("X"), assumed], &e));
        assert!(!is_transient(&[], &e));
    }
}
