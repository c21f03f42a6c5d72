//! What a step is waiting for, told to whoever runs it (the progress display): "every wait
//! says what it waits for". The engine runs each step inside [`scope`] with a sink; the waits
//! of [`super::retry`] call [`waiting`], which reaches the sink of the step they run in, or
//! nothing outside a step. A task-local, so no resource passes it around.

use std::future::Future;
use std::sync::Arc;

/// Where a step's waits go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

tokio::task_local! {
    static SINK: Sink;
}

/// Runs `f` with `sink` told of every wait inside it.
pub async fn scope<F: Future>(sink: Sink, f: F) -> F::Output {
    SINK.scope(sink, f).await
}

/// Says what the current step now waits for (no-op outside a step).
pub fn waiting(what: &str) {
    let _ = SINK.try_with(|sink| sink(what));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn waits_reach_the_sink_of_their_step_only() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink: Sink = {
            let seen = seen.clone();
            Arc::new(move |w: &str| seen.lock().unwrap().push(w.to_string()))
        };
        waiting("outside: nobody hears it");
        scope(sink, async { waiting("for the table to be ACTIVE") }).await;
        assert_eq!(*seen.lock().unwrap(), ["for the table to be ACTIVE"]);
    }
}
