//! The links an object's event goes through, read in one round before `smoke` uploads
//! anything: the bucket's notification entry (pointing at the function), the function's
//! permission (letting S3 invoke it for this bucket and account), the function itself (Active,
//! its last update successful, not held at reserved concurrency 0), its async invoke config
//! (the on-failure destination) and the failure queue. A broken link is named with the command
//! that repairs it, within one round trip, instead of after a probe's whole deadline.
//!
//! The reads are here; [`judge`] is pure and unit-tested.

use crate::error::AwsContext;
use crate::resource::function::{self, InvokeConfig};
use crate::resource::sdk::found;
use crate::resource::{Ctx, Field, queue, trigger};
use crate::spec::Stack;
use anyhow::{Context, Result};
use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyError;
use serde::Serialize;

/// What the read round saw of the function.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionView {
    /// Lambda's `State` (`Active`, `Pending`, `Inactive`, `Failed`).
    pub state: String,
    /// Why the function (or its last update) failed, when it did.
    pub failed: Option<String>,
    /// Reserved concurrency, when set (0: every invocation is throttled).
    pub reserved_concurrency: Option<i32>,
}

/// Everything the read round saw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chain {
    /// HeadBucket did not answer 404 (another answer leaves the judgement to the links).
    pub bucket_exists: bool,
    pub trigger: trigger::Observed,
    /// `None`: the function does not exist.
    pub function: Option<FunctionView>,
    /// `None`: the function has no async invoke config.
    pub invoke: Option<InvokeConfig>,
    pub queue_exists: bool,
}

/// One broken link: which, what is wrong with it, the command that repairs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// `bucket`, `notification`, `permission`, `function`, `concurrency`, `invoke_config`,
    /// `queue`.
    pub link: &'static str,
    pub problem: String,
    pub fix: String,
}

/// Reads the whole chain at once: GetPolicy, GetBucketNotificationConfiguration, GetFunction,
/// GetFunctionConcurrency, GetFunctionEventInvokeConfig, GetQueueUrl, HeadBucket (one round
/// trip).
pub async fn read(ctx: &Ctx) -> Result<Chain> {
    let (aws, s) = (&ctx.aws, &ctx.stack);
    let head = ctx
        .aws
        .s3
        .head_bucket()
        .bucket(&s.bucket_name)
        .expected_bucket_owner(&s.target.account)
        .send();
    let (head, trig, func, concurrency, invoke, queue) = tokio::join!(
        head,
        trigger::read(ctx),
        function::get(aws, s),
        reserved_concurrency(ctx),
        function::get_invoke_config(aws, s),
        queue::url(aws, s),
    );
    let function = match func? {
        None => None,
        Some(out) => {
            let c = out
                .configuration
                .context("GetFunction returned no configuration")?;
            Some(FunctionView {
                state: c
                    .state
                    .as_ref()
                    .map(|st| st.as_str().to_string())
                    .unwrap_or_default(),
                failed: function::failure(&c),
                reserved_concurrency: concurrency?,
            })
        }
    };
    let bucket_exists = match &head {
        Err(e) => crate::resource::sdk::s3::status(e) != Some(404),
        Ok(_) => true,
    };
    Ok(Chain {
        bucket_exists,
        trigger: trig?,
        invoke: if function.is_some() { invoke? } else { None },
        function,
        queue_exists: queue?.is_some(),
    })
}

/// GetFunctionConcurrency: the function's reserved concurrency, `None` when unset (or no
/// function). GetFunction carries it too on AWS, but not when it is 0 on every emulator.
async fn reserved_concurrency(ctx: &Ctx) -> Result<Option<i32>> {
    let read = ctx
        .aws
        .lambda
        .get_function_concurrency()
        .function_name(&ctx.stack.function_name)
        .send()
        .await;
    let out = found(
        read,
        GetFunctionConcurrencyError::is_resource_not_found_exception,
    )
    .aws_context("GetFunctionConcurrency")?;
    Ok(out.and_then(|o| o.reserved_concurrent_executions))
}

