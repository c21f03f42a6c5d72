//! `tapctl watch`: redeploys the function's code on every save in the handler folder and shows
//! the function's new log lines, until stopped.
//!
//! Saves are debounced (a burst of saves is one deploy); saves made while a deploy is in flight
//! are deployed once more right after it. A deploy is UpdateFunctionCode, finished when the new
//! code is live; a folder whose zip did not change uploads nothing. The Python files are
//! compiled first: a SyntaxError is shown and nothing deployed. A change of `requirements.txt`
//! installs the dependencies and points the function at their layer version (published when
//! new), before the code.

use crate::aws::Clients;
use crate::ops::logs::{LogLine, Tail};
use crate::package::{self, Exclude};
use crate::python;
use crate::resource::{function, layer};
use crate::spec::{Code, Stack};
use anyhow::{Context, Result, bail};
use aws_sdk_lambda::types::FunctionConfiguration;
use notify::{EventKind, RecursiveMode, Watcher};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Saves closer together than this are one change: a deploy starts once the folder has been
/// quiet this long.
pub const DEBOUNCE: Duration = Duration::from_millis(150);
/// How often the function's log group is read for new lines while idle.
pub const LOG_POLL: Duration = Duration::from_secs(1);

/// What `watch` tells its user, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    Watching {
        dir: &'a Path,
    },
    /// The folder changed but its zip did not: nothing to upload.
    Unchanged,
    Deployed {
        took: Duration,
        sha256: &'a str,
    },
    /// The function runs with the dependency layer for the new `requirements.txt` (none when
    /// it was removed); `installed` is the time spent installing (none from the cache).
    LayersDeployed {
        took: Duration,
        installed: Option<Duration>,
        layer: Option<&'a str>,
    },
    /// The folder cannot be packaged (e.g. mid-save) or the deploy failed: watching goes on.
    Failed(String),
    Log(&'a LogLine),
}

/// How watching ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Stopped between deploys.
    Idle,
    /// Stopped while a deploy was in flight.
    MidDeploy,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Watches `dir` and deploys it to the function of `stack` (which must exist) until `stop`
/// completes. `stack` carries the folder's package as of the start: deployed at once when the
/// function runs other code.
pub async fn run(
    aws: &Clients,
    stack: &Stack,
    dir: &Path,
    exclude: &Exclude,
    stop: impl Future<Output = ()>,
    mut on: impl FnMut(Event<'_>),
) -> Result<Stopped> {
    let (tx, mut rx) = mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |r| {
        let _ = tx.send(r);
    })
    .context("cannot watch for file changes")?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch the handler folder {}", dir.display()))?;
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());

    let Some(current) = function::get(aws, stack).await? else {
        bail!(
            "function {} does not exist: run `{}` first",
            stack.function_name,
            stack.command("up")
        );
    };
    let configuration = current
        .configuration
        .unwrap_or_else(|| FunctionConfiguration::builder().build());
    let mut deployed = configuration.code_sha256.clone().unwrap_or_default();
    // The content key of the dependency layer the function runs with (`None`: no layer of
    // tapctl's), so the first round deploys the folder's requirements when they differ.
    let attached: Vec<&str> = configuration
        .layers()
        .iter()
        .filter_map(|l| l.arn())
        .collect();
    let versions = layer::list(aws, stack).await?;
    let mut deployed_deps = Deployed {
        key: versions
            .iter()
            .find(|v| attached.contains(&v.arn.as_str()))
            .and_then(|v| v.key.clone()),
        other_layers: attached.len()
            > usize::from(versions.iter().any(|v| attached.contains(&v.arn.as_str()))),
        unzipped: 0,
    };
    let mut tail = Tail::new(now_ms() - 1000);
    on(Event::Watching { dir });
    let mut stop = std::pin::pin!(stop);
    let mut ticks = tokio::time::interval(LOG_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When to deploy: once the folder is quiet after a save. The first round deploys the
    // folder as it is now, if the function runs other code. Saves made during a deploy wait
    // in the channel and make one more deploy after it.
    let mut due = Some(Instant::now());
    let mut first = true;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(Stopped::Idle),
            event = rx.recv() => {
                let Some(event) = event else { bail!("the file watcher stopped") };
                if relevant(&root, exclude, event) {
                    due = Some(Instant::now() + DEBOUNCE);
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                due = None;
                let deploy = deploy(
                    aws,
                    stack,
                    (dir, exclude),
                    (&mut deployed, &mut deployed_deps),
                    first,
                    &mut on,
                );
                first = false;
                tokio::select! {
                    _ = &mut stop => return Ok(Stopped::MidDeploy),
                    () = deploy => {}
                }
            }
            _ = ticks.tick() => {
                match tail.next(aws, stack, None).await {
                    Ok(lines) => lines.iter().for_each(|l| on(Event::Log(l))),
                    Err(e) => on(Event::Failed(format!("reading the function's logs: {e:#}"))),
                }
            }
        }
    }
}

