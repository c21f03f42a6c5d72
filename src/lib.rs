//! tapctl as a library: the binary in main.rs is a thin shell over these modules, and the
//! integration tests use `aws` to check what tapctl built.

pub mod aws;
pub mod calls;
pub mod cli;
pub mod commands;
pub mod deployer;
pub mod engine;
pub mod error;
pub mod invocation;
pub mod list;
#[cfg(test)]
mod module_graph;
pub mod ops;
pub mod out;
pub mod package;
pub mod plan;
pub mod progress;
pub mod python;
pub mod report;
pub mod resource;
pub mod settings;
pub mod spec;
pub mod style;