/// The broken links, in the order an event goes through them (empty: the chain is whole).
pub fn judge(s: &Stack, c: &Chain) -> Vec<Broken> {
    let up = s.command("up");
    let mut broken = Vec::new();
    if !c.bucket_exists {
        // Nothing can start an event: the rest is moot until `up`.
        broken.push(Broken {
            link: "bucket",
            problem: format!(
                "bucket {} does not exist: is the stack deployed?",
                s.bucket_name
            ),
            fix: up,
        });
        return broken;
    }
    for d in trigger::diff(s, &c.trigger) {
        if c.function.is_none() && d.field == Field::Permission {
            // The permission lives on the function: its absence says it all.
            continue;
        }
        let (link, problem) = match d.field {
            Field::Notification if c.trigger.notification.is_none() => (
                "notification",
                format!(
                    "bucket {} has no notification entry for function {}: no object \
                     created there invokes it",
                    s.bucket_name, s.function_name
                ),
            ),
            Field::Notification => (
                "notification",
                format!(
                    "the notification entry of bucket {} is {} (want {})",
                    s.bucket_name, d.have, d.want
                ),
            ),
            Field::Permission if c.trigger.permission.is_none() => (
                "permission",
                format!(
                    "function {} has no permission letting S3 invoke it for bucket {}: S3's \
                     invocations are refused",
                    s.function_name, s.bucket_name
                ),
            ),
            _ => (
                "permission",
                format!(
                    "the permission of function {} does not allow bucket {} of account {} \
                     (SourceArn/SourceAccount): have {}",
                    s.function_name, s.bucket_name, s.target.account, d.have
                ),
            ),
        };
        broken.push(Broken {
            link,
            problem,
            fix: up.clone(),
        });
    }
    let Some(f) = &c.function else {
        broken.push(Broken {
            link: "function",
            problem: format!("function {} does not exist", s.function_name),
            fix: up,
        });
        return broken;
    };
    if let Some(why) = &f.failed {
        broken.push(Broken {
            link: "function",
            problem: format!("function {} cannot run: {why}", s.function_name),
            fix: up.clone(),
        });
    }
    if f.reserved_concurrency == Some(0) {
        broken.push(Broken {
            link: "concurrency",
            problem: format!(
                "function {} has reserved concurrency 0: every invocation is throttled",
                s.function_name
            ),
            fix: format!(
                "aws lambda delete-function-concurrency --function-name {} --region {}",
                s.function_name, s.target.region
            ),
        });
    }
    let destination = c.invoke.as_ref().and_then(|i| i.on_failure.as_deref());
    if destination != Some(s.queue_arn.as_str()) {
        broken.push(Broken {
            link: "invoke_config",
            problem: format!(
                "function {} sends failed events to {} (want queue {}): they would be lost",
                s.function_name,
                destination.unwrap_or("nowhere"),
                s.queue_name
            ),
            fix: up.clone(),
        });
    }
    if !c.queue_exists {
        broken.push(Broken {
            link: "queue",
            problem: format!(
                "failure queue {} does not exist: failed events would be lost",
                s.queue_name
            ),
            fix: up,
        });
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{NOTIFICATION_EVENT, test_stack};

    fn whole(s: &Stack) -> Chain {
        Chain {
            bucket_exists: true,
            trigger: trigger::Observed {
                permission: Some(trigger::wanted_statement(s)),
                notification: Some((s.function_arn.clone(), vec![NOTIFICATION_EVENT.into()])),
            },
            function: Some(FunctionView {
                state: "Active".into(),
                ..FunctionView::default()
            }),
            invoke: Some(InvokeConfig {
                retry_attempts: Some(2),
                max_event_age_s: Some(21600),
                on_failure: Some(s.queue_arn.clone()),
            }),
            queue_exists: true,
        }
    }

    fn links(b: &[Broken]) -> Vec<&str> {
        b.iter().map(|b| b.link).collect()
    }

    #[test]
    fn a_whole_chain_has_no_broken_link() {
        let s = test_stack();
        assert_eq!(judge(&s, &whole(&s)), vec![]);
    }

    #[test]
    fn each_broken_link_is_named_with_its_repair() {
        let mut s = test_stack();
        s.flags = vec!["--profile".into(), "ops".into()];
        let up = s.command("up");
        let mut c = whole(&s);
        c.trigger.notification = None;
        let b = judge(&s, &c);
        assert_eq!(links(&b), ["notification"]);
        assert!(b[0].problem.contains("no notification entry"), "{b:?}");
        assert_eq!(b[0].fix, up);
        assert!(up.ends_with("--profile ops"), "{up}");

        let mut c = whole(&s);
        c.trigger.permission = None;
        assert_eq!(links(&judge(&s, &c)), ["permission"]);
        // A permission for another bucket is as broken as none.
        c.trigger.permission = Some(serde_json::json!({"Sid": "x", "Effect": "Allow"}));
        let b = judge(&s, &c);
        assert_eq!(links(&b), ["permission"]);
        assert!(b[0].problem.contains("SourceArn"), "{b:?}");

        let mut c = whole(&s);
        c.function.as_mut().unwrap().failed = Some("Failed: bad zip".into());
        let b = judge(&s, &c);
        assert_eq!(links(&b), ["function"]);
        assert!(b[0].problem.contains("Failed: bad zip"), "{b:?}");

        let mut c = whole(&s);
        c.function.as_mut().unwrap().reserved_concurrency = Some(0);
        let b = judge(&s, &c);
        assert_eq!(links(&b), ["concurrency"]);
        assert!(b[0].fix.contains("delete-function-concurrency"), "{b:?}");
        c.function.as_mut().unwrap().reserved_concurrency = Some(5);
        assert!(judge(&s, &c).is_empty());

        let mut c = whole(&s);
        c.invoke = None;
        c.queue_exists = false;
        assert_eq!(links(&judge(&s, &c)), ["invoke_config", "queue"]);

        let mut c = whole(&s);
        c.function = None;
        c.trigger = trigger::Observed::default();
        assert_eq!(links(&judge(&s, &c)), ["notification", "function"]);
        c.bucket_exists = false;
        let b = judge(&s, &c);
        assert_eq!(links(&b), ["bucket"]);
        assert!(b[0].problem.contains("is the stack deployed?"), "{b:?}");
    }
}
