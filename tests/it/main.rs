//! tapctl's integration tests: one binary (the AWS SDK is linked once), one module per area.
//! Each test starts its own local AWS (`common::LocalAws`) and uses a unique suffix.

mod chaos;
mod common;

mod bad_input;
mod consistency;
mod crash;
mod data;
mod deps;
mod drift;
mod failed_events;
mod faults;
mod health;
mod inspect;
mod lifecycle;
mod networks;
mod operator;
mod ownership;
mod regions;
mod safety;
mod security;
mod settings;
mod smoke;
