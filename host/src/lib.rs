//! Switchyard: an integration host that runs each integration as a
//! sandboxed WebAssembly component.
//!
//! The binary (`main.rs`) parses the command line; everything else lives
//! here so tests and benchmarks can reach it.

pub mod capabilities;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod inbox;
pub mod registry;
pub mod reload;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod services;
pub mod store;
pub mod telemetry;
