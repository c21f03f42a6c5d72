//! The data plane: reading and acting on a running pipeline. `resource/` creates, reads,
//! repairs and deletes the seven resources; this module reads their contents and runs the
//! function: it returns data and renders nothing (`report` does).
//!
//! - [`items`]: the log table's items (by object through the index, or the latest);
//! - [`logs`]: the function's log lines, a window or a tail;
//! - [`invoke`]: one synchronous invocation of the deployed function;
//! - [`messages`]: the failure queue's messages;
//! - [`health`]: the pipeline's metrics over a window, and whether the function can run;
//! - [`chain`], [`diagnose`]: the links of the pipeline read in one round, and why a probe
//!   got no item (pure);
//! - [`redrive`], [`smoke`], [`backfill`], [`watch`]: the operations built on them;
//! - [`inspect`]: `--since`, times as the handler writes them, the synthetic S3 event (pure).

pub mod backfill;
pub mod chain;
pub mod diagnose;
pub mod health;
pub mod inspect;
pub mod invoke;
pub mod items;
pub mod logs;
pub mod messages;
pub mod redrive;
pub mod smoke;
pub mod watch;