/// Whether a file event may change the package: not a mere read (packaging the folder reads
/// every file), and about a file that goes into the package.
fn relevant(root: &Path, exclude: &Exclude, event: notify::Result<notify::Event>) -> bool {
    match event {
        Ok(e) if matches!(e.kind, EventKind::Access(_)) => false,
        Ok(e) => e.paths.iter().any(|p| {
            let path: PathBuf = p.canonicalize().unwrap_or_else(|_| p.clone());
            path.strip_prefix(root).map_or(true, |rel| {
                package::is_packaged(rel, exclude) || rel == Path::new(package::REQUIREMENTS_FILE)
            })
        }),
        // The watcher lost track (e.g. an overflow): look at the folder anyway.
        Err(_) => true,
    }
}

/// What the function runs with, as far as its dependencies go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deployed {
    /// The content key of its dependency layer version; `None` without one.
    key: Option<String>,
    /// It runs with layers that are not tapctl's dependency layer.
    other_layers: bool,
    /// The layer's size unzipped, once this watch built it (Lambda's 250 MB counts code and
    /// layers together).
    unzipped: u64,
}

/// Packages the folder and, when its zip differs from what the function runs, deploys it;
/// first the dependency layer, when `requirements.txt` changed.
async fn deploy(
    aws: &Clients,
    stack: &Stack,
    (dir, exclude): (&Path, &Exclude),
    (deployed, deployed_deps): (&mut String, &mut Deployed),
    first: bool,
    on: &mut impl FnMut(Event<'_>),
) {
    let package = match package::from_folder(dir, exclude) {
        Ok(p) => p,
        Err(e) => return on(Event::Failed(e.to_string())),
    };
    let runtime = &stack.settings.runtime;
    if let Err(e) = python::check_syntax(dir, &package.names(), runtime) {
        return on(Event::Failed(e.to_string()));
    }
    let platform = python::Platform::new(runtime, stack.settings.architecture.as_str());
    let mut deps = match python::find(dir, platform) {
        Ok(d) => d,
        Err(e) => return on(Event::Failed(e.to_string())),
    };
    let mut next = stack.clone();
    let want = deps.as_ref().map(|d| d.key.clone());
    let new_deps = want != deployed_deps.key || deployed_deps.other_layers;
    // Built when it changed, and once at the start to know its size (from the cache).
    if (new_deps || first)
        && let Some(d) = &mut deps
        && let Err(e) = d.build(&python::cache_root())
    {
        return on(Event::Failed(e.to_string()));
    }
    let layer_unzipped = match deps.as_ref().and_then(|d| d.layer.as_ref()) {
        Some(layer) => layer.unzipped,
        None if deps.is_some() => deployed_deps.unzipped,
        None => 0,
    };
    if let Some(e) = package::with_layer_refusal(dir, &package, layer_unzipped) {
        return on(Event::Failed(e.to_string()));
    }
    if !new_deps {
        deployed_deps.unzipped = layer_unzipped;
    }
    let installed = deps.as_ref().and_then(|d| d.installed);
    next.settings.code = Code::Folder {
        path: dir.to_path_buf(),
        package: Arc::new(package),
        exclude: exclude.clone(),
        deps: deps.map(Arc::new),
    };
    if new_deps {
        match function::deploy_layers(aws, &next).await {
            Ok(took) => {
                *deployed_deps = Deployed {
                    key: want.clone(),
                    other_layers: false,
                    unzipped: layer_unzipped,
                };
                on(Event::LayersDeployed {
                    took,
                    installed,
                    layer: want.as_ref().map(|_| next.layer_name.as_str()),
                });
            }
            Err(e) => return on(Event::Failed(crate::error::one_line_anyhow(&e))),
        }
    }
    if function::code(&next).1 == deployed.as_str() {
        // At the start that is the usual case, not news.
        if !first && !new_deps {
            on(Event::Unchanged);
        }
        return;
    }
    match function::deploy_code(aws, &next).await {
        Ok(took) => {
            *deployed = function::code(&next).1.to_string();
            on(Event::Deployed {
                took,
                sha256: deployed,
            });
        }
        Err(e) => on(Event::Failed(crate::error::one_line_anyhow(&e))),
    }
}
