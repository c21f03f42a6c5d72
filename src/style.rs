//! Terminal styling: whether colour may be used, the one-character sign of an action or a
//! planned change, and its colour. A leaf: it knows no other module.

use std::io::IsTerminal;

/// Whether colour may be used on stderr: a terminal, `NO_COLOR` unset or empty
/// (<https://no-color.org>), and not `TERM=dumb`.
pub fn color_allowed() -> bool {
    std::io::stderr().is_terminal() && !no_color() && !dumb_term()
}

pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

pub fn dumb_term() -> bool {
    std::env::var_os("TERM").is_some_and(|t| t == "dumb")
}

/// What happens to a resource, as one character: `+` created, `~` changed, `-` deleted,
/// `=` nothing, `!` left alone (not tapctl's), `x` failed or in conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Create,
    Change,
    Delete,
    Same,
    Foreign,
    Fail,
}

impl Sign {
    pub fn as_str(self) -> &'static str {
        match self {
            Sign::Create => "+",
            Sign::Change => "~",
            Sign::Delete => "-",
            Sign::Same => "=",
            Sign::Foreign => "!",
            Sign::Fail => "x",
        }
    }

    /// `text` in this sign's ANSI colour (+ green, ~ yellow, - red, x bold red, ! magenta,
    /// = dim) when `color`.
    pub fn paint(self, text: &str, color: bool) -> String {
        let code = match self {
            Sign::Create => "32",
            Sign::Change => "33",
            Sign::Delete => "31",
            Sign::Fail => "1;31",
            Sign::Foreign => "35",
            Sign::Same => "2",
        };
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The sign itself, painted.
    pub fn painted(self, color: bool) -> String {
        self.paint(self.as_str(), color)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_only_with_color() {
        assert_eq!(Sign::Create.paint("created", false), "created");
        assert_eq!(
            Sign::Create.paint("created", true),
            "\x1b[32mcreated\x1b[0m"
        );
        assert_eq!(Sign::Fail.painted(true), "\x1b[1;31mx\x1b[0m");
    }
}
