//! Progress on stderr while `up` / `down` run: live lines (indicatif) on a terminal, one plain
//! line per event otherwise (CI logs), nothing with `--quiet` or `--output json`.

use crate::engine::{Action, Outcome, Progress};
use crate::resource::Kind;
use crate::spec::Stack;
use crate::style::{dumb_term, no_color};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Quiet,
    Plain,
    Live { color: bool },
}

/// The style for this run: live only when stderr is a terminal that can redraw.
pub fn style(quiet: bool, json: bool) -> Style {
    if quiet || json {
        Style::Quiet
    } else if std::io::stderr().is_terminal() && !dumb_term() {
        Style::Live { color: !no_color() }
    } else {
        Style::Plain
    }
}

pub struct Display {
    style: Style,
    stack: Stack,
    start: Instant,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<Kind, ProgressBar>>,
    in_flight: InFlight,
}

/// The steps running now, each with what it is doing (`creating`, ...): what a Ctrl-C
/// interrupts.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Mutex<BTreeMap<Kind, String>>>);

impl InFlight {
    /// "creating function NAME, updating table NAME", or None when no step runs.
    pub fn describe(&self, s: &Stack) -> Option<String> {
        let steps = self.0.lock().ok()?;
        let text: Vec<String> = steps
            .iter()
            .map(|(k, doing)| {
                // "creating (waiting for X)" reads "creating function NAME (waiting for X)".
                let (verb, wait) = doing.split_once(" (").unwrap_or((doing, ""));
                let wait = if wait.is_empty() {
                    String::new()
                } else {
                    format!(" ({wait}")
                };
                format!("{verb} {} {}{wait}", k.label(), k.name(s))
            })
            .collect();
        (!text.is_empty()).then(|| text.join(", "))
    }
}

impl Display {
    pub fn new(style: Style, stack: Stack, start: Instant) -> Self {
        let multi = match style {
            Style::Live { .. } => Some(MultiProgress::with_draw_target(
                ProgressDrawTarget::stderr_with_hz(10),
            )),
            _ => None,
        };
        Display {
            style,
            stack,
            start,
            multi,
            bars: Mutex::new(HashMap::new()),
            in_flight: InFlight::default(),
        }
    }

    /// The steps running now (shared: readable after the display moved on).
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    pub fn is_live(&self) -> bool {
        self.multi.is_some()
    }

    fn color(&self) -> bool {
        matches!(self.style, Style::Live { color: true })
    }

    fn spinner_style(&self) -> ProgressStyle {
        let template = if self.color() {
            "{spinner:.cyan} {prefix} {msg:.cyan} {secs:.dim}"
        } else {
            "{spinner} {prefix} {msg} {secs}"
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}s", s.elapsed().as_secs_f64());
            })
    }

    /// A spinner for a phase with no per-resource lines (reading the stack); cleared by
    /// [`Display::done`].
    pub fn phase(&self, what: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(self.spinner_style());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }

    pub fn done(&self, phase: Option<ProgressBar>) {
        if let Some(bar) = phase {
            bar.finish_and_clear();
        }
    }

    fn what(&self, kind: Kind) -> String {
        format!("{:<10} {:<48}", kind.label(), kind.name(&self.stack))
    }

    fn plain(&self, line: std::fmt::Arguments<'_>) {
        let _ = writeln!(
            std::io::stderr(),
            "[{:>5.1}s] {line}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

impl Progress for Display {
    fn started(&self, kind: Kind, doing: &str) {
        if let Ok(mut steps) = self.in_flight.0.lock() {
            steps.insert(kind, doing.to_string());
        }
        match self.style {
            Style::Quiet => {}
            Style::Plain => self.plain(format_args!(
                "{doing} {} {}",
                kind.label(),
                kind.name(&self.stack)
            )),
            Style::Live { .. } => {
                let Some(multi) = &self.multi else { return };
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(self.spinner_style());
                bar.set_prefix(self.what(kind));
                bar.set_message(format!("{doing}…"));
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(kind, bar);
                }
            }
        }
    }

    fn waiting(&self, kind: Kind, what: &str) {
        let doing = match self.in_flight.0.lock() {
            Ok(mut steps) => {
                let doing = steps
                    .get(&kind)
                    .map(|d| d.split(" (").next().unwrap_or(d).to_string())
                    .unwrap_or_default();
                steps.insert(kind, format!("{doing} ({what})"));
                doing
            }
            Err(_) => return,
        };
        match self.style {
            Style::Quiet => {}
            Style::Plain => self.plain(format_args!(
                "{} {}: {what}",
                kind.label(),
                kind.name(&self.stack)
            )),
            Style::Live { .. } => {
                if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(&kind).cloned()) {
                    bar.set_message(format!("{doing}: {what}…"));
                }
            }
        }
    }

    fn finished(&self, o: &Outcome) {
        if let Ok(mut steps) = self.in_flight.0.lock() {
            steps.remove(&o.kind);
        }
        let text = o.action.to_string();
        match self.style {
            Style::Quiet => {}
            Style::Plain => {
                if !matches!(o.action, Action::Unchanged | Action::AlreadyGone) {
                    self.plain(format_args!(
                        "{} {}: {text} ({:.1}s)",
                        o.kind.label(),
                        o.kind.name(&self.stack),
                        o.elapsed.as_secs_f64()
                    ));
                }
            }
            Style::Live { color } => {
                let Some(multi) = &self.multi else { return };
                let bar = self
                    .bars
                    .lock()
                    .ok()
                    .and_then(|mut b| b.remove(&o.kind))
                    .unwrap_or_else(|| multi.add(ProgressBar::new_spinner()));
                let sign = o.action.sign();
                let time = if o.elapsed.is_zero() {
                    String::new()
                } else {
                    format!(" ({:.1}s)", o.elapsed.as_secs_f64())
                };
                bar.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(format!(
                    "{} {} {}{time}",
                    sign.painted(color),
                    self.what(o.kind),
                    sign.paint(&text, color)
                ));
            }
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.abandon();
            }
        }
    }
}
